/**
 * FakeQmpServer: a scriptable stand-in for QEMU's monitor, for the misbehaviours real QEMU
 * cannot be made to show (garbage, huge lines, out-of-order replies, half-written lines).
 * Everything a real QEMU can do is tested against real QEMU instead (qmp-qemu.test.ts).
 */
import net from 'node:net';
import { rmSync } from 'node:fs';
import { EVENT_DEADLINE_MS } from '../support/deadline.js';

/** A command as the fake received it. */
export interface FakeCommand {
  readonly execute: string;
  readonly arguments?: Record<string, unknown>;
  readonly id?: unknown;
}

/** Decides what the fake does with a command; may answer now, later, never, or misbehave. */
export type FakeHandler = (cmd: FakeCommand, conn: FakeConnection) => void;

export interface FakeQmpServerOptions {
  /** Send a greeting on connect (default true); a string is sent verbatim instead. */
  readonly greeting?: boolean | string;
  /** Default: `standardReply`. */
  readonly handler?: FakeHandler;
}

export const GREETING = JSON.stringify({
  QMP: { version: { qemu: { micro: 0, minor: 2, major: 7 }, package: 'fake' }, capabilities: ['oob'] },
});

/** Answers qmp_capabilities and query-status like QEMU, and refuses anything else with CommandNotFound. */
export function standardReply(cmd: FakeCommand, conn: FakeConnection): void {
  if (cmd.execute === 'qmp_capabilities') conn.reply(cmd.id, {});
  else if (cmd.execute === 'query-status') conn.reply(cmd.id, { status: 'running', singlestep: false, running: true });
  else conn.error(cmd.id, 'CommandNotFound', `The command ${cmd.execute} has not been found`);
}

/** One client connection on the fake. */
export class FakeConnection {
  constructor(readonly socket: net.Socket) {}

  /** Writes raw text (no newline added). */
  write(raw: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(raw);
  }

  reply(id: unknown, value: unknown): void {
    this.write(JSON.stringify({ return: value, id }) + '\r\n');
  }

  error(id: unknown, errorClass: string, desc: string): void {
    this.write(JSON.stringify({ error: { class: errorClass, desc }, id }) + '\r\n');
  }

  event(name: string, data?: unknown): void {
    const ts = Date.now();
    const msg: Record<string, unknown> = { timestamp: { seconds: Math.floor(ts / 1000), microseconds: (ts % 1000) * 1000 }, event: name };
    if (data !== undefined) msg['data'] = data;
    this.write(JSON.stringify(msg) + '\r\n');
  }

  /** Drops the connection abruptly. */
  destroy(): void {
    this.socket.destroy();
  }
}

export class FakeQmpServer {
  /** Every command received, in order, across connections. */
  readonly received: FakeCommand[] = [];
  /** Every connection accepted, in order. */
  readonly connections: FakeConnection[] = [];
  handler: FakeHandler;

  private constructor(
    private readonly server: net.Server,
    readonly socketPath: string,
    private readonly greeting: boolean | string,
    handler: FakeHandler,
  ) {
    this.handler = handler;
  }

  static async start(socketPath: string, options: FakeQmpServerOptions = {}): Promise<FakeQmpServer> {
    rmSync(socketPath, { force: true });
    const server = net.createServer();
    const fake = new FakeQmpServer(server, socketPath, options.greeting ?? true, options.handler ?? standardReply);
    server.on('connection', (socket) => fake.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    return fake;
  }

  /** Resolves when `n` commands named `name` have arrived. */
  async waitFor(name: string, n = 1, timeoutMs = EVENT_DEADLINE_MS): Promise<FakeCommand[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.received.filter((c) => c.execute === name);
      if (got.length >= n) return got;
      if (Date.now() > deadline) throw new Error(`fake: ${name} x${n} not received within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    for (const c of this.connections) c.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }

  private accept(socket: net.Socket): void {
    const conn = new FakeConnection(socket);
    this.connections.push(conn);
    socket.on('error', () => undefined);
    if (this.greeting === true) conn.write(GREETING + '\r\n');
    else if (typeof this.greeting === 'string') conn.write(this.greeting);
    let buf = '';
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() === '') continue;
        const cmd = JSON.parse(line) as FakeCommand;
        this.received.push(cmd);
        this.handler(cmd, conn);
      }
    });
  }
}
