/**
 * The demo's story run through the simulator instead of real sidecars and the wall
 * clock: the same node, guests, workloads (the scripted burst) and noisy neighbour, the
 * demo's policy with its 2 s period and 5 s start grace, deterministic. Tests use it to
 * check what the demo shows (a calm node after the pressure) without timing a live run.
 */
import { SHIM_CADENCE } from '../sim/cadence.js';
import type { Scenario } from '../sim/scenario.js';
import { simulate, type SimResult } from '../sim/simulator.js';
import { DEFAULT_STATS } from '../sim/stats-feed.js';
import type { Workload } from '../sim/workloads.js';
import { demoPolicy } from './demo.js';
import { demoPlan, neighbourAt, plannedWorkload, type DemoOptions, type DemoPlan } from './plan.js';

export interface DemoSimRun {
  plan: DemoPlan;
  result: SimResult;
  /** Simulation time of the demo's start (the guests booted this long before), ms. */
  offsetMs: number;
}

export function simulateDemo(options: Omit<DemoOptions, 'real'>): DemoSimRun {
  const plan = demoPlan({ ...options, real: false });
  const offsetMs = plan.bootedBeforeMs;
  const workloads = new Map<string, Workload>();
  // One group per guest: the simulator names it `<group>-0`.
  const groups = plan.guests.map((g) => {
    workloads.set(`${g.config.name}-0`, plannedWorkload(plan, g));
    return {
      name: g.config.name,
      count: 1,
      memoryBytes: g.config.memoryBytes,
      guaranteedBytes: g.config.guaranteedBytes,
      marginBytes: g.config.marginBytes,
      priority: g.config.priority,
      swapBytes: g.config.swapBytes,
      autodeflate: g.config.autodeflate,
      freePageReporting: g.config.freePageReporting,
      startAtMs: 0,
      staggerMs: 0,
      workload: g.config.workload,
      stats: { ...DEFAULT_STATS },
    };
  });
  const scenario: Scenario = {
    name: 'demo',
    description: 'kubemom demo, simulated',
    durationMs: offsetMs + plan.timeline.durationMs,
    tickMs: 100,
    seed: plan.seed,
    statsPeriodMs: plan.statsPeriodSeconds * 1000,
    node: plan.node,
    groups,
    pods: [],
  };
  const policy = demoPolicy(options.policy);
  const result = simulate(scenario, { name: policy.name, policy, cadence: SHIM_CADENCE }, {
    workloads,
    systemExtraAt: (t) => neighbourAt(plan.timeline, t - offsetMs),
    initialBalloonBytes: plan.initialBalloonBytes,
    cadence: { ...SHIM_CADENCE, intervalMs: plan.periodMs },
    decisions: true,
    timeline: true,
  });
  return { plan, result, offsetMs };
}
