/**
 * One gRPC session with one sidecar's kubemom.v1 agent: Describe (identity check),
 * the WatchStats stream, and SetTarget with deadlines. What the policy sees of the
 * sidecar's reports is translated in src/shim/wire-to-policy.ts.
 *
 * Every call has a deadline. A sidecar that misses one is marked stale and skipped
 * by the loop until a back-off has passed; nothing ever waits on it, so a stuck VM
 * or sidecar never stalls the others.
 */
import * as grpc from '@grpc/grpc-js';
import { KUBEMOM_VERSION } from '../common/version.js';
import type { Logger } from '../common/log.js';
import type { GuestSample, GuestState, IoRates, Phase } from '../policy/types.js';
import { guestSampleOf, guestStateOf, phaseSinceMs } from './wire-to-policy.js';
import { AgentClient } from '../api/client.js';
import {
  decodeDescription,
  decodeDisk,
  decodeSample,
  decodeTargetReply,
  encodeDescribeRequest,
  encodeIoLimits,
  encodeTargetRequest,
  type Description,
  type StatsSample,
  type TargetReply,
  type WireStatsSample,
} from '../api/kubemom-v1.js';
import type { FoundSocket } from './discovery.js';

/**
 * - connecting: Describe in flight.
 * - waiting: the sidecar answers but does not know its VM yet (before OnDefineDomain).
 * - live: identity checked, stats flowing; the loop uses it.
 * - stale: missed a deadline, stream broken or silent; skipped, retried after a back-off.
 * - refused: its Describe names another pod than its socket's path; never used.
 * - closed: the socket vanished or the shim is stopping.
 */
export type SessionState = 'connecting' | 'waiting' | 'live' | 'stale' | 'refused' | 'closed';
export const SESSION_STATES: readonly SessionState[] = ['connecting', 'waiting', 'live', 'stale', 'refused', 'closed'];

export interface SessionOptions {
  /** Deadline for Describe; default 2000 ms. */
  describeDeadlineMs: number;
  /** Deadline for SetTarget; default 1000 ms. */
  setTargetDeadlineMs: number;
  /** A live session with no sample for this long turns stale; default 3 stats periods, at least 5000 ms. */
  statsSilenceMs?: number;
  /** First retry back-off; doubles up to maxBackoffMs. Default 1000 ms. */
  initialBackoffMs: number;
  /** Default 30000 ms. */
  maxBackoffMs: number;
  /** Guest samples kept per VM for the policy; default 10. */
  historyLength: number;
}

export const DEFAULT_SESSION_OPTIONS: SessionOptions = {
  describeDeadlineMs: 2000,
  setTargetDeadlineMs: 1000,
  initialBackoffMs: 1000,
  maxBackoffMs: 30_000,
  historyLength: 10,
};

export type SetTargetOutcome =
  | { kind: 'applied'; response: TargetReply; latencyMs: number }
  | { kind: 'skipped'; why: 'not-live' | 'in-flight' }
  | { kind: 'failed'; why: 'deadline' | 'error'; detail: string; latencyMs: number };

/** Hooks the registry uses to count and log what sessions do. */
export interface SessionHooks {
  onStateChange(session: SidecarSession, from: SessionState, to: SessionState, why: string): void;
  onIdentityMismatch(session: SidecarSession, claimedPodUid: string): void;
  onDeadlineMiss(session: SidecarSession, call: 'Describe' | 'SetTarget'): void;
  onSample(session: SidecarSession): void;
}

export class SidecarSession {
  state: SessionState = 'connecting';
  /** Why the session is in its state (for logs, /debug, metrics). */
  stateReason = 'starting';
  describe: Description | undefined;
  latest: StatsSample | undefined;
  lastSampleAtMs = 0;
  /** Samples received, oldest first, bounded. */
  readonly history: GuestSample[] = [];
  /** The last SetTarget the sidecar acknowledged. */
  lastApplied: TargetReply | undefined;
  phaseSinceMs: number;
  /**
   * The pod's bounds on the guest's memory as the shim last measured them (pod-bounds.ts): the ceiling from
   * the pod's cgroup limit, and the node's floor for a VM without a guarantee of its own. Sent with every target.
   */
  bounds: { ceilingBytes?: number; floorBytes?: number } = {};
  private client: AgentClient;
  private stream: grpc.ClientReadableStream<WireStatsSample> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private skipUntilMs = 0;
  private setTargetInFlight = false;
  private lastPhase: Phase | undefined;

  constructor(
    readonly found: FoundSocket,
    readonly address: string,
    private readonly options: SessionOptions,
    private readonly hooks: SessionHooks,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.client = new AgentClient(address);
    this.backoffMs = options.initialBackoffMs;
    this.phaseSinceMs = now();
  }

