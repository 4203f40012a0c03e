/**
 * The per-VM agent: follows one QEMU through its QMP side monitor, produces one
 * stats sample per period, and applies balloon targets through the guard.
 *
 * All decisions are the guard's (pure); this module only does the I/O around it:
 * connecting (and reconnecting), finding the balloon, setting the stats period,
 * reading stats and sending `balloon`. A QEMU that is gone, frozen or refusing is
 * reported in the samples (phase "gone", with the reason) and never crashes the
 * sidecar.
 */
import type { Logger } from '../common/log.js';
import { logger } from '../common/log.js';
import { QmpClient } from '../qmp/index.js';
import {
  defaultGuardConfig,
  INITIAL_GUARD_STATE,
  observeActual,
  requestTarget,
  tick,
  type ClampReason,
  type Decision,
  type GuardConfig,
  type GuardState,
  type Observation,
} from './guard.js';
import { findBalloonPath, isStale, parseGuestStats, withRates, type GuestMemoryStats } from './guest-stats.js';
import { phaseOf, runStateAfterEvent, trackPhase, type Phase, type PhaseSince } from './lifecycle.js';
import { applyIoLimits, type DiskIoState } from './io-tune.js';
import type { IoLimits } from '../common/io-limits.js';
import type { DomainDisk } from '../hook-sidecar/domain-facts.js';
import { existsSync } from 'node:fs';
import { DEFAULT_SIDE_MONITOR_GRACE_MS, unmanagedVerdict, type Unmanaged } from './unmanaged.js';
import { memoryLayout, type MemoryLayout } from './memory-layout.js';
import { DEFAULT_MIGRATION_BEHAVIOUR, migrationInProgress, migrationNumbers, NO_MIGRATION, type MigrationBehaviour, type MigrationNumbers } from './migration.js';
import type { StatsSample, TargetReply } from '../api/kubemom-v1.js';

/** One sample as the agent publishes it: the kubemom.v1 StatsSample view, with the agent's own richer records. */
export interface AgentSample extends Omit<StatsSample, 'unmanaged' | 'memory'> {
  unmanaged: Unmanaged | undefined;
  memory: MemoryLayout | undefined;
}

/** The answer to a SetTarget (kubemom.v1's SetTargetResponse view). */
export type TargetResult = TargetReply;

