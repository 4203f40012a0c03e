/**
 * Errors of the QMP client. QmpError is QEMU's own answer to a command; everything else is
 * a QmpClientError that says why no answer could come (timeout, connection loss, protocol
 * violation, limits), so callers can tell "QEMU said no" from "QEMU did not say".
 */

/** QEMU answered a command with `{"error": {"class", "desc"}}`. */
export class QmpError extends Error {
  constructor(
    /** The command QEMU refused. */
    readonly command: string,
    /** QEMU's error class, e.g. "GenericError", "CommandNotFound", "DeviceNotActive". */
    readonly errorClass: string,
    /** QEMU's human-readable description. */
    readonly desc: string,
  ) {
    super(`QMP ${command}: ${errorClass}: ${desc}`);
    this.name = 'QmpError';
  }
}

/** Base class of every failure that is not an answer from QEMU. */
export class QmpClientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QmpClientError';
  }
}

/** The socket could not be connected (ENOENT: no QEMU yet; ECONNREFUSED: a stale socket of a dead QEMU). */
export class QmpConnectError extends QmpClientError {
  constructor(
    readonly socketPath: string,
    /** The system error code, e.g. "ENOENT", "ECONNREFUSED", when there is one. */
    readonly code: string | undefined,
    cause: unknown,
  ) {
    super(`cannot connect to QMP socket ${socketPath}: ${code ?? String(cause)}`, { cause });
    this.name = 'QmpConnectError';
  }
}

/**
 * No greeting arrived in time. QEMU serves one monitor client at a time and accepts a second
 * connection without greeting it, so this usually means another client holds the monitor.
 */
export class QmpGreetingTimeoutError extends QmpClientError {
  constructor(readonly socketPath: string, readonly timeoutMs: number) {
    super(`no QMP greeting on ${socketPath} within ${timeoutMs} ms (another client may hold the monitor, or QEMU is frozen)`);
    this.name = 'QmpGreetingTimeoutError';
  }
}

/** A command got no answer within its timeout. A reply that arrives later is dropped. */
export class QmpTimeoutError extends QmpClientError {
  constructor(readonly command: string, readonly timeoutMs: number) {
    super(`QMP ${command}: no reply within ${timeoutMs} ms`);
    this.name = 'QmpTimeoutError';
  }
}

/** The connection is gone (QEMU exited, was killed, or closed the socket) or was never up. */
export class QmpDisconnectedError extends QmpClientError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QmpDisconnectedError';
  }
}

/** The client was closed by its owner; pending commands and connection attempts end with this. */
export class QmpClosedError extends QmpClientError {
  constructor() {
    super('QMP client closed');
    this.name = 'QmpClosedError';
  }
}

/** The peer sent something that is not QMP (not JSON, wrong shape, no greeting first). */
export class QmpProtocolError extends QmpClientError {
  constructor(message: string, readonly line?: string) {
    super(message);
    this.name = 'QmpProtocolError';
  }
}

/** A configured bound was exceeded (line length, commands in flight). */
export class QmpLimitError extends QmpClientError {
  constructor(
    /** The option that sets the bound, e.g. "maxLineBytes". */
    readonly limit: string,
    readonly value: number,
    message: string,
  ) {
    super(message);
    this.name = 'QmpLimitError';
  }
}
