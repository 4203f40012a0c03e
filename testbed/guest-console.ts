/**
 * The host side of the test guest's agent (see guest-scripts.ts for the protocol):
 * a unix socket connection to the guest's serial console, commands sent one at a
 * time with a sequence number and a timeout, replies cut out between markers.
 */
import net from 'node:net';

export interface CommandReply {
  /** Lines the command printed. */
  lines: string[];
  /** The command's exit status in the guest (0: success). */
  status: number;
}

/** /proc/meminfo of the guest, in bytes (fields without a unit, such as HugePages_Total, as is). */
export type GuestMeminfo = Record<string, number>;

/** Lines longer than this are cut: the console is not trusted to stay sane. */
const MAX_LINE_BYTES = 64 * 1024;
/** Lines kept for one reply, at most. */
const MAX_REPLY_LINES = 10_000;

export class GuestCommandError extends Error {
  constructor(
    readonly command: string,
    readonly reply: CommandReply,
  ) {
    super(`guest command "${command}" exited ${reply.status}: ${reply.lines.join(' | ').slice(0, 500)}`);
    this.name = 'GuestCommandError';
  }
}

interface Pending {
  seq: number;
  command: string;
  lines: string[] | undefined;
  resolve(reply: CommandReply): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** Parses /proc/meminfo text: "MemTotal:  503000 kB" becomes MemTotal = 503000 * 1024. */
export function parseMeminfo(lines: readonly string[]): GuestMeminfo {
  const info: GuestMeminfo = {};
  for (const line of lines) {
    const match = /^([A-Za-z0-9_()]+):\s+(\d+)(?:\s+kB)?$/.exec(line.trim());
    if (!match) continue;
    info[match[1]!] = Number(match[2]) * (line.trim().endsWith('kB') ? 1024 : 1);
  }
  return info;
}

export class GuestConsole {
  private socket: net.Socket | undefined;
  private buffer = '';
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private pending: Pending | undefined;
  private closed = false;

  constructor(
    /** The serial console's unix socket (QEMU listens). */
    readonly socketPath: string,
  ) {}

  /** Connects (retrying while QEMU has not created the socket yet) and waits until the agent answers a ping. */
  async connect(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.socket) {
      try {
        this.socket = await this.open();
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`cannot connect to the guest console ${this.socketPath}: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    // Pings sent while the guest still boots are lost or echoed; keep asking until one is answered.
    for (;;) {
      try {
        await this.send('ping', 1000);
        return;
      } catch (error) {
        if (this.closed) throw error;
        if (Date.now() > deadline) throw new Error(`the guest agent did not answer within ${timeoutMs / 1000} s: ${(error as Error).message}`);
      }
    }
  }

  private open(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.socketPath);
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => this.onData(chunk));
        socket.on('error', () => this.fail(new Error('guest console connection failed')));
        socket.on('close', () => this.fail(new Error('guest console closed')));
        resolve(socket);
      });
      socket.once('error', reject);
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      this.onLine(this.buffer.slice(0, newline).replace(/\r$/, ''));
      this.buffer = this.buffer.slice(newline + 1);
    }
    if (this.buffer.length > MAX_LINE_BYTES) this.buffer = this.buffer.slice(-MAX_LINE_BYTES);
  }

  private onLine(line: string): void {
    const pending = this.pending;
    if (!pending) return;
    const marker = /^@@km (\d+) (begin|end)(?: (-?\d+))?$/.exec(line);
    if (marker && Number(marker[1]) === pending.seq) {
      if (marker[2] === 'begin') {
        pending.lines = [];
      } else if (pending.lines) {
        this.pending = undefined;
        clearTimeout(pending.timer);
        pending.resolve({ lines: pending.lines, status: Number(marker[3] ?? 0) });
      }
      return;
    }
    if (pending.lines && pending.lines.length < MAX_REPLY_LINES) pending.lines.push(line);
  }

  private fail(error: Error): void {
    this.closed = true;
    const pending = this.pending;
    this.pending = undefined;
    if (pending) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
  }

  /**
   * Sends one command line and resolves with its reply, whatever its status.
   * Commands run one at a time, in call order.
   */
  send(command: string, timeoutMs = 120_000): Promise<CommandReply> {
    if (/[\r\n]/.test(command)) return Promise.reject(new Error('a guest command must be a single line'));
    const result = this.queue.then(() => this.sendNow(command, timeoutMs));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private sendNow(command: string, timeoutMs: number): Promise<CommandReply> {
    const socket = this.socket;
    if (!socket || this.closed) return Promise.reject(new Error('guest console is not connected'));
    return new Promise<CommandReply>((resolve, reject) => {
      const seq = ++this.seq;
      const timer = setTimeout(() => {
        if (this.pending?.seq === seq) this.pending = undefined;
        reject(new Error(`guest command "${command}" got no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending = { seq, command, lines: undefined, resolve, reject, timer };
      socket.write(`${seq} ${command}\n`);
    });
  }

  /** Sends a command and throws GuestCommandError unless it succeeded. */
  async check(command: string, timeoutMs?: number): Promise<string[]> {
    const reply = await this.send(command, timeoutMs);
    if (reply.status !== 0) throw new GuestCommandError(command, reply);
    return reply.lines;
  }

  /** The guest's /proc/meminfo, in bytes. */
  async meminfo(): Promise<GuestMeminfo> {
    return parseMeminfo(await this.check('meminfo', 30_000));
  }

  /**
   * Makes the guest hold `mib` more MiB, every page touched (zero-filled pages merge
   * under host KSM; `random` ones do not, but are slow to write under TCG).
   * Resolves with the MiB the guest now holds in total.
   */
  async alloc(mib: number, fill: 'zero' | 'random' = 'zero'): Promise<number> {
    if (!Number.isInteger(mib) || mib < 0) throw new RangeError(`alloc: mib must be a whole number >= 0, got ${mib}`);
    return heldMiB(await this.check(`alloc ${mib} ${fill}`, 300_000));
  }

  /** Releases everything alloc() holds; resolves with the MiB still held (0). */
  async free(): Promise<number> {
    return heldMiB(await this.check('free', 60_000));
  }

  /** Runs a shell command in the guest (as root) and returns its output lines. */
  run(shellCommand: string, timeoutMs?: number): Promise<string[]> {
    return this.check(`run ${shellCommand}`, timeoutMs);
  }

  close(): void {
    this.closed = true;
    this.fail(new Error('guest console closed'));
    this.socket?.destroy();
  }
}

function heldMiB(lines: string[]): number {
  const line = lines.find((l) => l.startsWith('held '));
  if (!line) throw new Error(`the guest did not report what it holds: ${lines.join(' | ')}`);
  return Number(line.slice('held '.length));
}