export interface VmAgentOptions {
  /** The QMP side monitor's socket. */
  qmpSocketPath: string;
  guestMemoryBytes: number;
  guaranteedBytes: number;
  /** The VM has no guarantee of its own: the shim's floor (pod memory request) stands in for it. */
  acceptsNodeFloor?: boolean;
  marginBytes: number;
  statsPeriodSeconds: number;
  /** The VMI's disks (their `ua-` aliases are QEMU's qdev ids); none: no IO tune. */
  disks?: readonly DomainDisk[];
  /** kubemom.io/io-limits.<disk>: the owner's limits, applied as soon as QEMU answers. */
  ioLimits?: Readonly<Record<string, IoLimits>>;
  /** Overrides of the guard's defaults (tests, benchmarks). */
  guard?: Partial<GuardConfig>;
  /** The VM is observed only (passthrough devices): the guard never takes memory; this says why. */
  observeOnlyReason?: string;
  /** What the agent does about live migration (each on by default). */
  migration?: Partial<MigrationBehaviour>;
  /** How long the QMP socket may be missing after the VM was defined before the side monitor counts as lost. */
  sideMonitorGraceMs?: number;
  /** Called with every sample (the kubemom.v1 service streams them). */
  onSample?(sample: AgentSample): void;
  /** Per-command timeout; default min(2 s, the period). */
  commandTimeoutMs?: number;
  /** Greeting timeout; default 2 s. */
  greetingTimeoutMs?: number;
  /** While a move is under way, query-balloon runs this often (ms). Default 200. */
  followIntervalMs?: number;
  /** The clock; tests and the simulator pass their own. */
  now?: () => number;
  log?: Logger;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Per-QEMU facts, reset whenever a new connection comes up. */
interface QemuView {
  /** The QMP connection is up. */
  reachable: boolean;
  /** QEMU answered the last command (false while it is frozen). */
  answering: boolean;
  balloonPath: string | undefined;
  runState: string | undefined;
  shutdownSeen: boolean;
  driverReported: boolean;
  actualBytes: number | undefined;
  stats: GuestMemoryStats | undefined;
  unreachableReason: string;
  /** qapi MigrationStatus from the MIGRATION event or query-migrate on this QEMU. */
  migrationStatus: string | undefined;
}

function freshView(reason: string): QemuView {
  return {
    reachable: false,
    answering: true,
    balloonPath: undefined,
    runState: undefined,
    shutdownSeen: false,
    driverReported: false,
    actualBytes: undefined,
    stats: undefined,
    unreachableReason: reason,
    migrationStatus: undefined,
  };
}

export class VmAgent {
  /** The guard's configuration; its guest memory follows memory hotplug (boot + plugged). */
  guardConfig: GuardConfig;
  /** The memory layout last read from QEMU. */
  private layout: MemoryLayout | undefined;
  private readonly qmp: QmpClient;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly periodMs: number;
  private readonly followIntervalMs: number;
  private readonly commandTimeoutMs: number;
  private guardState: GuardState = INITIAL_GUARD_STATE;
  private view: QemuView = freshView('not connected yet');
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private following: Promise<void> | undefined;
  private lastPhase: Phase | undefined;
  private phaseRecord: PhaseSince | undefined;
  /** The agent has read QEMU's state and guest stats at least once on this QMP connection. */
  private lookedSinceConnect = false;
  private latestSample: AgentSample | undefined;
  /** Serialises everything that reads or sends balloon state. */
  private queue: Promise<unknown> = Promise.resolve();
  /** The node policy's limits for every disk (SetIoLimits); {} is none. */
  private policyIo: IoLimits = {};
  private diskStates: DiskIoState[] = [];
  /** When this agent learnt its VM (OnDefineDomain or a saved config). */
  private readonly definedAtMs: number;
  /** The side monitor answered at least once. */
  private everConnected = false;
  private readonly migrationBehaviour: MigrationBehaviour;
  /** The last migration's numbers: kept after it ends, and across QMP connections. */
  private migrationStats: MigrationNumbers = NO_MIGRATION;

  constructor(private readonly options: VmAgentOptions) {
    this.periodMs = options.statsPeriodSeconds * 1000;
    this.guardConfig = {
      ...defaultGuardConfig({
        guestMemoryBytes: options.guestMemoryBytes,
        guaranteedBytes: options.guaranteedBytes,
        marginBytes: options.marginBytes,
        periodSeconds: options.statsPeriodSeconds,
      }),
      ...options.guard,
      ...(options.observeOnlyReason !== undefined ? { observeOnlyReason: options.observeOnlyReason } : {}),
      ...(options.acceptsNodeFloor ? { acceptsNodeFloor: true } : {}),
    };
    this.log = options.log ?? logger('agent');
    this.now = options.now ?? Date.now;
    this.definedAtMs = this.now();
    this.migrationBehaviour = { ...DEFAULT_MIGRATION_BEHAVIOUR, ...options.migration };
    this.followIntervalMs = options.followIntervalMs ?? 200;
    this.commandTimeoutMs = options.commandTimeoutMs ?? Math.min(2000, this.periodMs);
    this.qmp = new QmpClient({
      socketPath: options.qmpSocketPath,
      greetingTimeoutMs: options.greetingTimeoutMs ?? 2000,
      commandTimeoutMs: this.commandTimeoutMs,
      // QEMU may not exist yet (OnDefineDomain runs before the domain starts) or may
      // restart: retry for ever, never slower than every 2 s.
      reconnect: { initialDelayMs: 100, maxDelayMs: 2000 },
      log: this.log,
    });
    this.qmp.on('connected', () => this.onConnected());
    this.qmp.on('disconnected', (err) => this.onDisconnected(err.message));
    this.qmp.on('event', (event) => this.onEvent(event.event, event.data));
  }

