/**
 * The shim's policy loop: every period, and at once on a pressure event, it takes a
 * host sample, gathers every usable sidecar's latest state, runs the policy, sends
 * the balloon targets (all concurrently, each with its own deadline: a slow sidecar
 * never delays the others or the next cycle) and applies the KSM settings.
 *
 * Cycles never overlap: a pressure event during a cycle runs another right after.
 * A policy that throws makes no decision in that cycle (MOM's rule: no controller
 * runs), with a metric and a log line.
 */
import type { Logger } from '../common/log.js';
import { sameRates } from '../balloon/io-pressure.js';
import type { BalloonDecision, GuestState, Policy, PolicyDecisions, PolicyInput } from '../policy/types.js';
import type { HostMonitor } from './host/host-monitor.js';
import type { KsmdCpuMeter } from './host/ksmd-cpu.js';
import type { KsmController } from './ksm.js';
import { CLAMP_TO_WIRE } from '../api/kubemom-v1.js';
import type { SetTargetOutcome, SidecarSession } from './session.js';

export type LoopTrigger = 'period' | 'pressure' | 'manual';

/** One balloon decision and what came of it. */
export interface DecisionRecord {
  atMs: number;
  trigger: LoopTrigger;
  guestId: string;
  targetBytes: number;
  reason: string;
  /** applied, unchanged (not resent), skipped-*, deadline, error, unknown-guest. */
  outcome?: string;
  appliedBytes?: number;
  clamp?: string;
}

export interface CycleResult {
  trigger: LoopTrigger;
  nowMs: number;
  input: PolicyInput;
  decisions: PolicyDecisions | undefined;
  /** Wall time of the cycle up to the last SetTarget being sent, ms. */
  durationMs: number;
  /** performance.now() when the last SetTarget of the cycle was sent (undefined: none). */
  lastSendAt: number | undefined;
  records: DecisionRecord[];
  /** Resolves when every SetTarget of the cycle has answered or missed its deadline. */
  settled: Promise<void>;
}

export interface LoopObserver {
  onCycle?(result: CycleResult, sessions: readonly SidecarSession[], extra: { ksm?: Record<string, number>; ksmdCpu?: number }): void;
  onDecisionOutcome?(record: DecisionRecord, outcome: SetTargetOutcome | undefined, session: SidecarSession | undefined): void;
  onPolicyError?(error: Error): void;
  /** `ignored` claims the VM `owner` already serves; it gets no target. */
  onIdentityConflict?(ignored: SidecarSession, owner: SidecarSession): void;
  onPressure?(atMs: number, sendLatencyMs: number | undefined): void;
  onIoDecision?(guestId: string, outcome: 'applied' | 'skipped' | 'error'): void;
}


export interface LoopDependencies<S> {
  policy: Policy<S>;
  host: HostMonitor;
  sessions: () => SidecarSession[];
  ksm?: KsmController;
  ksmdCpu?: KsmdCpuMeter;
  log: Logger;
  observer?: LoopObserver;
  now?: () => number;
}

export interface LoopOptions {
  periodMs: number;
  /**
   * An unchanged target is sent again after this long (default 10 s): SetTarget is the
   * agent's sign that the shim is alive; without it the agent holds its target on its own.
   */
  heartbeatMs?: number;
  /** Decision records kept for inspection; default 1000. */
  keepDecisions?: number;
}

export class ShimLoop<S> {
  /** The most recent decisions, oldest first. */
  readonly decisions: DecisionRecord[] = [];
  lastCycleAtMs: number | undefined;
  cycles = 0;
  private state: S;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<CycleResult | undefined> | undefined;
  private pendingPressureAt: number | undefined;
  private stopped = true;
  /** What each sidecar was last asked and when, to avoid resending an unchanged target. */
  private readonly lastRequested = new WeakMap<SidecarSession, { target: number; atMs: number }>();
  /** Sessions already reported for claiming a VM another session owns. */
  private readonly conflicted = new WeakSet<SidecarSession>();
  private readonly now: () => number;

