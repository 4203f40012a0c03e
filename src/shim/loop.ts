/**
 * The shim's policy loop: every period, and at once on a pressure event, it takes a
 * host sample, gathers every usable sidecar's latest state, runs the policy, sends
 * the balloon targets (all concurrently, each with its own deadline: a slow sidecar
 * never delays the others or the next cycle) and applies the KSM settings.
 *
 * A cycle reads like MOM's: gather (host, KSM, the usable sidecars' guests), evaluate (the
 * policy), actuate (the balloon, IO and KSM controllers in src/shim/controllers/).
 *
 * Cycles never overlap: a pressure event during a cycle runs another right after.
 * A policy that throws makes no decision in that cycle (MOM's rule: no controller
 * runs), with a metric and a log line.
 */
import type { Logger } from '../common/log.js';
import type { GuestState, Policy, PolicyDecisions, PolicyInput } from '../policy/types.js';
import { BalloonController } from './controllers/balloon.js';
import { actuateIo } from './controllers/io.js';
import { actuateKsm } from './controllers/ksm.js';
import type { DecisionRecord, LoopTrigger } from './controllers/records.js';
import type { HostMonitor } from './host/host-monitor.js';
import type { KsmdCpuMeter } from './host/ksmd-cpu.js';
import type { Verdict } from './kube/pod-floors.js';
import type { KsmController } from './ksm.js';
import type { SetTargetOutcome, SidecarSession } from './session.js';
import { boundDecisions, type BoundedDecision } from './pod-bounds.js';

export type { DecisionRecord, LoopTrigger };
export { dispatchOrder } from './controllers/balloon.js';
import { boundsKey } from './controllers/balloon.js';

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
  /** A sidecar whose claim the Kubernetes API contradicts (reported once per session). */
  onImpostor?(session: SidecarSession, why: string): void;
  /** A decision the pod bounds changed (or made: a guest above its ceiling the policy left alone). */
  onBound?(bounded: BoundedDecision): void;
}


export interface LoopDependencies<S> {
  policy: Policy<S>;
  host: HostMonitor;
  sessions: () => SidecarSession[];
  ksm?: KsmController;
  ksmdCpu?: KsmdCpuMeter;
  /**
   * The Kubernetes API's word on a sidecar's claim (its pod's namespace and VMI): a mismatch is an impostor,
   * left out of the cycle; unseen (a synced watch without its pod) is left out until the pod shows; unknown
   * (no API, watch not synced) lets the session through.
   */
  vouch?: (session: SidecarSession) => Verdict;
  /** Measures each VM pod's bounds (ceiling, node floor) before the policy runs. */
  bounds?: { refresh(sessions: readonly SidecarSession[]): void };
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
  private readonly balloons: BalloonController;
  /** Sessions already reported for claiming a VM another session owns. */
  private readonly conflicted = new WeakSet<SidecarSession>();
  /** Sessions already reported as impostors by the Kubernetes API. */
  private readonly impostors = new WeakSet<SidecarSession>();
  /** Sessions whose pod the synced watch has not listed, already logged. */
  private readonly unseen = new WeakSet<SidecarSession>();
  private readonly now: () => number;

  constructor(
    private readonly deps: LoopDependencies<S>,
    private readonly options: LoopOptions,
  ) {
    this.state = deps.policy.initialState();
    this.now = deps.now ?? Date.now;
    this.balloons = new BalloonController(options.heartbeatMs ?? 10_000, (record, outcome, session) => this.deps.observer?.onDecisionOutcome?.(record, outcome, session));
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
    const gathered = this.gather(nowMs, trigger);
    const evaluated = this.evaluate(gathered.input);
    const { decisions, boundBy } = this.bound(evaluated, gathered);
    const actuated = this.actuate(decisions, gathered.byGuest, nowMs, trigger);
    for (const record of actuated.records) {
      const bound = boundBy.get(record.guestId);
      if (bound !== undefined) record.bound = bound;
    }
    return this.finish({ trigger, nowMs, input: gathered.input, decisions, durationMs: performance.now() - started, ...actuated }, gathered);
  }

  /** Gather: the host and KSM samples and every usable sidecar's guest, each VM from the session that owns it. */
  private gather(nowMs: number, trigger: LoopTrigger): Gathered {
    const { host, ksm, ksmdCpu } = this.deps;
    host.sample(nowMs, trigger === 'pressure');
    const ksmValues = ksm?.available() ? ksm.read() : undefined;
    const ksmdFraction = ksmdCpu?.sample(nowMs);
    const sessions = this.vouched(this.deps.sessions());
    this.deps.bounds?.refresh(sessions);
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
    return { input: { nowMs, host: host.state(extra), guests }, sessions, byGuest, ksmValues, ksmdFraction };
  }