  /** Starts connecting and sampling. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.qmp.connect().catch((err: unknown) => this.log.debug({ err: errorText(err) }, 'QMP connect ended'));
    this.loop = this.sampleLoop();
  }

  /** Stops sampling and closes QMP; the balloon stays where it is. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake?.();
    await this.qmp.close();
    await this.loop;
    await this.following;
  }

  /** The phase now. */
  get phase(): Phase {
    const base = phaseOf({ ...this.view, reachable: this.view.reachable && this.view.answering });
    if (base === 'gone' || base === 'stopping') return base;
    // The outgoing migration completed: the VM runs on the target now.
    if (this.migratedAway) return 'gone';
    if (!this.migrationBehaviour.phase) return base;
    return this.migrating ? 'migrating' : base;
  }

  /** A migration is under way on this QEMU (outgoing, or incoming before it completed). */
  get migrating(): boolean {
    return migrationInProgress(this.view.migrationStatus) || this.view.runState === 'inmigrate';
  }

  private get migratedAway(): boolean {
    return this.view.runState === 'postmigrate' && this.view.migrationStatus === 'completed';
  }

  /** The current or last migration's numbers (zero before the first). */
  get migration(): MigrationNumbers {
    return this.migrationStats;
  }

  /**
   * The phase now and when the VM entered it. A change the agent did not witness (the
   * phase QEMU is found in on a connection's first look) is marked as begun earlier.
   */
  phaseSince(): PhaseSince {
    this.phaseRecord = trackPhase(this.phaseRecord, this.phase, this.now(), !this.lookedSinceConnect);
    return this.phaseRecord;
  }

  /** Why KubeMom does not balloon this VM now, if it does not. */
  get unmanaged(): Unmanaged | undefined {
    return unmanagedVerdict({
      observeOnlyReason: this.options.observeOnlyReason,
      definedAtMs: this.definedAtMs,
      everConnected: this.everConnected,
      socketExists: this.everConnected || existsSync(this.options.qmpSocketPath),
      nowMs: this.now(),
      graceMs: this.options.sideMonitorGraceMs ?? DEFAULT_SIDE_MONITOR_GRACE_MS,
    });
  }

  /** QEMU's `actual` as last read (query-balloon or BALLOON_CHANGE). */
  get actualBytes(): number | undefined {
    return this.view.actualBytes;
  }

  /** The latest published sample. */
  get latest(): AgentSample | undefined {
    return this.latestSample;
  }

  /** The guard's state (for Describe, tests and metrics). */
  get guard(): GuardState {
    return this.guardState;
  }

  /** SetTarget: clamps through the guard, sends what it decides, answers with the result. */
  setTarget(requestedBytes: number, reason: string, bounds: { ceilingBytes?: number; floorBytes?: number } = {}): Promise<TargetResult> {
    return this.serial(async () => {
      const obs = this.observation();
      if (obs.actualBytes !== undefined) this.guardState = observeActual(this.guardConfig, this.guardState, obs.nowMs, obs.actualBytes).state;
      const decision = requestTarget(this.guardConfig, this.guardState, obs, requestedBytes, bounds);
      this.log.info(
        { requested: requestedBytes, reason, ...bounds, applied: decision.appliedBytes, goal: decision.goalBytes, clamp: decision.clamp, detail: decision.detail },
        'SetTarget',
      );
      await this.apply(decision);
      return {
        appliedBytes: decision.appliedBytes,
        goalBytes: decision.goalBytes,
        clamp: decision.clamp,
        detail: decision.detail,
        actualBytes: this.view.actualBytes,
        phase: this.phase,
      };
    });
  }

  /** Each disk's IO state as of the last apply (owner limits only until QEMU answered). */
  get disks(): DiskIoState[] {
    if (this.diskStates.length > 0) return this.diskStates;
    return (this.options.disks ?? []).map((d) => ({ name: d.name, qdev: '', ownerLimits: this.options.ioLimits?.[d.name] ?? {}, applied: {}, error: 'not applied yet' }));
  }

  /** The node policy's current IO limits. */
  get policyIoLimits(): IoLimits {
    return this.policyIo;
  }

  /**
   * SetIoLimits: the node policy's limits for every disk ({} lifts them), combined with
   * the owner's and applied at once when QEMU answers (else on the next connection).
   */
  setIoLimits(policy: IoLimits, reason: string): Promise<DiskIoState[]> {
    this.policyIo = policy;
    return this.serial(async () => {
      if (!(this.view.reachable && this.qmp.state === 'ready')) {
        return this.disks.map((d) => ({ ...d, error: `QMP ${this.qmp.state}: applied when QEMU answers` }));
      }
      await this.applyIo();
      this.log.info({ policy, reason, disks: this.diskStates.map((d) => ({ name: d.name, applied: d.applied, error: d.error || undefined })) }, 'SetIoLimits');
      return this.diskStates;
    });
  }

