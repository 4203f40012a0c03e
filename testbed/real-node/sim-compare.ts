/**
 * The simulator against the real node: scenarios/real-node.yaml mirrors the real-node script;
 * it runs under each policy of the real runs, and the table sets the simulator's figures
 * beside the real ones, with its error (simulated - real): memory the balloons took back,
 * time under the reserve and under the hard threshold, and what failed.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/common/paths.js';
import { resolveSimPolicy } from '../../src/sim/policies.js';
import { parseScenario, type Scenario } from '../../src/sim/scenario.js';
import { simulate, type SimResult } from '../../src/sim/simulator.js';
import { guestOoms, table } from './report.js';
import type { RealNodeResult } from './run.js';

const MiB = 2 ** 20;
/** The scenario's guest that plays the noisy pod: not a VM, left out of reclaimed memory. */
export const NOISY_GUEST = 'noisy';

export function realNodeScenario(file = path.join(packageRoot, 'scenarios', 'real-node.yaml')): Scenario {
  return parseScenario(readFileSync(file, 'utf8'), file);
}

export interface SimFigures {
  peakReclaimedBytes: number;
  underReserveSeconds: number;
  underThresholdSeconds: number;
  failures: SimResult['failures'];
}

/** The simulator's figures for one policy, measured as the real run measures them. */
export function simFigures(scenario: Scenario, policy: string): SimFigures {
  const r = simulate(scenario, resolveSimPolicy(policy));
  const t = r.timeline!;
  let peak = 0;
  let underHard = 0;
  for (let i = 0; i < t.tSeconds.length; i++) {
    let reclaimed = 0;
    for (const g of t.guests) {
      const actual = g.actualBytes[i] ?? 0;
      // A guest no longer running (evicted, OOM-killed) holds nothing: its memory was not reclaimed by a balloon.
      if (actual > 0 && !(g.id.split('/').pop() ?? '').startsWith(NOISY_GUEST)) reclaimed += Math.max(0, g.memoryBytes - actual);
    }
    peak = Math.max(peak, reclaimed);
    if (i + 1 < t.tSeconds.length && t.availableBytes[i]! < scenario.node.evictionHardBytes) underHard += t.tSeconds[i + 1]! - t.tSeconds[i]!;
  }
  return { peakReclaimedBytes: peak, underReserveSeconds: r.node.belowReserveSeconds, underThresholdSeconds: underHard, failures: r.failures };
}

const signed = (x: number, digits: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;

export function simulatorComparison(results: RealNodeResult[], scenario: Scenario = realNodeScenario()): string {
  const rows = [['policy', 'reclaimed MiB real', 'sim', 'error', 's < reserve real', 'sim', 'error', 's < hard real', 'sim', 'error', 'failures real', 'sim']];
  for (const r of results) {
    const s = simFigures(scenario, r.policy);
    const real = r.figures;
    rows.push([
      r.policy,
      (real.peakReclaimedBytes / MiB).toFixed(0),
      (s.peakReclaimedBytes / MiB).toFixed(0),
      signed((s.peakReclaimedBytes - real.peakReclaimedBytes) / MiB, 0),
      real.underReserveSeconds.toFixed(1),
      s.underReserveSeconds.toFixed(1),
      signed(s.underReserveSeconds - real.underReserveSeconds, 1),
      real.underThresholdSeconds.toFixed(1),
      s.underThresholdSeconds.toFixed(1),
      signed(s.underThresholdSeconds - real.underThresholdSeconds, 1),
      `${r.kubepodsOomKills} OOM kill, ${guestOoms(r)} guest OOM`,
      `${s.failures.hostOom} host OOM, ${s.failures.guestOom} guest OOM, ${s.failures.evictions} evicted`,
    ]);
  }
  return `simulator (${scenario.name}, seed ${scenario.seed}) against the real runs; error = simulated - real\n${table(rows)}`;
}
