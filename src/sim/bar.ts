/**
 * The issue-16 bar for the `default` policy, from simulation results (pure: the bench
 * runs the simulations, tests run a few): per scenario and policy, over seeds,
 * survival, incidents, flaps against the guests' own need reversals, reaction and
 * reclaimed memory; and the checks of `default` against `mom` and `autoballoon`.
 */
import type { SimResult } from './simulator.js';

export interface PolicyRow {
  policy: string;
  runs: number;
  survived: number;
  /** Seeds that ran to the end without guest OOM, host OOM or eviction. */
  survivedSeeds: number[];
  incidents: number;
  flapsPerVmHour: number;
  needReversalsPerVmHour: number;
  /** Worst reaction over the seeds, s (0: never under the reserve); `unresolved` when a run ended under it. */
  worstReactionSeconds: number;
  unresolved: boolean;
  /** Mean reclaimed memory per seed, bytes. */
  reclaimedBySeed: Map<number, number>;
}

export function policyRow(policy: string, results: SimResult[]): PolicyRow {
  let vmHours = 0;
  let flaps = 0;
  let needRev = 0;
  const row: PolicyRow = { policy, runs: results.length, survived: 0, survivedSeeds: [], incidents: 0, flapsPerVmHour: 0, needReversalsPerVmHour: 0, worstReactionSeconds: 0, unresolved: false, reclaimedBySeed: new Map() };
  for (const r of results) {
    if (r.survived) {
      row.survived++;
      row.survivedSeeds.push(r.seed);
    }
    row.incidents += r.failures.guestOom + r.failures.hostOom + r.failures.evictions;
    vmHours += r.flaps.vmHours;
    flaps += r.flaps.targetReversals;
    needRev += r.flaps.needReversals;
    row.worstReactionSeconds = Math.max(row.worstReactionSeconds, r.reaction.worstSeconds);
    row.unresolved ||= r.reaction.unresolved > 0;
    row.reclaimedBySeed.set(r.seed, r.reclaimed.meanBytes);
  }
  row.flapsPerVmHour = vmHours > 0 ? flaps / vmHours : 0;
  row.needReversalsPerVmHour = vmHours > 0 ? needRev / vmHours : 0;
  return row;
}

export interface BarCheck {
  /** default survives every seed mom or autoballoon survives. */
  survives: boolean;
  /** default's incidents <= mom's. */
  incidents: boolean;
  /** default's flaps per VM-hour <= 2x the guests' own need reversals per VM-hour. */
  flaps: boolean;
  /** default's worst reaction at least 10x faster than mom's (or never under the reserve when mom was). */
  reaction: boolean;
  /** default reclaims at least mom's memory on the seeds both survive. */
  reclaimed: boolean;
}

export function barCheck(rows: PolicyRow[]): BarCheck | undefined {
  const get = (n: string) => rows.find((r) => r.policy === n);
  const d = get('default');
  const mom = get('mom');
  if (!d || !mom) return undefined;
  const auto = get('autoballoon');
  const others = new Set([...mom.survivedSeeds, ...(auto?.survivedSeeds ?? [])]);
  const both = d.survivedSeeds.filter((s) => mom.survivedSeeds.includes(s));
  return {
    survives: [...others].every((s) => d.survivedSeeds.includes(s)),
    incidents: d.incidents <= mom.incidents,
    flaps: d.flapsPerVmHour <= 2 * d.needReversalsPerVmHour + 1e-9,
    reaction: mom.worstReactionSeconds === 0 || d.worstReactionSeconds * 10 <= mom.worstReactionSeconds,
    reclaimed: both.every((s) => (d.reclaimedBySeed.get(s) ?? 0) >= (mom.reclaimedBySeed.get(s) ?? 0)),
  };
}
