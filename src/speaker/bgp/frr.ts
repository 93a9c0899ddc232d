// The speaker's hands on FRR (BGP mode): a thin I/O shell. It applies a whole FRR configuration through
// frr-reload.py, which compares it with the running one and sends FRR only the difference (a session whose
// configuration did not change is never reset), reads BGP and BFD state through vtysh (parsed in
// src/core/bgp/frr-state.ts), and holds the alive FIFO that deploy/frr/frr-guard.sh watches: when the last speaker
// process holding it is gone, however it died, the guard removes FRR's BGP configuration, so no route outlives the
// speaker.
import { execFile } from 'node:child_process';
import { closeSync, constants, existsSync, fstatSync, mkdirSync, open, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify, stripVTControlCharacters } from 'node:util';
import { type BfdPeerState, type NeighborState, parseBfdPeers, parseNeighbors } from '../../core/bgp/frr-state.ts';
import { instancePreamble } from '../../core/bgp/frr-diff.ts';
import { KubeLbError, type ErrorCode } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';

export type { BfdPeerState, NeighborState } from '../../core/bgp/frr-state.ts';

const execFileAsync = promisify(execFile);
const openAsync = promisify(open);

/** A command against FRR that failed: names the command and keeps what FRR wrote. */
export class FrrCommandError extends KubeLbError {
  readonly command: string;
  readonly stderr: string;
  readonly stdout: string;

  constructor(
    code: ErrorCode,
    command: string,
    detail: { stderr: string; stdout: string; reason: string },
    cause: unknown,
  ) {
    // frr-reload.py colours its errors for a terminal.
    const said = stripVTControlCharacters(detail.stderr.trim() || detail.stdout.trim());
    super(code, `${command}: ${detail.reason}${said ? `: ${said.slice(-4000)}` : ''}`, {
      cause,
      // vtysh not answering can pass; a configuration frr-reload.py refuses will be refused again.
      transient: code === 'BGP_FRR_COMMAND' || detail.reason.startsWith('no answer'),
    });
    this.command = command;
    this.stderr = detail.stderr;
    this.stdout = detail.stdout;
  }
}

export interface FrrOptions {
  /** The directory of FRR's vty sockets (the speaker's `--frr-vty-socket`). */
  readonly vtySocketDir: string;
  /** Where vtysh is. */
  readonly binDir?: string;
  readonly reloadScript?: string;
  /** The speaker's own directory: frr.conf, vtysh.conf and frr-reload.py's temporary files. */
  readonly workDir: string;
  readonly logger: Logger;
  /** How long one vtysh or frr-reload.py run may take. */
  readonly timeoutMs?: number;
}

export class Frr {
  readonly #vtySocketDir: string;
  readonly #binDir: string;
  readonly #reloadScript: string;
  readonly #workDir: string;
  readonly #logger: Logger;
  readonly #timeoutMs: number;
  /** One frr-reload.py at a time: two would compute their differences against the same running configuration. */
  #applying: Promise<void> = Promise.resolve();
  #aliveFd: number | undefined;

