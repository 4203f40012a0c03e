/**
 * The node simulator: guests with workloads on a node, a policy driven on its cadence
 * through the sidecar-like guard, and every incident counted. Deterministic: the same
 * scenario, seed, guest count and policy give the same result, bit for bit.
 */
import type { Policy, PolicyInput } from '../policy/types.js';
import { MEASURED_BALLOON_TIMINGS } from './balloon-dynamics.js';
import type { Cadence } from './cadence.js';
import { hostSample, nodeMemory, PsiModel, type NodeMemory } from './node-model.js';
import { expandGuests, type Scenario } from './scenario.js';
import { SimulatedGuest } from './simulated-guest.js';
import { guardTarget, guestUnderPressure, type GuardLimits } from './simulated-guard.js';
import type { HostSample } from '../policy/types.js';
import { SimulatedPod } from './pods.js';
import { Prng } from './prng.js';
import { DEFAULT_STATS, StatsFeed } from './stats-feed.js';
import { Reversals } from './reversals.js';
import { MiB } from '../common/units.js';

/** Simulated time starts here (Unix ms), so policies see realistic timestamps. */
export const SIM_EPOCH_MS = Date.UTC(2026, 0, 1);

/**
 * From a policy's decision to the balloon's new target: the shim's SetTarget over gRPC
 * to the sidecar's agent, then QMP `balloon`. Measured (docs/shim.md, bench/shim-scale.ts
 * at 250 VMs): every SetTarget answered 207-286 ms after the pressure (median), 415-816 ms
 * at worst; QMP's own `balloon` round trip is 2 ms (docs/agent.md). Drawn per decision
 * as 50 ms + 750 ms x u^2 (median about 240 ms, at most 800 ms).
 */
export const DECISION_DELAY_MIN_MS = 50;
export const DECISION_DELAY_SPREAD_MS = 750;

/** The decision-to-balloon delay for a uniform draw `u` in [0, 1), ms. */
export function decisionDelayMs(u: number): number {
  return DECISION_DELAY_MIN_MS + DECISION_DELAY_SPREAD_MS * u * u;
}
/** The kubelet waits this long at most for an evicted pod's resources before it evicts again (pkg/kubelet/eviction/eviction_manager.go podCleanupTimeout). */
export const KUBELET_POD_CLEANUP_TIMEOUT_MS = 30_000;
/** Target and need moves smaller than this are not direction changes (the flap measure). */
export const FLAP_MIN_MOVE_BYTES = 64 * MiB;

export interface SimPolicy {
  name: string;
  policy: Policy<unknown>;
  cadence: Cadence;
}

export interface SimOptions {
  /** Overrides the scenario's seed. */
  seed?: number;
  /** Runs with this many guests drawn from the scenario's groups (density benchmark). */
  guests?: number;
  /** Stop at the first guest OOM, host OOM or eviction (the density search needs no more). */
  stopOnFailure?: boolean;
  /** Keep a timeline for plots (default true). */
  timeline?: boolean;
  /** Called now and then with the share of the run done (0..1). */
  onProgress?: (done: number) => void;
  /** Keep every policy decision in the result (`decisions`). */
  decisions?: boolean;
  /**
   * Workloads made by the caller, by guest name (the demo's scripted timeline); other
   * guests get their scenario workload.
   */
  workloads?: Map<string, import('./workloads.js').Workload>;
  /** Extra memory the node's system uses at a time, ms -> bytes (the demo's noisy neighbour). */
  systemExtraAt?: (tMs: number) => number;
  /** Every balloon starts at this target (the demo's guests run on an overcommitted node before it starts). */
  initialBalloonBytes?: number;
  /** The policy's cadence, instead of the policy's own (the demo's shim runs a 2 s period). */
  cadence?: Cadence;
}

export type IncidentKind = 'guest-oom' | 'host-oom' | 'eviction' | 'autodeflate';

/** A policy decision as the simulator saw it (kept when `options.decisions` is set). */
export interface DecisionRecord {
  atSeconds: number;
  guest: string;
  targetBytes: number;
  reason: string;
  /** The balloon's size when decided. */
  actualBytes: number;
  /** MemAvailable when decided. */
  availableBytes: number;
}

export interface Incident {
  atSeconds: number;
  kind: IncidentKind;
  guest: string;
}

/** Columnar timeline: one entry per recorded moment. */
export interface Timeline {
  tSeconds: number[];
  availableBytes: number[];
  guests: { id: string; memoryBytes: number; needBytes: number[]; actualBytes: number[] }[];
}

