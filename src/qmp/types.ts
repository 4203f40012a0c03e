/**
 * The QMP data model: the messages QEMU sends, the events KubeMom reacts to, and the
 * return types of the commands the agent uses. Shapes follow QEMU's QAPI schema
 * (qapi/control.json, qapi/run-state.json, qapi/machine.json, qapi/qom.json).
 */

/** QEMU's version as announced in the greeting. */
export interface QemuVersion {
  readonly major: number;
  readonly minor: number;
  readonly micro: number;
  /** Distribution package string, e.g. "Debian 1:7.2+dfsg-7". */
  readonly package: string;
}

/** The first line QEMU sends on a monitor connection. */
export interface QmpGreeting {
  readonly version: QemuVersion;
  /** Capabilities QEMU offers (e.g. "oob"); KubeMom enables none of them. */
  readonly capabilities: readonly string[];
}

/** When QEMU emitted an event (its host clock). */
export interface QmpTimestamp {
  readonly seconds: number;
  readonly microseconds: number;
}

/** Payloads of the events KubeMom interprets. Other events are delivered untyped. */
export interface QmpKnownEventData {
  /** The guest was paused (by `stop`, an error, migration...). */
  STOP: Record<string, never>;
  /** The guest runs again. */
  RESUME: Record<string, never>;
  /** The guest shut down (QEMU exits afterwards unless -no-shutdown). */
  SHUTDOWN: { readonly guest: boolean; readonly reason: string };
  /** The balloon moved; `actual` is the guest's memory in bytes. QEMU rate-limits it to one a second. */
  BALLOON_CHANGE: { readonly actual: number };
}

export type QmpKnownEventName = keyof QmpKnownEventData;

/** An event QEMU sent, with `data` checked against its known shape when the name is known. */
export type QmpEvent =
  | { [K in QmpKnownEventName]: { readonly event: K; readonly data: QmpKnownEventData[K]; readonly timestamp: QmpTimestamp } }[QmpKnownEventName]
  | QmpGenericEvent;

/** Any event KubeMom does not interpret (or a known one whose payload did not have the expected shape). */
export interface QmpGenericEvent {
  readonly event: string;
  readonly data: Readonly<Record<string, unknown>> | undefined;
  readonly timestamp: QmpTimestamp;
  /** True when the payload was not checked (unknown name or unexpected shape). */
  readonly generic: true;
}

/** `query-status` return value. */
export interface QmpStatusInfo {
  /** Run state, e.g. "running", "paused", "prelaunch", "shutdown", "inmigrate", "suspended". */
  readonly status: string;
  readonly running: boolean;
}

/** `query-balloon` return value. */
export interface QmpBalloonInfo {
  /** Memory the guest currently has, in bytes (guest memory minus the inflated balloon). */
  readonly actual: number;
}

/** One entry of `query-block` (the fields KubeMom reads). */
export interface QmpBlockInfo {
  /** The legacy drive name; "" under -blockdev (what libvirt uses). */
  readonly device: string;
  /** The guest device's qdev id or QOM path, e.g. "/machine/peripheral/ua-data/virtio-backend"; absent without one. */
  readonly qdev?: string;
  /** The medium's properties, including its throttle values; absent for an empty drive. */
  readonly inserted?: Readonly<Record<string, unknown>>;
}

/** One entry of `qom-list`. */
export interface QmpObjectProperty {
  readonly name: string;
  /** QOM type, e.g. "string", "int", "child<virtio-balloon-pci>", "link<...>". */
  readonly type: string;
  readonly description?: string;
}

/** What a command needs from a connection: the typed wrappers in commands.ts use only this. */
export interface QmpCommandRunner {
  /**
   * Sends one command and resolves with its `return` value; rejects with QmpError when
   * QEMU answers with an error, or with a QmpClientError subtype when no answer can come.
   */
  execute(command: string, args?: Readonly<Record<string, unknown>>, options?: QmpCommandOptions): Promise<unknown>;
}

/** Per-command options. */
export interface QmpCommandOptions {
  /** Overrides the client's default command timeout, in milliseconds. */
  readonly timeoutMs?: number;
}