  /** `namespace/name` once known, else the socket path. */
  get id(): string {
    const vm = this.describe?.vm;
    return vm ? `${vm.namespace}/${vm.name}` : this.found.socketPath;
  }

  start(): void {
    this.connect();
  }

  close(why: string): void {
    if (this.state === 'closed') return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.stream?.cancel();
    this.stream = undefined;
    this.client.close();
    this.setState('closed', why);
  }

  /**
   * Whether the loop should use this VM now. Also turns a live session whose
   * stats went silent stale (checked here because the loop is the clock).
   */
  usable(nowMs: number): boolean {
    const silence = nowMs - this.lastSampleAtMs;
    if (this.state === 'live' && silence > this.statsSilenceMs()) {
      this.setState('stale', 'stats-silent');
    } else if (this.state === 'stale' && this.stateReason === 'stats-silent' && silence > 4 * this.statsSilenceMs()) {
      // A stream that stays open but silent may be wedged: start the session over.
      this.retryLater('stats-silent-reconnect');
    }
    return this.state === 'live' && nowMs >= this.skipUntilMs;
  }

  /**
   * Why the sidecar says KubeMom does not balloon this VM ("passthrough",
   * "side-monitor-lost"), from its latest sample, else its Describe; undefined when it does.
   */
  get unmanaged(): { kind: string; reason: string } | undefined {
    return (this.latest ?? this.describe)?.unmanaged;
  }

  /** The VM as the policy sees it (src/shim/wire-to-policy.ts); only for a session that has described itself. */
  guestState(): GuestState | undefined {
    if (!this.describe) return undefined;
    const state = guestStateOf(this.describe, this.latest, { phaseSinceMs: this.phaseSinceMs, history: this.history, ioLimitsSent: this.ioLimitsSent, nowMs: this.now() });
    if (!state) return undefined;
    if (this.bounds.ceilingBytes !== undefined) state.ceilingBytes = this.bounds.ceilingBytes;
    // A VM without a guarantee of its own (KubeVirt v1.7+ under memory overcommit): the node's floor stands in.
    if (this.bounds.floorBytes !== undefined && this.describe.guaranteedMemorySource === 'guest-memory' && !this.unmanaged) {
      state.guaranteedMemoryBytes = Math.min(this.bounds.floorBytes, state.guestMemoryBytes);
    }
    return state;
  }

  /** The policy IO limits the sidecar last accepted ({}: none). */
  ioLimitsSent: IoRates = {};
  private ioInFlight = false;

  /**
   * Sends the policy's IO limits for the VM's disks (only to sidecars with the
   * "io-limits" feature), with the SetTarget deadline. Resolves with the outcome.
   */
  setIoLimits(limits: IoRates, reason: string): Promise<'applied' | 'skipped' | 'error'> {
    if (this.state !== 'live' || this.ioInFlight || !this.describe?.features.includes('io-limits')) return Promise.resolve('skipped');
    this.ioInFlight = true;
    return this.client.setIoLimits({ limits: encodeIoLimits(limits), reason }, this.options.setTargetDeadlineMs).then(
      (response) => {
        this.ioInFlight = false;
        // The metrics show what QEMU applies now.
        if (this.describe && response.disks) this.describe.disks = response.disks.map(decodeDisk);
        this.ioLimitsSent = { ...limits };
        return 'applied' as const;
      },
      () => {
        this.ioInFlight = false;
        return 'error' as const;
      },
    );
  }

  /** Sends a target with a deadline. At most one call is in flight per sidecar. */
  setTarget(targetBytes: number, reason: string): Promise<SetTargetOutcome> {
    if (this.state !== 'live') return Promise.resolve({ kind: 'skipped', why: 'not-live' });
    if (this.setTargetInFlight) return Promise.resolve({ kind: 'skipped', why: 'in-flight' });
    this.setTargetInFlight = true;
    const started = this.now();
    const request = encodeTargetRequest(Math.max(0, Math.round(targetBytes)), reason, { ceilingBytes: this.bounds.ceilingBytes, floorBytes: this.bounds.floorBytes });
    return this.client.setTarget(request, this.options.setTargetDeadlineMs).then(
      (wire): SetTargetOutcome => {
        this.setTargetInFlight = false;
        const response = decodeTargetReply(wire);
        this.lastApplied = response;
        this.backoffMs = this.options.initialBackoffMs;
        return { kind: 'applied', response, latencyMs: this.now() - started };
      },
      (error: Partial<grpc.ServiceError>): SetTargetOutcome => {
        this.setTargetInFlight = false;
        const latencyMs = this.now() - started;
        const deadlineMiss = error?.code === grpc.status.DEADLINE_EXCEEDED;
        if (deadlineMiss) this.hooks.onDeadlineMiss(this, 'SetTarget');
        this.markStale(deadlineMiss ? 'set-target-deadline' : `set-target-error: ${error?.details ?? 'no response'}`);
        return { kind: 'failed', why: deadlineMiss ? 'deadline' : 'error', detail: error?.details ?? '', latencyMs };
      },
    );
  }

