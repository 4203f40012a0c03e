/**
 * A QMP client over a unix socket: greeting (with a timeout), capabilities negotiation,
 * commands matched to replies by id (several in flight), typed events, a timeout per command,
 * optional reconnection with backoff, and bounded buffers.
 *
 * Why these rules: QEMU serves one monitor client at a time and silently parks a second one
 * (hence the greeting timeout); a frozen QEMU (SIGSTOP) keeps the socket open but never answers
 * (hence per-command timeouts); a killed QEMU leaves a socket file that refuses connections and
 * a restarted one binds over it (hence reconnect with backoff).
 */
import net from 'node:net';
import { InputError, InputTooLargeError } from '../common/errors.js';
import { logger, type Logger } from '../common/log.js';
import { backoffDelay, resolveBackoff, type BackoffOptions, type ResolvedBackoff } from './backoff.js';
import * as commands from './commands.js';
import {
  QmpClientError,
  QmpClosedError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpError,
  QmpGreetingTimeoutError,
  QmpLimitError,
  QmpProtocolError,
  QmpTimeoutError,
} from './errors.js';
import { LineSplitter } from './framing.js';
import { decodeMessage, encodeCommand, KNOWN_EVENTS } from './protocol.js';
import type {
  QmpBalloonInfo,
  QmpBlockInfo,
  QmpCommandOptions,
  QmpCommandRunner,
  QmpEvent,
  QmpGreeting,
  QmpKnownEventData,
  QmpKnownEventName,
  QmpObjectProperty,
  QmpStatusInfo,
} from './types.js';
import { UNIX_SOCKET_PATH_MAX } from '../common/units.js';

/** Options of a QmpClient. Only `socketPath` is required. */
export interface QmpClientOptions {
  /** Path of QEMU's QMP unix socket (at most 107 bytes, the kernel's limit). */
  readonly socketPath: string;
  /** How long to wait for QEMU's greeting after connecting, in ms. Default 3000. */
  readonly greetingTimeoutMs?: number;
  /** Default timeout of every command (and of capabilities negotiation), in ms. Default 5000. */
  readonly commandTimeoutMs?: number;
  /** Longest line accepted from QEMU, and longest command sent, in bytes. Default 1 MiB. */
  readonly maxLineBytes?: number;
  /** Most commands in flight at once; one more is rejected with QmpLimitError. Default 64. */
  readonly maxPendingCommands?: number;
  /**
   * Reconnect with backoff: `connect()` retries until it succeeds, and a lost connection is
   * re-established in the background. Default: off (one attempt, no reconnection).
   */
  readonly reconnect?: BackoffOptions | false;
  /** Source of jitter, [0, 1). Default Math.random. */
  readonly random?: () => number;
  /** Logger; default `logger('qmp')`. */
  readonly log?: Logger;
}

/** Life cycle of a client. */
export type QmpClientState = 'idle' | 'connecting' | 'ready' | 'disconnected' | 'closed';

/** Listener signatures of QmpClient.on(). */
export interface QmpClientEvents {
  /** Greeting and capabilities done; commands may be sent. Fired on every (re)connection. */
  connected: (greeting: QmpGreeting) => void;
  /** A ready connection was lost; everything in flight was rejected with `error`. */
  disconnected: (error: QmpClientError) => void;
  /** Any asynchronous event from QEMU. */
  event: (event: QmpEvent) => void;
  /** QEMU (or whatever is on the socket) sent a line that is not QMP; the connection stays up. */
  protocolError: (error: QmpProtocolError) => void;
  /** Reconnection stopped after `reconnect.maxAttempts` failures; `error` is the last failure. */
  gaveUp: (error: Error) => void;
}

/** Counters for diagnostics and metrics. */
export interface QmpClientStats {
  /** Replies that arrived after their command timed out (dropped). */
  readonly lateReplies: number;
  /** Lines that were not valid QMP. */
  readonly protocolErrors: number;
  /** Successful connections after the first one. */
  readonly reconnects: number;
}