export interface PressureEpisode {
  startSeconds: number;
  /** Undefined: still under the reserve when the run ended. */
  endSeconds?: number;
}

export interface SimResult {
  scenario: string;
  policy: string;
  seed: number;
  guests: number;
  nodeMemoryBytes: number;
  guestMemoryBytes: number;
  /** Sum of guest memory / node memory. */
  overcommit: number;
  /** Ran to its end with no guest OOM, host OOM or eviction. */
  survived: boolean;
  simulatedSeconds: number;
  failures: { guestOom: number; hostOom: number; evictions: number };
  reaction: {
    reserveBytes: number;
    episodes: PressureEpisode[];
    /** Longest episode (an unresolved one counts to the end of the run), s; 0 without pressure. */
    worstSeconds: number;
    meanSeconds: number;
    unresolved: number;
  };
  harm: { swapInBytes: number; underNeedSeconds: number; autodeflates: number; autodeflatedBytes: number; majorFaults: number; rereadBytes: number };
  /**
   * Direction changes of the policy's targets (moves of FLAP_MIN_MOVE_BYTES or more) and
   * of the guests' own need, over the VM-hours run.
   */
  flaps: { targetReversals: number; needReversals: number; vmHours: number };
  /** Guest memory not backed by the node (guest memory - balloon actual), averaged over the run, bytes. */
  reclaimed: { meanBytes: number };
  decisions?: DecisionRecord[];
  node: { minAvailableBytes: number; meanAvailableBytes: number; belowReserveSeconds: number; peakPsiSome10: number };
  policyRuns: { evaluations: number; wakeUps: number; targetsSent: number; notRun: number };
  incidents: Incident[];
  timeline?: Timeline;
}

const MAX_INCIDENTS = 200;