  private statsSilenceMs(): number {
    if (this.options.statsSilenceMs !== undefined) return this.options.statsSilenceMs;
    const period = (this.describe?.statsPeriodSeconds || 1) * 1000;
    return Math.max(5000, 3 * period);
  }

  private connect(): void {
    if (this.state === 'closed') return;
    this.setState('connecting', 'describe');
    this.client.describe(encodeDescribeRequest(KUBEMOM_VERSION), this.options.describeDeadlineMs).then(
      (wire) => this.onDescribe(decodeDescription(wire)),
      (error: Partial<grpc.ServiceError>) => {
        if (this.state === 'closed') return;
        if (error?.code === grpc.status.DEADLINE_EXCEEDED) this.hooks.onDeadlineMiss(this, 'Describe');
        this.retryLater(error?.code === grpc.status.DEADLINE_EXCEEDED ? 'describe-deadline' : `describe-error: ${error?.details ?? 'empty'}`);
      },
    );
  }

  private onDescribe(response: Description): void {
    if (this.state === 'closed') return;
    this.describe = response;
    const vm = response.vm;
    if (!vm || !vm.uid) {
      // Before OnDefineDomain the sidecar does not know its VM; ask again soon.
      this.setState('waiting', 'no-vm-yet');
      this.scheduleRetry(this.options.initialBackoffMs);
      return;
    }
    if (vm.podUid !== this.found.podUid) {
      this.hooks.onIdentityMismatch(this, vm.podUid);
      this.log.warn(
        { socket: this.found.socketPath, pathPodUid: this.found.podUid, claimedPodUid: vm.podUid, vm: `${vm.namespace}/${vm.name}` },
        'sidecar refused: its Describe names another pod than its socket path',
      );
      this.setState('refused', 'pod-uid-mismatch');
      return;
    }
    this.openStream();
  }

  private openStream(): void {
    const stream = this.client.watchStats();
    this.stream = stream;
    let ended = false;
    const end = (why: string): void => {
      if (ended || this.stream !== stream) return;
      ended = true;
      this.stream = undefined;
      this.retryLater(why);
    };
    stream.on('data', (sample: WireStatsSample) => this.onSample(decodeSample(sample)));
    stream.on('error', (error: grpc.ServiceError) => end(`stream-error: ${error.details}`));
    stream.on('end', () => end('stream-ended'));
    // Live once the first sample arrives; until then the session waits in 'connecting'.
  }

  private onSample(sample: StatsSample): void {
    const now = this.now();
    this.latest = sample;
    this.lastSampleAtMs = now;
    const phase = sample.phase;
    this.phaseSinceMs = phaseSinceMs({
      phase,
      previousPhase: this.lastPhase,
      previousSinceMs: this.phaseSinceMs,
      agentSinceMs: sample.phaseSinceMs,
      agentBeganEarlier: sample.phaseBeganEarlier,
      nowMs: now,
    });
    this.lastPhase = phase;
    this.history.push(guestSampleOf(sample, now));
    while (this.history.length > this.options.historyLength) this.history.shift();
    if (this.state === 'connecting' || (this.state === 'stale' && this.stateReason === 'stats-silent')) {
      this.setState('live', 'stats-flowing');
    }
    this.hooks.onSample(this);
  }

  /** Skips the sidecar for a back-off; a SetTarget deadline does not break the stream. */
  private markStale(why: string): void {
    if (this.state === 'closed' || this.state === 'refused') return;
    this.skipUntilMs = this.now() + this.backoffMs;
    this.backoffMs = Math.min(this.options.maxBackoffMs, this.backoffMs * 2);
    this.setState('stale', why);
    // Back to live after the back-off if stats still flow (usable() checks silence).
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.state === 'stale' && this.stream) this.setState('live', 'backoff-over');
      else if (this.state === 'stale') this.connect();
    }, Math.max(0, this.skipUntilMs - this.now()));
    this.retryTimer.unref();
  }

  private retryLater(why: string): void {
    if (this.state === 'closed') return;
    this.stream?.cancel();
    this.stream = undefined;
    this.setState('stale', why);
    this.scheduleRetry(this.backoffMs);
    this.backoffMs = Math.min(this.options.maxBackoffMs, this.backoffMs * 2);
  }

  private scheduleRetry(delayMs: number): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect();
    }, delayMs);
    this.retryTimer.unref();
  }

  private setState(to: SessionState, why: string): void {
    const from = this.state;
    this.stateReason = why;
    if (from === to) return;
    this.state = to;
    this.hooks.onStateChange(this, from, to, why);
  }
}