interface Pending {
  readonly command: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

interface Handshake {
  readonly socket: net.Socket;
  readonly resolve: (g: QmpGreeting) => void;
  readonly reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
  greeting: QmpGreeting | undefined;
  /** Why the attempt failed, when known before the socket closed (the close event decides). */
  failure: Error | undefined;
}

type Listeners = { [K in keyof QmpClientEvents]: Set<QmpClientEvents[K]> };

function positiveInt(field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InputError(field, `must be a positive integer, got ${value}`);
  }
  return value;
}

/** A QMP connection to one QEMU. See docs/qmp.md. */
export class QmpClient implements QmpCommandRunner {
  readonly socketPath: string;
  private readonly greetingTimeoutMs: number;
  private readonly commandTimeoutMs: number;
  private readonly maxLineBytes: number;
  private readonly maxPendingCommands: number;
  private readonly backoff: ResolvedBackoff | undefined;
  private readonly random: () => number;
  private readonly log: Logger;
  private readonly splitter: LineSplitter;

  private currentState: QmpClientState = 'idle';
  private socket: net.Socket | undefined;
  private handshake: Handshake | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private lastGreeting: QmpGreeting | undefined;
  private connecting: Promise<QmpGreeting> | undefined;
  private retrySleep: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  private everConnected = false;
  /** Why the client itself dropped the current connection, for the 'disconnected' listeners. */
  private dropReason: QmpDisconnectedError | undefined;
  private counters = { lateReplies: 0, protocolErrors: 0, reconnects: 0 };
  private readonly listeners: Listeners = {
    connected: new Set(),
    disconnected: new Set(),
    event: new Set(),
    protocolError: new Set(),
    gaveUp: new Set(),
  };

  constructor(options: QmpClientOptions) {
    if (typeof options.socketPath !== 'string' || options.socketPath.length === 0) {
      throw new InputError('socketPath', 'must be a non-empty path to a unix socket');
    }
    if (Buffer.byteLength(options.socketPath) > UNIX_SOCKET_PATH_MAX) {
      throw new InputError('socketPath', `is ${Buffer.byteLength(options.socketPath)} bytes; unix socket paths are limited to ${UNIX_SOCKET_PATH_MAX} bytes`);
    }
    this.socketPath = options.socketPath;
    this.greetingTimeoutMs = positiveInt('greetingTimeoutMs', options.greetingTimeoutMs ?? 3000);
    this.commandTimeoutMs = positiveInt('commandTimeoutMs', options.commandTimeoutMs ?? 5000);
    this.maxLineBytes = positiveInt('maxLineBytes', options.maxLineBytes ?? 1024 * 1024);
    this.maxPendingCommands = positiveInt('maxPendingCommands', options.maxPendingCommands ?? 64);
    this.backoff = options.reconnect ? resolveBackoff(options.reconnect) : undefined;
    this.random = options.random ?? Math.random;
    this.log = options.log ?? logger('qmp');
    this.splitter = new LineSplitter(this.maxLineBytes);
  }

  /** Current life-cycle state. */
  get state(): QmpClientState {
    return this.currentState;
  }

  /** The greeting of the current (or last) connection. */
  get greeting(): QmpGreeting | undefined {
    return this.lastGreeting;
  }

  /** Commands sent and not yet answered. */
  get pendingCommands(): number {
    return this.pending.size;
  }

  get stats(): QmpClientStats {
    return { ...this.counters };
  }

  /** Adds a listener; returns a function that removes it. Exceptions in listeners are logged, never propagated. */
  on<K extends keyof QmpClientEvents>(name: K, listener: QmpClientEvents[K]): () => void {
    const set = this.listeners[name] as Set<QmpClientEvents[K]>;
    set.add(listener);
    return () => set.delete(listener);
  }