  private async applyIo(): Promise<void> {
    const disks = this.options.disks ?? [];
    if (disks.length === 0) return;
    try {
      this.diskStates = await applyIoLimits(this.qmp, disks, this.options.ioLimits ?? {}, this.policyIo, { timeoutMs: this.commandTimeoutMs });
      for (const d of this.diskStates) if (d.error) this.log.warn({ disk: d.name, err: d.error }, 'disk not throttled');
    } catch (err) {
      this.log.warn({ err: errorText(err) }, 'IO limits not applied');
      this.diskStates = this.disks.map((d) => ({ ...d, error: errorText(err) }));
    }
  }

  // ---- QMP session ----

  private onConnected(): void {
    // A new connection may be a new QEMU (restart): forget everything about the old one.
    this.view = { ...freshView(''), reachable: true };
    this.everConnected = true;
    this.layout = undefined;
    // Possibly a QEMU that ran before this connection: its phase start is not known.
    this.lookedSinceConnect = false;
    this.guardState = { ...INITIAL_GUARD_STATE, ...(this.guardState.lastShimContactMs !== undefined ? { lastShimContactMs: this.guardState.lastShimContactMs } : {}) };
    this.log.info({ socket: this.options.qmpSocketPath }, 'QMP connected');
    void this.serial(() => this.setUp()).then(() => this.wake?.());
  }

  private onDisconnected(reason: string): void {
    this.view = { ...this.view, reachable: false, unreachableReason: reason };
    this.publish();
  }

  private onEvent(name: string, data: Readonly<Record<string, unknown>> | undefined): void {
    if (name === 'BALLOON_CHANGE' && typeof data?.['actual'] === 'number') {
      this.view.actualBytes = this.fromQemu(data['actual']);
      return;
    }
    if (name === 'MIGRATION' && typeof data?.['status'] === 'string') {
      this.view.migrationStatus = data['status'];
      this.log.info({ status: data['status'] }, 'migration');
      this.publishIfPhaseChanged();
      // Read the numbers now (query-migrate), not a period later: setup's and completion's matter.
      this.wake?.();
      return;
    }
    const runState = runStateAfterEvent(name, this.view.runState);
    if (runState === this.view.runState && name !== 'SHUTDOWN') return;
    this.view.runState = runState;
    if (name === 'SHUTDOWN') this.view.shutdownSeen = true;
    this.publishIfPhaseChanged();
  }

  /** Finds the balloon and sets the stats period; runs on every new connection. */
  private async setUp(): Promise<void> {
    try {
      const status = await this.qmp.queryStatus();
      this.view.runState = status.status;
      // A new QEMU has no throttles: the owner's (and the policy's) limits go first.
      await this.applyIo();
      const path = findBalloonPath(await this.qmp.qomList('/machine/peripheral'));
      if (!path) {
        this.view.unreachableReason = 'QEMU has no virtio-balloon device under /machine/peripheral';
        this.log.warn('no balloon device found');
        return;
      }
      await this.readMigration();
      await this.readMemoryLayout();
      await this.qmp.qomSet(path, 'guest-stats-polling-interval', this.options.statsPeriodSeconds);
      this.view.balloonPath = path;
      this.view.actualBytes = this.fromQemu((await this.qmp.queryBalloon()).actual);
      this.log.info({ balloon: path, periodSeconds: this.options.statsPeriodSeconds }, 'balloon found, stats polling set');
    } catch (err) {
      this.log.warn({ err: errorText(err) }, 'QMP set-up failed; retrying next period');
    }
  }

  // ---- sampling ----