/** Runs one scenario under one policy. */
export function simulate(scenario: Scenario, sp: SimPolicy, options: SimOptions = {}): SimResult {
  const seed = options.seed ?? scenario.seed;
  const node = scenario.node;
  const cadence = options.cadence ?? sp.cadence;
  const configs = expandGuests(scenario, options.guests);
  const guests = configs.map((c) => new SimulatedGuest(c, seed, scenario.durationMs, MEASURED_BALLOON_TIMINGS, options.workloads?.get(c.name)));
  if (options.initialBalloonBytes !== undefined) for (const g of guests) g.balloon.setTarget(Math.min(g.config.memoryBytes, options.initialBalloonBytes));
  const feeds = guests.map((g) => new StatsFeed(scenario.statsPeriodMs, g.config.stats ?? DEFAULT_STATS, Prng.forLabel(seed, `stats:${g.config.name}`), g.config.startAtMs));
  const delays = guests.map((g) => Prng.forLabel(seed, `decisions:${g.config.name}`));
  const pending = guests.map((): Array<{ atMs: number; goal: number }> => []);
  const pods = scenario.pods.map((p) => new SimulatedPod(p, seed, scenario.durationMs));
  const targetFlaps = guests.map(() => new Reversals(FLAP_MIN_MOVE_BYTES));
  const needFlaps = guests.map(() => new Reversals(FLAP_MIN_MOVE_BYTES));
  let aliveMs = 0;
  let reclaimedByteMs = 0;
  const decisionLog: DecisionRecord[] = [];
  let lastEvictionMs = -Infinity;
  let lastEvicted: { heldBytes: () => number } | undefined;
  const oomVictims: Array<{ heldBytes: () => number }> = [];
  const limits = new Map<string, GuardLimits>(guests.map((g) => [g.id, { memoryBytes: g.config.memoryBytes, guaranteedBytes: g.config.guaranteedBytes, marginBytes: g.config.marginBytes }]));
  const goals = new Map<string, number>();
  const psi = new PsiModel(node);
  const hostHistory: HostSample[] = [];
  let policyState = sp.policy.initialState();

  const dt = scenario.tickMs;
  const steps = Math.ceil(scenario.durationMs / dt);
  const recordEvery = Math.max(1, Math.round(Math.max(dt, scenario.durationMs / 800) / dt));
  const timeline: Timeline | undefined = options.timeline === false ? undefined : { tSeconds: [], availableBytes: [], guests: guests.map((g) => ({ id: g.id, memoryBytes: g.config.memoryBytes, needBytes: [], actualBytes: [] })) };

  const incidents: Incident[] = [];
  const failures = { guestOom: 0, hostOom: 0, evictions: 0 };
  const episodes: PressureEpisode[] = [];
  let open: PressureEpisode | undefined;
  let minAvailable = Infinity;
  let sumAvailable = 0;
  let belowMs = 0;
  let peakPsi = 0;
  const runs = { evaluations: 0, wakeUps: 0, targetsSent: 0, notRun: 0 };
  let lastEvalMs = -Infinity;
  let lastPsiFireMs = -Infinity;
  const psiTotals: Array<{ t: number; us: number }> = [];
  const autodeflatesSeen = new Map<string, number>(guests.map((g) => [g.id, 0]));
  const oomsSeen = new Map<string, number>(guests.map((g) => [g.id, 0]));
  let ranMs = 0;

  const incident = (t: number, kind: IncidentKind, guest: string) => {
    if (incidents.length < MAX_INCIDENTS) incidents.push({ atSeconds: t / 1000, kind, guest });
  };
  let now = 0;
  const memNow = (): NodeMemory => {
    let held = 0;
    for (const g of guests) held += g.alive ? (g.config.overheadBytes ?? node.vmOverheadBytes) + g.hostResidentBytes : g.releasingBytes(now);
    let podBytes = options.systemExtraAt ? options.systemExtraAt(now) : 0;
    for (const p of pods) podBytes += p.heldBytes(now);
    return nodeMemory(node, held, podBytes);
  };
  const sendTarget = (g: SimulatedGuest, t: number) => {
    const goal = goals.get(g.id);
    if (goal === undefined || !g.alive) return;
    const target = guardTarget(limits.get(g.id)!, goal, g.balloon.actualBytes, g.history[g.history.length - 1], scenario.statsPeriodMs, SIM_EPOCH_MS + t);
    if (target !== g.balloon.targetBytes) {
      g.balloon.setTarget(target);
      g.targetBytes = target;
      runs.targetsSent++;
    }
    void t;
  };

  for (let step = 0; step <= steps; step++) {
    const t = step * dt;
    ranMs = t;
    now = t;
    for (const g of guests) g.step(t, dt);
    for (const p of pods) p.step(t);
    guests.forEach((g, i) => {
      if (!g.alive) return;
      aliveMs += dt;
      reclaimedByteMs += (g.config.memoryBytes - g.balloon.actualBytes) * dt;
      needFlaps[i]!.observe(g.needBytes);
      // Decisions whose SetTarget has reached the balloon.
      const q = pending[i]!;
      while (q.length > 0 && q[0]!.atMs <= t) {
        goals.set(g.id, q.shift()!.goal);
        sendTarget(g, t);
      }
    });
    for (const g of guests) {
      const a = g.counters.autodeflates;
      if (a > autodeflatesSeen.get(g.id)!) incident(t, 'autodeflate', g.id);
      autodeflatesSeen.set(g.id, a);
      const o = g.counters.guestOomKills;
      if (o > oomsSeen.get(g.id)!) {
        failures.guestOom += o - oomsSeen.get(g.id)!;
        incident(t, 'guest-oom', g.id);
      }
      oomsSeen.set(g.id, o);
    }

    let mem = memNow();
    // The kernel's OOM killer picks the biggest process (a VM's QEMU or a pod), and picks
    // no other while a victim is still exiting (mm/oom_kill.c aborts on an OOM victim
    // that has not released its memory yet).
    if (mem.availableBytes < 0 && !oomVictims.some((v) => v.heldBytes() > 0)) {
      const candidates = [
        ...guests.filter((g) => g.alive).map((g) => ({ id: g.id, bytes: g.hostResidentBytes + (g.config.overheadBytes ?? node.vmOverheadBytes), kill: () => g.end('host-oom', t, g.config.overheadBytes ?? node.vmOverheadBytes), heldBytes: () => g.releasingBytes(now) })),
        ...pods.filter((p) => p.alive).map((p) => ({ id: p.id, bytes: p.usedBytes, kill: () => p.end('host-oom', t), heldBytes: () => p.heldBytes(now) })),
      ].sort((a, b) => b.bytes - a.bytes);
      const victim = candidates[0];
      if (victim) {
        victim.kill();
        oomVictims.push(victim);
        failures.hostOom++;
        incident(t, 'host-oom', victim.id);
        mem = memNow();
      }
    }
    // The kubelet evicts one pod per check when memory.available or allocatableMemory.available
    // is under the hard threshold, and waits for the evicted pod's memory (at most 30 s)
    // before the next. Its ranking: pods over their memory request first, then the lowest
    // priority, then the most use above the request (a VM's pod requests its memory and
    // overhead, so it is never over).
    const cleaning = lastEvicted !== undefined && lastEvicted.heldBytes() > 0 && t - lastEvictionMs < KUBELET_POD_CLEANUP_TIMEOUT_MS;
    if (t % node.evictionCheckMs === 0 && !cleaning && (mem.kubeletAvailableBytes < node.evictionHardBytes || mem.allocatableAvailableBytes < node.evictionHardBytes)) {
      const candidates = [
        ...guests.filter((g) => g.alive).map((g) => ({ id: g.id, over: false, priority: g.config.priority, aboveRequest: g.hostResidentBytes - g.config.memoryBytes, evict: () => g.end('evicted', t, g.config.overheadBytes ?? node.vmOverheadBytes), heldBytes: () => g.releasingBytes(now) })),
        ...pods.filter((p) => p.alive).map((p) => ({ id: p.id, over: p.usedBytes > p.config.requestBytes, priority: p.config.priority, aboveRequest: p.usedBytes - p.config.requestBytes, evict: () => p.end('evicted', t), heldBytes: () => p.heldBytes(now) })),
      ].sort((a, b) => Number(b.over) - Number(a.over) || a.priority - b.priority || b.aboveRequest - a.aboveRequest);
      const victim = candidates[0];
      if (victim) {
        victim.evict();
        lastEvicted = victim;
        lastEvictionMs = t;
        failures.evictions++;
        incident(t, 'eviction', victim.id);
        mem = memNow();
      }
    }
    psi.step(dt, mem);
    const psiNow = psi.read();
    peakPsi = Math.max(peakPsi, psiNow.someAvg10);

    minAvailable = Math.min(minAvailable, mem.availableBytes);
    sumAvailable += mem.availableBytes;
    const below = mem.availableBytes < node.reserveBytes;
    if (below) belowMs += dt;
    if (below && !open) {
      open = { startSeconds: t / 1000 };
      episodes.push(open);
    } else if (!below && open) {
      open.endSeconds = t / 1000;
      open = undefined;
    }

    if (t % cadence.hostSampleMs === 0) pushHost(hostHistory, hostSample(node, mem, SIM_EPOCH_MS + t, psiNow), cadence.hostHistory);
    guests.forEach((g, i) => {
      if (!g.alive) return;
      const reports = feeds[i]!.tick(t, (at) => g.sample(SIM_EPOCH_MS + at));
      for (const report of reports) {
        g.record(SIM_EPOCH_MS + t, cadence.guestHistory, report);
        // The agent's own rules each report: the floor follows the guest's need, and a
        // swapping guest gets memory back at once.
        if (guestUnderPressure(g.history) && goals.has(g.id)) {
          goals.set(g.id, Math.min(g.config.memoryBytes, g.balloon.actualBytes + 256 * MiB));
        }
        sendTarget(g, t);
      }
    });

    const due = t - lastEvalMs >= cadence.intervalMs;
    // The PSI trigger: stall time within the last window over the threshold, once per window.
    psiTotals.push({ t, us: psiNow.someTotalUs });
    while (psiTotals.length > 1 && psiTotals[0]!.t < t - cadence.psiTriggerWindowMs) psiTotals.shift();
    const stallMs = (psiNow.someTotalUs - psiTotals[0]!.us) / 1000;
    const psiFired = cadence.wakeOnPressure && cadence.psiTriggerStallMs > 0 && stallMs >= cadence.psiTriggerStallMs && t - lastPsiFireMs >= cadence.psiTriggerWindowMs;
    if (psiFired) lastPsiFireMs = t;
    const woken = cadence.wakeOnPressure && !due && (psiFired || (below && t - lastEvalMs >= cadence.minWakeGapMs));
    if (due || woken) {
      if (woken) {
        runs.wakeUps++;
        // A wake-up reads the host afresh.
        if (t % cadence.hostSampleMs !== 0) pushHost(hostHistory, hostSample(node, mem, SIM_EPOCH_MS + t, psiNow), cadence.hostHistory);
      }
      lastEvalMs = t;
      const input: PolicyInput = {
        nowMs: SIM_EPOCH_MS + t,
        host: { history: hostHistory.slice(), cpuCount: node.cpuCount, evictionHardBytes: node.evictionHardBytes },
        guests: guests.filter((g) => g.alive).map((g) => g.state(sp.name, SIM_EPOCH_MS)),
      };
      const out = sp.policy.evaluate(input, policyState);
      policyState = out.state;
      runs.evaluations++;
      if ((out.decisions as { notRun?: string }).notRun) runs.notRun++;
      for (const d of out.decisions.balloons) {
        const i = guests.findIndex((x) => x.id === d.guestId);
        const g = guests[i];
        if (!g || !g.alive) continue;
        targetFlaps[i]!.observe(d.targetBytes, g.config.memoryBytes);
        if (options.decisions) decisionLog.push({ atSeconds: t / 1000, guest: g.id, targetBytes: d.targetBytes, reason: d.reason, actualBytes: Math.round(g.balloon.actualBytes), availableBytes: Math.round(mem.availableBytes) });
        pending[i]!.push({ atMs: t + decisionDelayMs(delays[i]!.next()), goal: d.targetBytes });
      }
    }

    if (timeline && step % recordEvery === 0) {
      timeline.tSeconds.push(t / 1000);
      timeline.availableBytes.push(Math.round(mem.availableBytes));
      guests.forEach((g, i) => {
        const row = timeline.guests[i]!;
        row.needBytes.push(g.alive ? Math.round(g.needBytes) : 0);
        row.actualBytes.push(g.alive ? Math.round(g.balloon.actualBytes) : 0);
      });
    }
    if (options.onProgress && step % 1000 === 0) options.onProgress(step / steps);
    if (options.stopOnFailure && failures.guestOom + failures.hostOom + failures.evictions > 0) break;
  }
  options.onProgress?.(1);

  const endSeconds = ranMs / 1000;
  const lengths = episodes.map((e) => (e.endSeconds ?? endSeconds) - e.startSeconds);
  const guestMemoryBytes = configs.reduce((s, c) => s + c.memoryBytes, 0);
  const harm = { swapInBytes: 0, underNeedSeconds: 0, autodeflates: 0, autodeflatedBytes: 0, majorFaults: 0, rereadBytes: 0 };
  for (const g of guests) {
    harm.rereadBytes += g.counters.rereadBytes;
    harm.swapInBytes += g.counters.swapInBytes;
    harm.underNeedSeconds += g.counters.underNeedMs / 1000;
    harm.autodeflates += g.counters.autodeflates;
    harm.autodeflatedBytes += g.counters.autodeflatedBytes;
    harm.majorFaults += g.counters.majorFaults;
  }
  harm.swapInBytes = Math.round(harm.swapInBytes);
  harm.autodeflatedBytes = Math.round(harm.autodeflatedBytes);
  harm.majorFaults = Math.round(harm.majorFaults);
  harm.rereadBytes = Math.round(harm.rereadBytes);
  const result: SimResult = {
    scenario: scenario.name,
    policy: sp.name,
    seed,
    guests: guests.length,
    nodeMemoryBytes: node.memoryBytes,
    guestMemoryBytes,
    overcommit: guestMemoryBytes / node.memoryBytes,
    survived: failures.guestOom + failures.hostOom + failures.evictions === 0,
    simulatedSeconds: endSeconds,
    failures,
    reaction: {
      reserveBytes: node.reserveBytes,
      episodes,
      worstSeconds: lengths.length ? Math.max(...lengths) : 0,
      meanSeconds: lengths.length ? lengths.reduce((a, b) => a + b, 0) / lengths.length : 0,
      unresolved: episodes.filter((e) => e.endSeconds === undefined).length,
    },
    harm,
    node: { minAvailableBytes: Math.round(minAvailable), meanAvailableBytes: Math.round(sumAvailable / (Math.floor(ranMs / dt) + 1)), belowReserveSeconds: belowMs / 1000, peakPsiSome10: peakPsi },
    policyRuns: runs,
    incidents,
    flaps: {
      targetReversals: targetFlaps.reduce((a, f) => a + f.count, 0),
      needReversals: needFlaps.reduce((a, f) => a + f.count, 0),
      vmHours: aliveMs / 3_600_000,
    },
    reclaimed: { meanBytes: Math.round(reclaimedByteMs / Math.max(dt, ranMs + dt)) },
  };
  if (options.decisions) result.decisions = decisionLog;
  if (timeline) result.timeline = timeline;
  return result;
}

function pushHost(history: HostSample[], sample: HostSample, keep: number): void {
  history.push(sample);
  if (history.length > keep) history.splice(0, history.length - keep);
}
