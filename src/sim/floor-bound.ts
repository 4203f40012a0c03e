/**
 * What no policy can beat without pushing guests into swap: the node's use if every
 * guest held only its floor, the least memory a policy may leave it. A policy never
 * balloons a guest under its guaranteed memory, and the agent's guard never under its
 * reported need plus its margin; a guest that touches less than that (need + page
 * cache) holds only what it touches. Only a guest whose need outgrows its balloon
 * between reports (it swaps) holds less. The density benchmark uses it to tell a
 * policy's shortfall from a scenario whose own need leaves no room.
 */
import { expandGuests, type Scenario } from './scenario.js';
import { warmedNeed } from './simulated-guest.js';
import { createWorkload } from './workloads.js';

export interface FloorBound {
  /** Highest node use over the run with every guest at its floor, bytes. */
  peakUsedBytes: number;
  /** Time the floors alone keep the node under its reserve, s; and the longest such stretch. */
  underReserveSeconds: number;
  longestUnderReserveSeconds: number;
}

/** The floor footprint of `n` guests of the scenario (its own count by default), sampled every `stepMs`. */
export function floorBound(s: Scenario, n?: number, stepMs = 1_000): FloorBound {
  const configs = expandGuests(s, n);
  const workloads = configs.map((c) => createWorkload(c.workload, c.memoryBytes, s.seed, c.name, s.durationMs));
  const node = s.node;
  const pods = s.pods;
  const podWorkloads = pods.map((p) => createWorkload(p.workload, p.memoryBytes, s.seed, `pod:${p.name}`, s.durationMs));
  let peak = 0;
  let under = 0;
  let run = 0;
  let longest = 0;
  for (let t = 0; t <= s.durationMs; t += stepMs) {
    let used = node.systemBytes;
    configs.forEach((c, i) => {
      if (t < c.startAtMs || (c.runForMs !== undefined && t >= c.startAtMs + c.runForMs)) return;
      const demand = workloads[i]!.at(t - c.startAtMs);
      const need = warmedNeed(c.workload, demand.needBytes, t - c.startAtMs);
      const touched = Math.min(c.memoryBytes, need + demand.cacheBytes);
      // A guest without memory stats cannot be ballooned (the agent does not take memory blind): it keeps what it touches.
      const blind = c.stats !== undefined && (c.stats.none || (c.stats.stopAfterMs !== undefined && t - c.startAtMs >= c.stats.stopAfterMs));
      const floor = blind ? touched : Math.min(c.memoryBytes, Math.max(c.guaranteedBytes, need + c.marginBytes), touched);
      used += (c.overheadBytes ?? node.vmOverheadBytes) + floor;
    });
    pods.forEach((p, i) => {
      if (t < p.startAtMs || (p.runForMs !== undefined && t >= p.startAtMs + p.runForMs)) return;
      used += warmedNeed(p.workload, podWorkloads[i]!.at(t - p.startAtMs).needBytes, t - p.startAtMs);
    });
    peak = Math.max(peak, used);
    if (node.memoryBytes - used < node.reserveBytes) {
      under += stepMs;
      run += stepMs;
      longest = Math.max(longest, run);
    } else run = 0;
  }
  return { peakUsedBytes: peak, underReserveSeconds: under / 1000, longestUnderReserveSeconds: longest / 1000 };
}

/** The largest guest count (up to `cap`) whose floors fit above the kubelet's hard eviction threshold. */
export function floorBoundGuests(s: Scenario, cap: number): number {
  let best = 0;
  for (let n = 1; n <= cap; n++) {
    // Monotone: one more guest never lowers the footprint.
    if (floorBound(s, n).peakUsedBytes > s.node.memoryBytes - s.node.evictionHardBytes) break;
    best = n;
  }
  return best;
}
