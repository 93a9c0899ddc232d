// Typed facade over the addon's L2 calls (native/src/arp.c): a raw packet socket that sends Ethernet frames, one
// that receives an interface's ARP frames (duplicate-address probes), and the non-persistent TAP link VIP routes
// point at. The only module that touches these descriptors; each object owns one descriptor and closes it once.
import { KubeLbError } from '../shared/errors.ts';
import { loadAddon } from './load.ts';

/** What native/src/arp.c registers. Arguments are primitives and Uint8Arrays only. */
interface NativeL2 {
  l2PacketOpen(): number;
  l2PacketSend(fd: number, ifindex: number, etherType: number, frame: Uint8Array): number;
  l2ArpListen(ifindex: number): number;
  l2PacketRecv(fd: number, buffer: Uint8Array): number;
  l2TapOpen(name: string): number;
  l2Close(fd: number): void;
}

/** A failed L2 syscall: `code` L2_SYSCALL, `errno` the errno name ("EPERM"), `op` what was attempted. */
export class L2SyscallError extends KubeLbError {
  readonly errno: string;
  readonly op: string;
  constructor(op: string, cause: unknown) {
    const errno =
      typeof (cause as { code?: unknown })?.code === 'string' ? (cause as { code: string }).code : 'EUNKNOWN';
    super('L2_SYSCALL', `${op}: ${(cause as Error)?.message ?? String(cause)}`, {
      cause,
      // Out of memory or buffer space and interrupted calls may succeed later; permissions and bad names will not.
      transient: ['ENOBUFS', 'ENOMEM', 'EAGAIN', 'EINTR', 'ENETDOWN'].includes(errno),
    });
    this.errno = errno;
    this.op = op;
  }
}

function native(): NativeL2 {
  return loadAddon() as NativeL2;
}

function call<T>(op: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new L2SyscallError(op, err);
  }
}

/** A send-only AF_PACKET socket: writes whole Ethernet frames to a chosen interface. */
export class PacketSocket {
  #fd: number | undefined;

  private constructor(fd: number) {
    this.#fd = fd;
  }

  static open(): PacketSocket {
    return new PacketSocket(call('open packet socket', () => native().l2PacketOpen()));
  }

  send(ifindex: number, etherType: number, frame: Uint8Array): void {
    const fd = this.#fd;
    if (fd === undefined) throw new L2SyscallError(`send on ifindex ${ifindex}`, new Error('socket closed'));
    call(`send frame on ifindex ${ifindex}`, () => native().l2PacketSend(fd, ifindex, etherType, frame));
  }

  close(): void {
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd !== undefined) call('close packet socket', () => native().l2Close(fd));
  }
}

/**
 * A non-blocking AF_PACKET socket that receives the ARP frames of one interface (the duplicate-address probe's
 * ears). `next()` never waits: it returns the next queued frame or undefined.
 */
export class ArpListener {
  #fd: number | undefined;
  readonly #buffer = new Uint8Array(1514);
  readonly ifindex: number;

  private constructor(ifindex: number, fd: number) {
    this.ifindex = ifindex;
    this.#fd = fd;
  }

  static open(ifindex: number): ArpListener {
    return new ArpListener(
      ifindex,
      call(`listen for ARP on ifindex ${ifindex}`, () => native().l2ArpListen(ifindex)),
    );
  }

  next(): Uint8Array | undefined {
    const fd = this.#fd;
    if (fd === undefined) return undefined;
    const n = call(`receive ARP on ifindex ${this.ifindex}`, () => native().l2PacketRecv(fd, this.#buffer));
    return n < 0 ? undefined : this.#buffer.slice(0, n);
  }

  close(): void {
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd !== undefined) call(`close ARP listener on ifindex ${this.ifindex}`, () => native().l2Close(fd));
  }
}

/**
 * A TAP link that lives exactly as long as this object (or the process): routes through it disappear with it.
 * Creating it fails with EBUSY when another process already holds a TAP of that name.
 */
export class TapLink {
  readonly name: string;
  #fd: number | undefined;

  private constructor(name: string, fd: number) {
    this.name = name;
    this.#fd = fd;
  }

  static create(name: string): TapLink {
    return new TapLink(
      name,
      call(`create TAP link ${name}`, () => native().l2TapOpen(name)),
    );
  }

  close(): void {
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd !== undefined) call(`close TAP link ${this.name}`, () => native().l2Close(fd));
  }
}
