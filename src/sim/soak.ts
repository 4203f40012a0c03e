/**
 * Soak runs for the reliability checks: a real policy inside the simulator, wrapped so
 * that every decision is checked against the invariants and random faults are injected
 * into what the policy sees (the shim's failure modes: stale sidecars hidden from a
 * cycle, guests whose stats stopped, a stale host sample, cycles that decide nothing).
 * Pure: the faults come from a seeded PRNG, time from the simulator.
 */
import type { GuestState, Policy, PolicyDecisions, PolicyInput } from '../policy/types.js';
import { Prng } from './prng.js';
import { scenarioFromObject, type Scenario } from './scenario.js';
import type { SimPolicy } from './simulator.js';

/** Chance per cycle of each fault. */
export interface SoakFaults {
  /** Each guest is hidden from this cycle (its sidecar stale or restarting). */
  hideGuest: number;
  /** Each guest's stats history is dropped (stats stopped). */
  dropStats: number;
  /** The host sample is the previous one again (node-exporter stale). */
  staleHost: number;
  /** The cycle decides nothing (the policy threw: the shim acts on nothing). */
  noDecision: number;
}

export const DEFAULT_SOAK_FAULTS: SoakFaults = { hideGuest: 0.05, dropStats: 0.02, staleHost: 0.05, noDecision: 0.02 };

/** What the checker saw over a run. */
export interface SoakReport {
  evaluations: number;
  decisions: number;
  /** Invariant violations, first 20 kept. */
  violations: string[];
  violationCount: number;
  /** Slowest single evaluation, ms, by the caller's clock. */
  maxEvaluationMs: number;
  totalEvaluationMs: number;
  /** Largest policy state seen (JSON characters), and the guests in that cycle. */
  maxStateChars: number;
  maxStateCharsPerGuest: number;
  maxGuests: number;
  faultsInjected: number;
}

function hidden(rng: Prng, p: number): boolean {
  return p > 0 && rng.next() < p;
}

/**
 * Wraps `inner` (a simulator policy) with fault injection and invariant checks:
 * every balloon target names a guest of the cycle and lies within
 * [guaranteed, guest memory]; the policy state stays proportional to the guests.
 */
export function soakPolicy(
  inner: SimPolicy,
  seed: number,
  options: { faults?: SoakFaults; stateEvery?: number; clock?: () => number } = {},
): { sim: SimPolicy; report: SoakReport } {
  const faults = options.faults ?? DEFAULT_SOAK_FAULTS;
  const stateEvery = options.stateEvery ?? 50;
  // Timing is the caller's (a pure module reads no clock): without one, times read 0.
  const clock = options.clock ?? (() => 0);
  const rng = new Prng(seed);
  const report: SoakReport = {
    evaluations: 0,
    decisions: 0,
    violations: [],
    violationCount: 0,
    maxEvaluationMs: 0,
    totalEvaluationMs: 0,
    maxStateChars: 0,
    maxStateCharsPerGuest: 0,
    maxGuests: 0,
    faultsInjected: 0,
  };
  const violation = (text: string): void => {
    report.violationCount++;
    if (report.violations.length < 20) report.violations.push(text);
  };
  let previousHost: PolicyInput['host'] | undefined;
  const policy: Policy<unknown> = {
    name: `${inner.policy.name}+soak`,
    initialState: () => inner.policy.initialState(),
    evaluate: (input, state) => {
      report.evaluations++;
      const guests: GuestState[] = [];
      for (const g of input.guests) {
        if (hidden(rng, faults.hideGuest)) {
          report.faultsInjected++;
          continue;
        }
        if (hidden(rng, faults.dropStats)) {
          report.faultsInjected++;
          guests.push({ ...g, history: [] });
        } else guests.push(g);
      }
      let host = input.host;
      if (previousHost && hidden(rng, faults.staleHost)) {
        report.faultsInjected++;
        host = previousHost;
      }
      previousHost = input.host;
      const seen: PolicyInput = { ...input, host, guests };
      const started = clock();
      const out = inner.policy.evaluate(seen, state);
      const ms = clock() - started;
      report.maxEvaluationMs = Math.max(report.maxEvaluationMs, ms);
      report.totalEvaluationMs += ms;
      const byId = new Map(guests.map((g) => [g.id, g]));
      for (const d of out.decisions.balloons) {
        report.decisions++;
        const g = byId.get(d.guestId);
        if (!g) violation(`t=${input.nowMs}: target for ${d.guestId}, not a guest of this cycle`);
        else if (!Number.isFinite(d.targetBytes) || d.targetBytes < g.guaranteedMemoryBytes || d.targetBytes > g.guestMemoryBytes) {
          violation(`t=${input.nowMs}: ${d.guestId} target ${d.targetBytes} outside [${g.guaranteedMemoryBytes}, ${g.guestMemoryBytes}]`);
        }
      }
      report.maxGuests = Math.max(report.maxGuests, input.guests.length);
      if (report.evaluations % stateEvery === 0) {
        const chars = JSON.stringify(out.state ?? null).length;
        report.maxStateChars = Math.max(report.maxStateChars, chars);
        report.maxStateCharsPerGuest = Math.max(report.maxStateCharsPerGuest, chars / Math.max(1, input.guests.length));
      }
      if (hidden(rng, faults.noDecision)) {
        report.faultsInjected++;
        const none: PolicyDecisions = { balloons: [], ksm: {} };
        return { decisions: none, state: out.state };
      }
      return out;
    },
  };
  return { sim: { ...inner, name: policy.name, policy }, report };
}

/** A node with `vms` guests in four groups that boot staggered and leave after a while (churn). */
export function churnScenario(vms: number, durationSeconds: number, seed: number): Scenario {
  const per = Math.ceil(vms / 4);
  const stagger = durationSeconds / 2 / per;
  return scenarioFromObject({
    name: `soak-${vms}`,
    durationSeconds,
    seed,
    // Guest memory about 3x the node, and their use near it at peaks: the policy has to reclaim.
    node: { memory: `${Math.ceil(vms * 0.85)}Gi`, system: '4Gi' },
    guests: [
      { name: 'steady', count: per, memory: '2Gi', guaranteed: '512Mi', priority: 30, staggerSeconds: stagger, workload: { model: 'steady', level: 0.4 } },
      { name: 'leaky', count: per, memory: '4Gi', guaranteed: '1Gi', priority: 70, staggerSeconds: stagger, runForSeconds: durationSeconds / 3, workload: { model: 'leak', start: 0.2, perHour: 1, max: 0.8 } },
      { name: 'booting', count: per, memory: '2Gi', guaranteed: '1Gi', priority: 50, startAtSeconds: durationSeconds / 4, staggerSeconds: stagger, runForSeconds: durationSeconds / 4, workload: { model: 'boot-storm', peak: 0.8, bootSeconds: 60, settle: 0.25, cache: 0.2 } },
      { name: 'idle', count: per, memory: '2Gi', guaranteed: '256Mi', priority: 10, staggerSeconds: stagger, workload: { model: 'steady', level: 0.1 } },
    ],
  });
}