  constructor(options: FrrOptions) {
    this.#vtySocketDir = options.vtySocketDir;
    this.#binDir = options.binDir ?? '/usr/bin';
    this.#reloadScript = options.reloadScript ?? '/usr/lib/frr/frr-reload.py';
    this.#workDir = options.workDir;
    this.#logger = options.logger;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** The file apply() writes: frr-reload.py writes the running configuration back to nothing else. */
  get configFile(): string {
    return join(this.#workDir, 'frr.conf');
  }

  /**
   * Makes `configText` FRR's whole configuration, changing only what differs from the running one. Throws a
   * FrrCommandError (BGP_FRR_RELOAD) with FRR's output when frr-reload.py fails.
   */
  apply(configText: string): Promise<void> {
    const run = this.#applying.then(() => this.#apply(configText));
    this.#applying = run.catch(() => undefined);
    return run;
  }

  async #apply(configText: string): Promise<void> {
    mkdirSync(this.#workDir, { recursive: true });
    // vtysh (run by frr-reload.py with --config_dir) reads vtysh.conf here; the integrated configuration is what
    // frr-reload.py requires.
    const vtyshConf = join(this.#workDir, 'vtysh.conf');
    if (!existsSync(vtyshConf)) writeFileSync(vtyshConf, 'service integrated-vtysh-config\n');
    const file = this.configFile;
    writeFileSync(`${file}.tmp`, configText.endsWith('\n') ? configText : `${configText}\n`);
    renameSync(`${file}.tmp`, file);
    // The file is confdir/frr.conf itself, so frr-reload.py does not `write` the running configuration anywhere.
    const args = [
      '--reload',
      '--stdout',
      '--vty_socket',
      this.#vtySocketDir,
      '--bindir',
      this.#binDir,
      '--confdir',
      this.#workDir,
      '--rundir',
      this.#workDir,
      file,
    ];
    const started = performance.now();
    const preamble = instancePreamble(await this.vtysh('show running-config'), configText);
    if (preamble) await this.vtysh(...preamble);
    const { stdout, stderr } = await this.#run('BGP_FRR_RELOAD', this.#reloadScript, args);
    this.#logger.debug(
      { ms: Math.round(performance.now() - started), output: `${stdout}${stderr}`.slice(-2000) },
      'FRR configuration applied',
    );
  }

  /** Every BGP neighbor of the default instance ([] when BGP is not configured). */
  async neighbors(): Promise<NeighborState[]> {
    return parseNeighbors(await this.vtysh('show bgp neighbors json'));
  }

  /** Every BFD session. */
  async bfdPeers(): Promise<BfdPeerState[]> {
    return parseBfdPeers(await this.vtysh('show bfd peers json'));
  }

  /**
   * Applies `commands` (configuration mode, from core/bgp/frr-diff.ts) in one vtysh call, serialized with apply(),
   * and records `configText` as the configuration they lead to. vtysh exits non-zero when a command fails.
   */
  configure(commands: readonly string[], configText: string): Promise<void> {
    const run = this.#applying.then(async () => {
      await this.vtysh(...commands);
      mkdirSync(this.#workDir, { recursive: true });
      writeFileSync(this.configFile, configText.endsWith('\n') ? configText : `${configText}\n`);
    });
    this.#applying = run.catch(() => undefined);
    return run;
  }

  /** Runs vtysh commands (each one a `-c`) against FRR's sockets; returns what vtysh printed. */
  async vtysh(...commands: string[]): Promise<string> {
    const args = [
      '--vty_socket',
      this.#vtySocketDir,
      '--config_dir',
      this.#workDir,
      ...commands.flatMap((c) => ['-c', c]),
    ];
    return (await this.#run('BGP_FRR_COMMAND', join(this.#binDir, 'vtysh'), args)).stdout;
  }

  async #run(code: ErrorCode, cmd: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
    const command = `${cmd} ${args.join(' ')}`;
    try {
      return await execFileAsync(cmd, args, { timeout: this.#timeoutMs, maxBuffer: 64 << 20, killSignal: 'SIGKILL' });
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; code?: unknown; killed?: boolean; message: string };
      const reason = e.killed
        ? `no answer within ${this.#timeoutMs} ms`
        : typeof e.code === 'number'
          ? `exit status ${e.code}`
          : e.message;
      throw new FrrCommandError(code, command, { stderr: e.stderr ?? '', stdout: e.stdout ?? '', reason }, err);
    }
  }

  /**
   * Opens the guard's FIFO (read-write and non-blocking: it never waits for a reader, and nothing is ever written)
   * and keeps it open for the rest of this process's life; the kernel closes it when the process dies, SIGKILL
   * included, and that is the guard's signal. Waits for the guard to create the FIFO (retrying every `retryMs`, up
   * to `timeoutMs`); throws BGP_ALIVE_FIFO when the path is not a FIFO or cannot be opened.
   */
  async holdAlive(fifoPath: string, options: { timeoutMs?: number; retryMs?: number } = {}): Promise<void> {
    if (this.#aliveFd !== undefined) return;
    const timeoutMs = options.timeoutMs ?? 120_000;
    const retryMs = options.retryMs ?? 200;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      let fd: number;
      try {
        fd = await openAsync(fifoPath, constants.O_RDWR | constants.O_NONBLOCK);
      } catch (err) {
        const errno = (err as NodeJS.ErrnoException).code;
        if (errno === 'ENOENT' && performance.now() < deadline) {
          await sleep(retryMs);
          continue;
        }
        throw new KubeLbError('BGP_ALIVE_FIFO', `open ${fifoPath}: ${errno ?? String(err)}`, { cause: err });
      }
      if (!fstatSync(fd).isFIFO()) {
        closeSync(fd);
        throw new KubeLbError('BGP_ALIVE_FIFO', `${fifoPath} is not a FIFO (frr-guard.sh creates it with mkfifo)`);
      }
      // Never closed: the fd is the speaker's proof of life until the process ends.
      this.#aliveFd = fd;
      this.#logger.info({ fifo: fifoPath }, 'holding the BGP alive FIFO');
      return;
    }
  }
}