  /**
   * Listens to one event by name, with a typed payload for STOP, RESUME, SHUTDOWN, BALLOON_CHANGE.
   * A known event whose payload does not have its documented shape is not delivered here (it
   * reaches `on('event')` as generic and is reported as a protocol error), so the types hold.
   */
  onEvent<K extends QmpKnownEventName>(name: K, listener: (data: QmpKnownEventData[K], event: QmpEvent) => void): () => void;
  onEvent(name: string, listener: (data: Readonly<Record<string, unknown>> | undefined, event: QmpEvent) => void): () => void;
  onEvent(name: string, listener: (data: never, event: QmpEvent) => void): () => void {
    return this.on('event', (event) => {
      if (event.event !== name || ('generic' in event && KNOWN_EVENTS.has(name))) return;
      (listener as (d: unknown, e: QmpEvent) => void)(event.data, event);
    });
  }

  /**
   * Connects, waits for the greeting and negotiates capabilities. Resolves with the greeting.
   * Without `reconnect` this is one attempt; with it, attempts repeat with backoff until one
   * succeeds, `maxAttempts` is reached, or close() is called (then it rejects with QmpClosedError).
   */
  connect(): Promise<QmpGreeting> {
    if (this.currentState === 'closed') return Promise.reject(new QmpClosedError());
    if (this.currentState === 'ready' && this.lastGreeting) return Promise.resolve(this.lastGreeting);
    if (!this.connecting) {
      const p = this.backoff ? this.retryLoop(this.backoff, false) : this.attempt();
      this.connecting = p;
      const clear = (): void => {
        if (this.connecting === p) this.connecting = undefined;
      };
      p.then(clear, clear);
    }
    return this.connecting;
  }

  /**
   * Sends a command and resolves with QEMU's `return` value. Rejects with QmpError when QEMU
   * refuses it, QmpTimeoutError when no reply comes in time (a later reply is dropped),
   * QmpDisconnectedError when the connection is down or lost, QmpLimitError when
   * `maxPendingCommands` are already in flight.
   */
  execute(command: string, args?: Readonly<Record<string, unknown>>, options: QmpCommandOptions = {}): Promise<unknown> {
    if (this.currentState === 'closed') return Promise.reject(new QmpClosedError());
    if (this.currentState !== 'ready' || !this.socket) {
      return Promise.reject(new QmpDisconnectedError(`QMP ${command}: not connected (state ${this.currentState})`));
    }
    return this.send(this.socket, command, args, options.timeoutMs);
  }

  /** `query-status`: the guest's run state. */
  queryStatus(options?: QmpCommandOptions): Promise<QmpStatusInfo> {
    return commands.queryStatus(this, options);
  }

  /** `query-balloon`: the guest's current memory in bytes. Fails with QmpError DeviceNotActive without a balloon. */
  queryBalloon(options?: QmpCommandOptions): Promise<QmpBalloonInfo> {
    return commands.queryBalloon(this, options);
  }

  /** `balloon`: asks the guest to give or take memory until it has `bytes`. QEMU does not check the value. */
  balloon(bytes: number, options?: QmpCommandOptions): Promise<void> {
    return commands.balloon(this, bytes, options);
  }

  /** `qom-list`: the properties (and children) of a QOM object. */
  qomList(path: string, options?: QmpCommandOptions): Promise<QmpObjectProperty[]> {
    return commands.qomList(this, path, options);
  }

  /** `qom-get`: one property's value, unchecked (the caller knows its shape). */
  qomGet(path: string, property: string, options?: QmpCommandOptions): Promise<unknown> {
    return commands.qomGet(this, path, property, options);
  }

  /** `query-block`: block backends with their guest devices and throttle values. */
  queryBlock(options?: QmpCommandOptions): Promise<QmpBlockInfo[]> {
    return commands.queryBlock(this, options);
  }

  /** `block_set_io_throttle`: sets a disk's IO limits (see commands.blockSetIoThrottle). */
  blockSetIoThrottle(args: Readonly<Record<string, string | number>>, options?: QmpCommandOptions): Promise<void> {
    return commands.blockSetIoThrottle(this, args, options);
  }

  /** `qom-set`: sets one property. */
  qomSet(path: string, property: string, value: unknown, options?: QmpCommandOptions): Promise<void> {
    return commands.qomSet(this, path, property, value, options);
  }