  private async sampleLoop(): Promise<void> {
    while (this.running) {
      const started = this.now();
      await this.serial(() => this.sampleOnce()).catch((err: unknown) => this.log.error({ err: errorText(err) }, 'sample failed'));
      const wait = Math.max(0, this.periodMs - (this.now() - started));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  private async sampleOnce(): Promise<void> {
    let looked = false;
    if (this.view.reachable && this.qmp.state === 'ready') {
      if (!this.view.balloonPath) await this.setUp();
      const path = this.view.balloonPath;
      try {
        const status = await this.qmp.queryStatus();
        this.view.runState = status.status;
        await this.readMigration();
        await this.readMemoryLayout();
        if (path) {
          this.view.actualBytes = this.fromQemu((await this.qmp.queryBalloon()).actual);
          const raw = parseGuestStats(await this.qmp.qomGet(path, 'guest-stats'));
          if (raw) {
            this.view.stats = withRates(raw, this.view.stats);
            this.view.driverReported = true;
          }
          looked = true;
        }
        this.view.answering = true;
        this.view.unreachableReason = '';
      } catch (err) {
        // A frozen QEMU (SIGSTOP) keeps the socket but answers nothing: report it as gone.
        // The next period tries again on the same connection; the client reconnects if it drops.
        this.view.unreachableReason = errorText(err);
        this.view.answering = false;
        // After QEMU announced its SHUTDOWN, a poll that finds it gone is the expected end, not a problem.
        if (this.view.shutdownSeen) this.log.info({ err: this.view.unreachableReason }, 'QEMU gone after SHUTDOWN');
        else this.log.warn({ err: this.view.unreachableReason }, 'QEMU did not answer');
        this.publish();
        return;
      }
    } else {
      this.view.reachable = false;
      if (!this.view.unreachableReason) this.view.unreachableReason = `QMP ${this.qmp.state}`;
    }
    const decision = tick(this.guardConfig, this.guardState, this.observation());
    await this.apply(decision);
    this.publish();
    // Phase changes after this first full look (status and stats) are ones the agent saw happen.
    if (looked) this.lookedSinceConnect = true;
  }

  private observation(): Observation {
    const nowMs = this.now();
    const stats = this.view.stats;
    return {
      nowMs,
      phase: this.phase,
      actualBytes: this.view.actualBytes,
      stats,
      stale: stats ? isStale(stats.lastUpdateUnixSeconds, nowMs, this.options.statsPeriodSeconds) : false,
      migrating: this.migrationBehaviour.hold && this.migrating,
    };
  }

  /** The memory layout QEMU reported last (undefined before it answered). */
  get memory(): MemoryLayout | undefined {
    return this.layout;
  }

  /** query-balloon's `actual` (boot RAM only) in the agent's units: the whole guest. */
  private fromQemu(actual: number): number {
    return actual + (this.layout?.outsideBalloonBytes ?? 0);
  }

  /** A target for the whole guest as QEMU's `balloon` takes it: relative to boot RAM. */
  private toQemu(target: number): number {
    return Math.max(4096, target - (this.layout?.outsideBalloonBytes ?? 0));
  }

  /**
   * Reads boot and plugged memory (query-memory-size-summary, query-memory-devices). When
   * memory was plugged or unplugged, the guard's guest memory follows, and its targets
   * shift with the memory outside the balloon so that QEMU's own target, and what the
   * balloon holds, stay as they were.
   */
  private async readMemoryLayout(): Promise<void> {
    let next: MemoryLayout | undefined;
    try {
      const summary = await this.qmp.execute('query-memory-size-summary', undefined, { timeoutMs: this.commandTimeoutMs });
      const devices = await this.qmp.execute('query-memory-devices', undefined, { timeoutMs: this.commandTimeoutMs });
      next = memoryLayout(summary, devices);
    } catch (err) {
      this.log.debug({ err: errorText(err) }, 'memory layout not read');
      return;
    }
    if (!next) return;
    const delta = next.outsideBalloonBytes - (this.layout?.outsideBalloonBytes ?? 0);
    const grew = next.guestBytes !== this.guardConfig.guestMemoryBytes;
    if (delta !== 0 && this.view.actualBytes !== undefined) this.view.actualBytes += delta;
    if (delta !== 0) {
      const g = this.guardState;
      this.guardState = {
        ...g,
        ...(g.appliedBytes !== undefined ? { appliedBytes: g.appliedBytes + delta } : {}),
        ...(g.goalBytes !== undefined ? { goalBytes: g.goalBytes + delta } : {}),
      };
    }
    this.layout = next;
    if (grew) {
      this.log.info({ bootBytes: next.bootBytes, pluggedBytes: next.pluggedBytes, virtioMem: next.virtioMem }, 'guest memory changed (hotplug)');
      this.guardConfig = { ...this.guardConfig, guestMemoryBytes: next.guestBytes };
    }
  }

  /** query-migrate: the status (on every look, so a missed event does not matter) and, if asked, the numbers. */
  private async readMigration(): Promise<void> {
    const b = this.migrationBehaviour;
    if (!b.phase && !b.hold && !b.metrics) return;
    try {
      const reply = await this.qmp.execute('query-migrate', undefined, { timeoutMs: this.commandTimeoutMs });
      const status = (reply as { status?: unknown } | undefined)?.status;
      this.view.migrationStatus = typeof status === 'string' ? status : 'none';
      // Nothing to read before the first migration: the zeros stay.
      if (b.metrics && this.view.migrationStatus !== 'none') this.migrationStats = migrationNumbers(reply, this.migrationStats);
    } catch (err) {
      this.log.debug({ err: errorText(err) }, 'query-migrate failed');
    }
  }

  private publish(): void {
    const obs = this.observation();
    const since = this.phaseSince();
    const sample: AgentSample = {
      sampledAtMs: obs.nowMs,
      phase: obs.phase,
      phaseSinceMs: since.sinceMs,
      phaseBeganEarlier: since.beganEarlier,
      guest: obs.phase === 'gone' ? undefined : this.view.stats,
      stale: obs.stale,
      balloonActualBytes: this.view.actualBytes,
      balloonTargetBytes: this.guardState.appliedBytes,
      balloonGoalBytes: this.guardState.goalBytes,
      selfProtectionReason: this.guardState.selfProtectionReason,
      unreachableReason:
        obs.phase !== 'gone' ? '' : this.migratedAway ? 'the VM migrated away (the outgoing migration completed)' : this.view.unreachableReason || 'QEMU unreachable',
      holding: this.guardState.holding,
      unmanaged: this.unmanaged,
      migration: this.migrationBehaviour.metrics ? this.migrationStats : undefined,
      memory: this.layout,
    };
    this.lastPhase = sample.phase;
    this.latestSample = sample;
    try {
      this.options.onSample?.(sample);
    } catch (err) {
      this.log.error({ err: errorText(err) }, 'sample listener failed');
    }
  }

  private publishIfPhaseChanged(): void {
    if (this.phase !== this.lastPhase) this.publish();
  }

  // ---- balloon ----

  /** Records the guard's new state and sends its target, then follows the move. */
  private async apply(decision: Decision): Promise<void> {
    this.guardState = decision.state;
    if (decision.send === undefined) return;
    try {
      await this.qmp.balloon(this.toQemu(decision.send));
      this.log.info({ target: decision.send, reason: this.guardState.selfProtectionReason || undefined }, 'balloon target sent');
    } catch (err) {
      // QEMU may still execute it (a frozen QEMU reads it when it resumes); the next
      // samples show where the balloon really is.
      this.log.warn({ target: decision.send, err: errorText(err) }, 'balloon command failed');
    }
    this.following ??= this.follow().finally(() => (this.following = undefined));
  }

  /** Polls query-balloon until the move is reached or abandoned, so the next step can come sooner. */
  private async follow(): Promise<void> {
    while (this.running && this.guardState.appliedBytes !== undefined && this.guardState.reachedAtMs === undefined) {
      await new Promise((resolve) => setTimeout(resolve, this.followIntervalMs));
      if (!this.running) return;
      await this.serial(async () => {
        if (this.qmp.state !== 'ready') return;
        try {
          this.view.actualBytes = this.fromQemu((await this.qmp.queryBalloon({ timeoutMs: this.commandTimeoutMs })).actual);
        } catch {
          return;
        }
        const decision = observeActual(this.guardConfig, this.guardState, this.now(), this.view.actualBytes);
        this.guardState = decision.state;
        if (decision.send !== undefined) {
          await this.qmp.balloon(this.toQemu(decision.send)).catch((err: unknown) => this.log.warn({ err: errorText(err) }, 'balloon command failed'));
        }
      });
      if (this.view.reachable === false) return;
    }
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