  constructor(
    private readonly deps: LoopDependencies<S>,
    private readonly options: LoopOptions,
  ) {
    this.state = deps.policy.initialState();
    this.now = deps.now ?? Date.now;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The policy in force. */
  get policy(): Policy<S> {
    return this.deps.policy;
  }

  /**
   * Puts another policy in force from the next cycle on (a cycle in progress finishes
   * with the old one: cycles are synchronous up to their last SetTarget). The new policy
   * starts from its own initial state.
   */
  setPolicy(policy: Policy<S>): void {
    this.deps.policy = policy;
    this.state = policy.initialState();
  }

  /** A pressure event: run a cycle now (or right after the one in progress). */
  wake(atPerfMs: number = performance.now()): void {
    if (this.stopped) return;
    if (this.running) {
      this.pendingPressureAt ??= atPerfMs;
      return;
    }
    void this.run('pressure', atPerfMs);
  }

  /** Runs one cycle now, outside the schedule (tests, the CLI's --once). */
  runOnce(trigger: LoopTrigger = 'manual'): Promise<CycleResult | undefined> {
    return this.run(trigger, undefined);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run('period', undefined);
    }, delayMs);
  }

  /**
   * Which session owns each VM name. A sidecar's identity is proven only as far as its
   * socket path goes (the pod); the namespace/name it claims is not. When two sidecars
   * claim the same VM, the one the shim has known the longest (registry order) keeps it,
   * even while it is stale, and the newcomer gets no target: a sidecar can never take
   * over another VM's decisions by claiming its name.
   */
  private claimOwners(sessions: readonly SidecarSession[]): Map<string, SidecarSession> {
    const owners = new Map<string, SidecarSession>();
    for (const session of sessions) {
      const vm = session.describe?.vm;
      if (!vm || !vm.uid || session.state === 'refused' || session.state === 'closed') continue;
      const id = session.id;
      const owner = owners.get(id);
      if (!owner) {
        owners.set(id, session);
      } else if (!this.conflicted.has(session)) {
        this.conflicted.add(session);
        this.deps.log.warn(
          { vm: id, kept: owner.found.socketPath, ignored: session.found.socketPath },
          'two sidecars claim the same VM; the newer one gets no target',
        );
        this.deps.observer?.onIdentityConflict?.(session, owner);
      }
    }
    return owners;
  }

  private async run(trigger: LoopTrigger, pressureAt: number | undefined): Promise<CycleResult | undefined> {
    if (this.running) {
      await this.running;
      return this.run(trigger, pressureAt);
    }
    const running = (async () => {
      try {
        const result = this.cycle(trigger);
        if (result && pressureAt !== undefined) {
          const latency = result.lastSendAt !== undefined ? result.lastSendAt - pressureAt : undefined;
          this.deps.observer?.onPressure?.(pressureAt, latency);
        }
        return result;
      } catch (error) {
        this.deps.log.error({ err: (error as Error).message, stack: (error as Error).stack }, 'loop cycle failed');
        return undefined;
      }
    })();
    this.running = running;
    const result = await running;
    this.running = undefined;
    if (!this.stopped) {
      const pending = this.pendingPressureAt;
      this.pendingPressureAt = undefined;
      if (pending !== undefined) void this.run('pressure', pending);
      else if (trigger !== 'manual') this.schedule(this.options.periodMs);
    }
    return result;
  }

  /** The synchronous part of a cycle: everything up to the last SetTarget sent. */
  private cycle(trigger: LoopTrigger): CycleResult | undefined {
    const started = performance.now();
    const nowMs = this.now();
    const { host, ksm, ksmdCpu, log } = this.deps;
    host.sample(nowMs, trigger === 'pressure');
    const ksmValues = ksm?.available() ? ksm.read() : undefined;
    const ksmdFraction = ksmdCpu?.sample(nowMs);

    const sessions = this.deps.sessions();
    const owners = this.claimOwners(sessions);
    const byGuest = new Map<string, SidecarSession>();
    const guests: GuestState[] = [];
    for (const session of sessions) {
      if (!session.usable(nowMs)) continue;
      const guest = session.guestState();
      if (!guest || byGuest.has(guest.id) || owners.get(guest.id) !== session) continue;
      byGuest.set(guest.id, session);
      guests.push(guest);
    }
    const advisorMode = ksmValues ? ksm?.advisorMode() : undefined;
    const extra: { ksm?: Record<string, number>; ksmAdvisorMode?: string; ksmShareableBytes?: number; ksmdCpuPercent?: number } = {
      // QEMU marks all guest RAM mergeable: what KSM could merge is the guests' memory.
      ksmShareableBytes: guests.reduce((sum, g) => sum + g.guestMemoryBytes, 0),
    };
    if (ksmValues) extra.ksm = ksmValues;
    if (advisorMode !== undefined) extra.ksmAdvisorMode = advisorMode;
    if (ksmdFraction !== undefined) extra.ksmdCpuPercent = ksmdFraction * 100;
    const input: PolicyInput = { nowMs, host: host.state(extra), guests };

    let decisions: PolicyDecisions | undefined;
    try {
      const evaluated = this.deps.policy.evaluate(input, this.state);
      decisions = evaluated.decisions;
      this.state = evaluated.state;
    } catch (error) {
      log.error({ policy: this.deps.policy.name, err: (error as Error).message }, 'policy evaluation failed; no action this cycle');
      this.deps.observer?.onPolicyError?.(error as Error);
    }
    if (decisions?.notRun !== undefined) {
      // The policy could not decide (e.g. no host sample yet): act on nothing this cycle.
      log.debug({ policy: this.deps.policy.name, why: decisions.notRun }, 'policy did not run; no action this cycle');
      decisions = undefined;
    }

    const records: DecisionRecord[] = [];
    const pending: Array<Promise<void>> = [];
    let lastSendAt: number | undefined;
    for (const decision of dispatchOrder(decisions?.balloons ?? [], byGuest)) {
      const record: DecisionRecord = { atMs: nowMs, trigger, guestId: decision.guestId, targetBytes: decision.targetBytes, reason: decision.reason };
      records.push(record);
      const session = byGuest.get(decision.guestId);
      if (!session) {
        record.outcome = 'unknown-guest';
        this.deps.observer?.onDecisionOutcome?.(record, undefined, undefined);
        continue;
      }
      const target = Math.round(decision.targetBytes);
      const applied = session.lastApplied?.appliedBytes;
      const previous = this.lastRequested.get(session);
      const heartbeatDue = previous !== undefined && nowMs - previous.atMs >= (this.options.heartbeatMs ?? 10_000);
      if (previous?.target === target && !heartbeatDue && applied !== undefined && session.latest?.balloonTargetBytes === applied) {
        record.outcome = 'unchanged';
        this.deps.observer?.onDecisionOutcome?.(record, undefined, session);
        continue;
      }
      this.lastRequested.set(session, { target, atMs: nowMs });
      const call = session.setTarget(target, decision.reason);
      lastSendAt = performance.now();
      pending.push(
        call.then((outcome) => {
          if (outcome.kind === 'applied') {
            record.outcome = 'applied';
            record.appliedBytes = outcome.response.appliedBytes;
            record.clamp = CLAMP_TO_WIRE[outcome.response.clamp];
          } else if (outcome.kind === 'skipped') {
            record.outcome = `skipped-${outcome.why}`;
            this.lastRequested.delete(session);
          } else {
            record.outcome = outcome.why;
            this.lastRequested.delete(session);
          }
          this.deps.observer?.onDecisionOutcome?.(record, outcome, session);
        }),
      );
    }
    if (decisions?.ksmAdvisorMode !== undefined && ksm?.setAdvisorMode(decisions.ksmAdvisorMode, nowMs)) {
      log.info({ advisorMode: decisions.ksmAdvisorMode }, 'KSM advisor mode applied');
    }
    for (const io of decisions?.io ?? []) {
      const session = byGuest.get(io.guestId);
      // Only changes are sent: the sidecar keeps the limits until told otherwise.
      if (!session || sameRates(session.ioLimitsSent, io.limits)) continue;
      pending.push(
        session.setIoLimits(io.limits, io.reason).then((outcome) => {
          const line = { guest: io.guestId, limits: io.limits, reason: io.reason, outcome };
          if (outcome === 'error') log.warn(line, 'SetIoLimits failed');
          else log.info(line, 'IO limits decision');
          this.deps.observer?.onIoDecision?.(io.guestId, outcome);
        }),
      );
    }
    if (decisions && ksm && Object.keys(decisions.ksm).length > 0) {
      const applied = ksm.apply(decisions.ksm, nowMs);
      if (Object.keys(applied.written).length > 0) log.info({ written: applied.written }, 'KSM settings applied');
    }
    for (const record of records) {
      this.decisions.push(record);
      if (record.targetBytes !== undefined) log.debug(record, 'balloon decision');
    }
    const keep = this.options.keepDecisions ?? 1000;
    if (this.decisions.length > keep) this.decisions.splice(0, this.decisions.length - keep);

    const durationMs = performance.now() - started;
    this.cycles++;
    this.lastCycleAtMs = nowMs;
    const result: CycleResult = {
      trigger,
      nowMs,
      input,
      decisions,
      durationMs,
      lastSendAt,
      records,
      settled: Promise.all(pending).then(() => undefined),
    };
    const extraOut: { ksm?: Record<string, number>; ksmdCpu?: number } = {};
    if (ksmValues) extraOut.ksm = ksmValues;
    if (ksmdFraction !== undefined) extraOut.ksmdCpu = ksmdFraction;
    this.deps.observer?.onCycle?.(result, sessions, extraOut);
    return result;
  }
}

/**
 * The order in which targets are sent: the biggest reclaims first (a call costs
 * the shim about half a millisecond in grpc-js, so with hundreds of changed targets
 * the first ones land noticeably sooner), then everything else in the policy's order.
 */
export function dispatchOrder(balloons: readonly BalloonDecision[], byGuest: ReadonlyMap<string, SidecarSession>): BalloonDecision[] {
  const reclaim = (d: BalloonDecision): number => {
    const actual = byGuest.get(d.guestId)?.latest?.balloonActualBytes ?? 0;
    return actual > 0 ? actual - d.targetBytes : 0;
  };
  return balloons
    .map((d, index) => ({ d, index, r: reclaim(d) }))
    .sort((a, b) => (b.r > 0 || a.r > 0 ? Math.max(b.r, 0) - Math.max(a.r, 0) : 0) || a.index - b.index)
    .map((x) => x.d);
}
