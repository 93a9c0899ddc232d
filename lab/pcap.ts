// Captures frames with tcpdump inside a network namespace and reads the pcap file back (classic libpcap format,
// either byte order), so tests can decode what really crossed the wire.
import { readFileSync } from 'node:fs';
import type { Ledger } from './ledger.ts';
import { spawnTracked } from './process.ts';

export interface CapturedFrame {
  /** Seconds since the epoch, with microseconds. */
  readonly time: number;
  readonly data: Uint8Array;
}

export function readPcap(path: string): CapturedFrame[] {
  const buf = readFileSync(path);
  if (buf.length < 24) return [];
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4;
  if (!le && buf.readUInt32BE(0) !== 0xa1b2c3d4) throw new Error(`${path}: not a pcap file`);
  const u32 = (off: number) => (le ? buf.readUInt32LE(off) : buf.readUInt32BE(off));
  const frames: CapturedFrame[] = [];
  for (let off = 24; off + 16 <= buf.length; ) {
    const len = u32(off + 8);
    frames.push({ time: u32(off) + u32(off + 4) / 1e6, data: new Uint8Array(buf.subarray(off + 16, off + 16 + len)) });
    off += 16 + len;
  }
  return frames;
}

export interface Capture {
  /** Stops tcpdump (flushing its file) and returns the frames. */
  stop(): Promise<CapturedFrame[]>;
}

/** Starts tcpdump on `ifname` in `netns`, writing `filter`-matching frames to `file`; resolves once it listens. */
export async function startCapture(
  ledger: Ledger,
  netns: string,
  ifname: string,
  filter: string,
  file: string,
): Promise<Capture> {
  const proc = spawnTracked(
    ledger,
    `tcpdump-${netns}`,
    'ip',
    ['netns', 'exec', netns, 'tcpdump', '--immediate-mode', '-i', ifname, '-U', '-n', '-w', file, filter],
    {
      logFile: `${file}.log`,
    },
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('tcpdump did not start')), 10_000);
    proc.child.stderr?.on('data', (d: Buffer) => {
      if (d.toString().includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return {
    async stop() {
      proc.child.kill('SIGINT');
      await proc.exited;
      return readPcap(file);
    },
  };
}