  /** Evaluate: the policy's decisions, or none when it threw or could not run (MOM's rule: no controller runs). */
  private evaluate(input: PolicyInput): PolicyDecisions | undefined {
    const { log } = this.deps;
    let decisions: PolicyDecisions | undefined;
    try {
      const evaluated = this.deps.policy.evaluate(input, this.state);
      decisions = evaluated.decisions;
      this.state = evaluated.state;
    } catch (error) {
      log.error({ policy: this.deps.policy.name, err: (error as Error).message }, 'policy evaluation failed; no action this cycle');
      this.deps.observer?.onPolicyError?.(error as Error);
      return undefined;
    }
    if (decisions.notRun !== undefined) {
      // The policy could not decide (e.g. no host sample yet): act on nothing this cycle.
      log.debug({ policy: this.deps.policy.name, why: decisions.notRun }, 'policy did not run; no action this cycle');
      return undefined;
    }
    return decisions;
  }

  /**
   * The one clamp after the policy, whatever policy ran: every target within its pod's [floor, ceiling], a guest
   * left above its ceiling brought down, and changed bounds sent even to a guest the policy holds (its goal
   * again, with them). A passive policy (observe, static) moves nothing, and neither does the shim for it.
   */
  private bound(decisions: PolicyDecisions | undefined, gathered: Gathered): { decisions: PolicyDecisions | undefined; boundBy: Map<string, string> } {
    const boundBy = new Map<string, string>();
    if (!decisions || this.deps.policy.passive) return { decisions, boundBy };
    const b = boundDecisions(decisions.balloons, gathered.input.guests);
    for (const x of b.bounded) {
      boundBy.set(x.guestId, x.bound);
      this.deps.observer?.onBound?.(x);
    }
    const decided = new Set(b.balloons.map((d) => d.guestId));
    for (const [id, session] of gathered.byGuest) {
      const goal = session.latest?.balloonGoalBytes || session.latest?.balloonTargetBytes || 0;
      if (decided.has(id) || goal <= 0 || this.balloons.boundsSent(session) === boundsKey(session)) continue;
      b.balloons.push({ guestId: id, targetBytes: goal, reason: 'pod-bounds' });
    }
    return { decisions: { ...decisions, balloons: b.balloons }, boundBy };
  }

  /** The sessions the Kubernetes API does not contradict (all of them without the API). */
  private vouched(sessions: SidecarSession[]): SidecarSession[] {
    const vouch = this.deps.vouch;
    if (!vouch) return sessions;
    return sessions.filter((session) => {
      const verdict = vouch(session);
      if (verdict.kind === 'ok' || verdict.kind === 'unknown') {
        this.unseen.delete(session);
        return true;
      }
      if (verdict.kind === 'unseen') {
        if (!this.unseen.has(session)) {
          this.unseen.add(session);
          this.deps.log.warn({ vm: session.id, socket: session.found.socketPath, why: verdict.why }, "a sidecar's pod is not in the Kubernetes API's view of this node; it gets no target until the pod shows (check --node-name if this lasts)");
        }
        return false;
      }
      if (!this.impostors.has(session)) {
        this.impostors.add(session);
        this.deps.log.warn({ vm: session.id, socket: session.found.socketPath, why: verdict.why }, "the Kubernetes API contradicts a sidecar's claim; it gets no target");
        this.deps.observer?.onImpostor?.(session, verdict.why);
      }
      return false;
    });
  }

  /** Actuate: the balloon, IO and KSM controllers. */
  private actuate(decisions: PolicyDecisions | undefined, byGuest: ReadonlyMap<string, SidecarSession>, nowMs: number, trigger: LoopTrigger): Pick<CycleResult, 'records' | 'lastSendAt' | 'settled'> {
    const balloons = this.balloons.actuate(decisions?.balloons ?? [], byGuest, nowMs, trigger);
    const io = actuateIo(decisions?.io ?? [], byGuest, this.deps.log, this.deps.observer?.onIoDecision?.bind(this.deps.observer));
    if (decisions) actuateKsm(decisions, this.deps.ksm, nowMs, this.deps.log);
    return { records: balloons.records, lastSendAt: balloons.lastSendAt, settled: Promise.all([...balloons.pending, ...io]).then(() => undefined) };
  }

  /** Keeps the cycle's records, counts it and tells the observer. */
  private finish(result: CycleResult, gathered: Gathered): CycleResult {
    for (const record of result.records) {
      this.decisions.push(record);
      this.deps.log.debug(record, 'balloon decision');
    }
    const keep = this.options.keepDecisions ?? 1000;
    if (this.decisions.length > keep) this.decisions.splice(0, this.decisions.length - keep);
    this.cycles++;
    this.lastCycleAtMs = result.nowMs;
    const extraOut: { ksm?: Record<string, number>; ksmdCpu?: number } = {};
    if (gathered.ksmValues) extraOut.ksm = gathered.ksmValues;
    if (gathered.ksmdFraction !== undefined) extraOut.ksmdCpu = gathered.ksmdFraction;
    this.deps.observer?.onCycle?.(result, gathered.sessions, extraOut);
    return result;
  }
}

/** What a cycle gathered before the policy ran. */
interface Gathered {
  input: PolicyInput;
  sessions: SidecarSession[];
  /** The usable session of each VM the policy sees. */
  byGuest: Map<string, SidecarSession>;
  ksmValues: Record<string, number> | undefined;
  ksmdFraction: number | undefined;
}