  /**
   * Closes the connection and stops reconnecting. Everything in flight (commands, a connection
   * attempt, a backoff wait) rejects with QmpClosedError. Resolves when the socket is closed.
   */
  async close(): Promise<void> {
    if (this.currentState === 'closed') return;
    this.currentState = 'closed';
    if (this.retrySleep) {
      clearTimeout(this.retrySleep.timer);
      this.retrySleep.wake();
      this.retrySleep = undefined;
    }
    const closed = new QmpClosedError();
    this.rejectAll(closed);
    const socket = this.socket;
    if (this.handshake) this.handshake.failure = closed;
    if (socket && !socket.destroyed) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        // No goodbye exists in QMP; destroying releases the monitor for the next client at once.
        socket.destroy();
      });
    }
  }

  // ---- connection ----

  private async retryLoop(b: ResolvedBackoff, afterLoss: boolean): Promise<QmpGreeting> {
    for (let attempt = 0; ; attempt++) {
      // After a loss, wait first: a peer that accepts and then drops at once must not cause a busy loop.
      if (attempt > 0 || afterLoss) {
        const delay = backoffDelay(afterLoss ? attempt : attempt - 1, b, this.random());
        await this.sleep(delay);
      }
      if (this.currentState === 'closed') throw new QmpClosedError();
      try {
        return await this.attempt();
      } catch (err) {
        if (this.isClosed()) throw new QmpClosedError();
        if (attempt + 1 >= b.maxAttempts) {
          this.log.warn({ socket: this.socketPath, attempts: attempt + 1, err: (err as Error).message }, 'QMP reconnection gave up');
          this.emit('gaveUp', err as Error);
          throw err;
        }
        this.log.debug({ socket: this.socketPath, attempt, err: (err as Error).message }, 'QMP connection attempt failed');
      }
    }
  }

  // A method, not an inline comparison: TypeScript would keep a narrowing across the await.
  private isClosed(): boolean {
    return this.currentState === 'closed';
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.retrySleep = undefined;
        resolve();
      }, ms);
      this.retrySleep = { timer, wake: resolve };
    });
  }

  /** One connection attempt: connect, greeting, qmp_capabilities. */
  private attempt(): Promise<QmpGreeting> {
    this.currentState = 'connecting';
    this.splitter.reset();
    return new Promise<QmpGreeting>((resolve, reject) => {
      const socket = net.createConnection({ path: this.socketPath });
      this.socket = socket;
      const hs: Handshake = { socket, resolve, reject, timer: undefined, greeting: undefined, failure: undefined };
      this.handshake = hs;
      let socketError: NodeJS.ErrnoException | undefined;
      // Counted from the attempt's start, so that no step of it (connect included) can hang.
      hs.timer = setTimeout(() => {
        hs.timer = undefined;
        this.failHandshake(hs, new QmpGreetingTimeoutError(this.socketPath, this.greetingTimeoutMs));
      }, this.greetingTimeoutMs);
      socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
      socket.on('error', (err: NodeJS.ErrnoException) => {
        socketError = err;
      });
      socket.on('close', () => this.onClose(socket, hs, socketError));
    });
  }

  /** Ends a handshake with a known reason; the socket's close event settles the promise. */
  private failHandshake(hs: Handshake, err: Error): void {
    hs.failure ??= err;
    hs.socket.destroy();
  }

  private onHandshakeGreeting(hs: Handshake, greeting: QmpGreeting): void {
    if (hs.timer) clearTimeout(hs.timer);
    hs.timer = undefined;
    hs.greeting = greeting;
    this.send(hs.socket, 'qmp_capabilities', undefined, undefined).then(
      () => {
        if (this.handshake !== hs || this.currentState === 'closed') return;
        this.handshake = undefined;
        this.currentState = 'ready';
        this.lastGreeting = greeting;
        if (this.everConnected) this.counters.reconnects++;
        this.everConnected = true;
        const v = greeting.version;
        this.log.debug({ socket: this.socketPath, qemu: `${v.major}.${v.minor}.${v.micro}` }, 'QMP connected');
        hs.resolve(greeting);
        this.emit('connected', greeting);
      },
      (err: Error) => this.failHandshake(hs, err),
    );
  }

  private onClose(socket: net.Socket, hs: Handshake, socketError: NodeJS.ErrnoException | undefined): void {
    if (hs.timer) clearTimeout(hs.timer);
    hs.timer = undefined;
    if (this.socket !== socket) return;
    this.socket = undefined;
    this.splitter.reset();
    const wasReady = this.currentState === 'ready';
    const closedByOwner = this.currentState === 'closed';
    const dropped = this.dropReason;
    this.dropReason = undefined;
    const lost = closedByOwner
      ? new QmpClosedError()
      : dropped ?? new QmpDisconnectedError(
          `QMP connection to ${this.socketPath} lost${socketError?.code ? ` (${socketError.code})` : ''}`,
          { cause: socketError },
        );
    this.rejectAll(lost);
    if (this.handshake === hs) {
      this.handshake = undefined;
      let err: Error;
      if (closedByOwner) err = new QmpClosedError();
      else if (hs.failure) err = hs.failure;
      else if (socketError?.syscall === 'connect') {
        err = new QmpConnectError(this.socketPath, socketError.code, socketError);
      } else err = new QmpDisconnectedError(`QMP connection to ${this.socketPath} closed during the handshake`, { cause: socketError });
      if (!closedByOwner) this.currentState = 'disconnected';
      hs.reject(err);
      return;
    }
    if (closedByOwner) return;
    this.currentState = 'disconnected';
    if (wasReady) {
      this.log.info({ socket: this.socketPath, err: lost.message }, 'QMP connection lost');
      this.emit('disconnected', lost);
      if (this.backoff && !this.connecting) {
        const p = this.retryLoop(this.backoff, true);
        this.connecting = p;
        const clear = (): void => {
          if (this.connecting === p) this.connecting = undefined;
        };
        // Background reconnection: failures are reported through 'gaveUp', not as an unhandled rejection.
        p.then(clear, clear);
      }
    }
  }

  // ---- traffic ----

  private send(socket: net.Socket, command: string, args: Readonly<Record<string, unknown>> | undefined, timeoutMs: number | undefined): Promise<unknown> {
    if (typeof command !== 'string' || command.length === 0) {
      return Promise.reject(new InputError('command', 'must be a non-empty QMP command name'));
    }
    const timeout = timeoutMs ?? this.commandTimeoutMs;
    if (!Number.isFinite(timeout) || timeout <= 0) {
      return Promise.reject(new InputError('timeoutMs', `must be a positive number of milliseconds, got ${timeout}`));
    }
    if (this.pending.size >= this.maxPendingCommands) {
      return Promise.reject(
        new QmpLimitError(
          'maxPendingCommands',
          this.maxPendingCommands,
          `QMP ${command}: ${this.pending.size} commands already in flight (maxPendingCommands ${this.maxPendingCommands}); is QEMU answering?`,
        ),
      );
    }
    const id = this.nextId++;
    let line: string;
    try {
      line = encodeCommand(id, command, args);
    } catch (err) {
      return Promise.reject(new InputError(`${command} arguments`, `cannot be encoded as JSON: ${(err as Error).message}`));
    }
    const bytes = Buffer.byteLength(line) - 1;
    if (bytes > this.maxLineBytes) {
      return Promise.reject(new InputTooLargeError(`${command} arguments`, bytes, this.maxLineBytes));
    }
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.delete(id)) reject(new QmpTimeoutError(command, timeout));
      }, timeout);
      this.pending.set(id, { command, resolve, reject, timer });
      socket.write(line);
    });
  }

  private onData(socket: net.Socket, chunk: Buffer): void {
    if (this.socket !== socket) return;
    let lines: string[];
    try {
      lines = this.splitter.push(chunk);
    } catch (err) {
      // An over-long line: the rest of the stream cannot be framed safely. Drop the connection.
      this.log.warn({ socket: this.socketPath, err: (err as Error).message }, 'QMP connection dropped');
      this.dropConnection(socket, err as Error);
      return;
    }
    for (const line of lines) {
      if (this.socket !== socket) return;
      this.onLine(socket, line);
    }
  }

  /** Closes the socket because of `reason`; in-flight commands reject with it. */
  private dropConnection(socket: net.Socket, reason: Error): void {
    const hs = this.handshake;
    if (hs && hs.socket === socket) {
      this.failHandshake(hs, reason);
      return;
    }
    this.dropReason = new QmpDisconnectedError(`QMP connection to ${this.socketPath} closed: ${reason.message}`, { cause: reason });
    this.rejectAll(this.dropReason);
    socket.destroy();
  }

  private onLine(socket: net.Socket, line: string): void {
    const msg = decodeMessage(line);
    const hs = this.handshake && this.handshake.socket === socket ? this.handshake : undefined;
    if (hs && !hs.greeting) {
      // Until the greeting, anything else means this is not a QMP monitor (or not a sane one).
      if (msg.kind === 'greeting') this.onHandshakeGreeting(hs, msg.greeting);
      else this.failHandshake(hs, new QmpProtocolError(`expected a QMP greeting first, got ${describe(msg.kind, line)}`, clip(line)));
      return;
    }
    switch (msg.kind) {
      case 'return':
      case 'error':
        this.onReply(msg.id, msg.kind === 'return' ? { ok: msg.value } : { errorClass: msg.errorClass, desc: msg.desc }, line);
        return;
      case 'event':
        if ('generic' in msg.event && KNOWN_EVENTS.has(msg.event.event)) {
          this.protocolError(new QmpProtocolError(`QMP event ${msg.event.event} with an unexpected payload`, clip(line)));
        }
        this.emit('event', msg.event);
        return;
      case 'greeting':
        this.protocolError(new QmpProtocolError('unexpected second QMP greeting', clip(line)));
        return;
      case 'invalid':
        this.protocolError(new QmpProtocolError(`invalid QMP line: ${msg.reason}`, clip(line)));
        return;
    }
  }

  private onReply(id: unknown, result: { ok: unknown } | { errorClass: string; desc: string }, line: string): void {
    const p = typeof id === 'number' ? this.pending.get(id) : undefined;
    if (!p) {
      if (typeof id === 'number' && Number.isSafeInteger(id) && id > 0 && id < this.nextId) {
        // Its command timed out (or the connection was reset); the caller already got an error.
        this.counters.lateReplies++;
        this.log.debug({ socket: this.socketPath, id }, 'late QMP reply dropped');
      } else {
        this.protocolError(new QmpProtocolError(`QMP reply with unknown id ${JSON.stringify(id) ?? 'none'}`, clip(line)));
      }
      return;
    }
    this.pending.delete(id as number);
    clearTimeout(p.timer);
    if ('ok' in result) p.resolve(result.ok);
    else p.reject(new QmpError(p.command, result.errorClass, result.desc));
  }

  private protocolError(err: QmpProtocolError): void {
    this.counters.protocolErrors++;
    this.log.warn({ socket: this.socketPath, err: err.message, line: err.line }, 'QMP protocol error');
    this.emit('protocolError', err);
  }

  private rejectAll(err: Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  private emit<K extends keyof QmpClientEvents>(name: K, ...args: Parameters<QmpClientEvents[K]>): void {
    for (const listener of [...this.listeners[name]]) {
      try {
        (listener as (...a: Parameters<QmpClientEvents[K]>) => void)(...args);
      } catch (err) {
        // A faulty listener must not break the connection's reading loop.
        this.log.error({ socket: this.socketPath, listener: name, err: (err as Error).message }, 'QMP listener threw');
      }
    }
  }
}

/** At most 200 characters of a line, for error messages and logs. */
function clip(line: string): string {
  return line.length > 200 ? `${line.slice(0, 200)}...(${line.length} chars)` : line;
}

function describe(kind: string, line: string): string {
  return kind === 'invalid' ? `a non-QMP line: ${clip(line)}` : `a ${kind} message`;
}
