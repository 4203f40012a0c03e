/**
 * The demo node's plan: the node, its guests and the scripted timeline, all derived
 * from the command's options. Pure: no I/O, times in ms from the demo's start.
 *
 * The story, in fractions of the run: guests idle while their page cache grows
 * (0-20 %), half of them start a burst (20 %), a noisy neighbour on the node takes
 * memory fast (35 %), pressure ends: the neighbour leaves and the bursts finish
 * (60 %), the node calms down and guests get memory back (to the end).
 */
import { InputError } from '../common/errors.js';
import type { NodeConfig } from '../sim/node-model.js';
import type { GuestConfig } from '../sim/simulated-guest.js';
import { createWorkload, type Workload, WORKLOAD_DEFAULTS } from '../sim/workloads.js';
import { MiB, GiB } from '../common/units.js';

export interface DemoOptions {
  /** Real TCG guests from the test bed instead of simulated ones. */
  real: boolean;
  vms: number;
  seconds: number;
  /** Policy name or policy file. */
  policy: string;
}

/** Limits of the options, for the CLI's messages. */
export const DEMO_LIMITS = { vms: { min: 1, max: 16 }, realVms: { min: 1, max: 3 }, seconds: { min: 10, max: 3600 } } as const;

/** Validates the options; errors name the flag and what it accepts. */
export function checkDemoOptions(options: DemoOptions): DemoOptions {
  const limits = options.real ? DEMO_LIMITS.realVms : DEMO_LIMITS.vms;
  if (!Number.isInteger(options.vms) || options.vms < limits.min || options.vms > limits.max) {
    throw new InputError('--vms', `"${options.vms}" is not accepted; use a whole number from ${limits.min} to ${limits.max}${options.real ? ' with --real (each is a TCG guest)' : ''}`);
  }
  if (!Number.isFinite(options.seconds) || options.seconds < DEMO_LIMITS.seconds.min || options.seconds > DEMO_LIMITS.seconds.max) {
    throw new InputError('--seconds', `"${options.seconds}" is not accepted; use a number of seconds from ${DEMO_LIMITS.seconds.min} to ${DEMO_LIMITS.seconds.max}`);
  }
  return options;
}

/** When things happen, ms from the start. */
export interface DemoTimeline {
  durationMs: number;
  burstStartMs: number;
  burstEndMs: number;
  /** Bursts ramp up and down over this long. */
  burstRampMs: number;
  neighbourStartMs: number;
  neighbourEndMs: number;
  /** The neighbour allocates its memory over this long (and frees it at once). */
  neighbourRampMs: number;
  neighbourBytes: number;
}

export interface DemoGuestPlan {
  config: GuestConfig;
  /** In the burst group. */
  bursts: boolean;
  /** The burst: extra need, fraction of the guest memory. */
  burstFraction: number;
}

export interface DemoPlan {
  options: DemoOptions;
  node: NodeConfig;
  guests: DemoGuestPlan[];
  timeline: DemoTimeline;
  /** The shim's loop period. */
  periodMs: number;
  /** kubemom.io/stats-period of every guest. */
  statsPeriodSeconds: number;
  /** The simulated guests booted this long before the demo starts (their warm-up is over). */
  bootedBeforeMs: number;
  /**
   * Where the simulated guests' balloons stand at the start: the node has been
   * overcommitted for a while, so they already share what it has (their page cache
   * fills the rest of what they have).
   */
  initialBalloonBytes: number;
  seed: number;
}

/** A phase of the story, for the live view. */
export function phaseAt(timeline: DemoTimeline, tMs: number): string {
  if (tMs < timeline.burstStartMs) return 'guests idle, page cache growing';
  if (tMs < timeline.neighbourStartMs) return 'burst: half the guests need more memory';
  if (tMs < timeline.neighbourEndMs) return 'burst + a noisy neighbour takes node memory';
  return 'pressure over: neighbour gone, bursts done';
}

/** Memory the noisy neighbour holds at `tMs`. */
export function neighbourAt(timeline: DemoTimeline, tMs: number): number {
  if (tMs < timeline.neighbourStartMs || tMs >= timeline.neighbourEndMs) return 0;
  return Math.round(timeline.neighbourBytes * Math.min(1, (tMs - timeline.neighbourStartMs) / timeline.neighbourRampMs));
}

/** The burst's share (0..1) at `tMs`: ramps up, holds, ramps down. */
export function burstShareAt(timeline: DemoTimeline, tMs: number): number {
  const { burstStartMs: start, burstEndMs: end, burstRampMs: ramp } = timeline;
  if (tMs <= start || tMs >= end) return 0;
  return Math.min(1, (tMs - start) / ramp, (end - tMs) / ramp);
}

/**
 * A guest's workload: a model from the simulator (src/sim/workloads.ts) plus the
 * timeline's burst. `startAtMs` is the guest's boot in demo time (the workload's
 * clock is time since boot).
 */
export function demoWorkload(base: Workload, timeline: DemoTimeline, plan: { bursts: boolean; burstFraction: number; memoryBytes: number; startAtMs: number }): Workload {
  const ceiling = 0.96 * plan.memoryBytes;
  return {
    spec: base.spec,
    at(sinceBootMs: number) {
      const demand = base.at(sinceBootMs);
      if (!plan.bursts) return demand;
      const extra = burstShareAt(timeline, sinceBootMs + plan.startAtMs) * plan.burstFraction * plan.memoryBytes;
      return { ...demand, needBytes: Math.round(Math.min(ceiling, demand.needBytes + extra)) };
    },
  };
}

/** Builds the plan. Real guests are smaller (TCG) and their node is scaled to them. */
export function demoPlan(options: DemoOptions): DemoPlan {
  checkDemoOptions(options);
  const durationMs = Math.round(options.seconds * 1000);
  const real = options.real;
  const guestMemory = real ? 512 * MiB : 2 * GiB;
  const guaranteed = real ? 192 * MiB : 256 * MiB;
  const n = options.vms;
  // 1.6x overcommit for 8 simulated guests; real guests get a node scaled to them.
  const systemBytes = real ? 256 * MiB : 768 * MiB;
  const vmOverheadBytes = real ? 64 * MiB : 96 * MiB;
  const perVm = real ? 512 * MiB : 1088 * MiB;
  // Headroom that does not scale with the VMs, as the reserve does not.
  const memoryBytes = systemBytes + n * perVm + (real ? 0 : 768 * MiB);
  const evictionHardBytes = 100 * MiB;
  const node: NodeConfig = {
    memoryBytes,
    systemBytes,
    vmOverheadBytes,
    hostCacheBytes: real ? 128 * MiB : 512 * MiB,
    evictionHardBytes,
    evictionCheckMs: 10_000,
    // The default policy's reserve: eviction threshold + max(512 MiB, 5 % of the node).
    reserveBytes: evictionHardBytes + Math.max(real ? 128 * MiB : 512 * MiB, 0.05 * memoryBytes),
    cpuCount: 2,
  };
  const at = (fraction: number) => Math.round(durationMs * fraction);
  const timeline: DemoTimeline = {
    durationMs,
    burstStartMs: at(0.2),
    burstEndMs: at(0.6),
    burstRampMs: Math.max(2000, at(0.08)),
    neighbourStartMs: at(0.35),
    neighbourEndMs: at(0.6),
    neighbourRampMs: Math.max(500, Math.min(2000, at(0.03))),
    neighbourBytes: real ? 192 * MiB : Math.round(n * 128 * MiB),
  };
  const bootedBeforeMs = real ? 0 : 60_000;
  const guests: DemoGuestPlan[] = [];
  for (let i = 0; i < n; i++) {
    const bursts = i % 2 === 0;
    const config: GuestConfig = {
      name: `vm-${i}`,
      namespace: 'demo',
      memoryBytes: guestMemory,
      guaranteedBytes: guaranteed,
      marginBytes: Math.min(64 * MiB, guestMemory / 8),
      // The idle half gives memory first.
      priority: bursts ? 60 : 40,
      swapBytes: 512 * MiB,
      autodeflate: true,
      freePageReporting: true,
      startAtMs: -bootedBeforeMs,
      // Programs use 15 % of the guest; page cache grows into most of the rest (at the
      // simulator's 32 MiB/s), so the node fills up and the balloon has cache to take.
      workload: { ...WORKLOAD_DEFAULTS['page-cache'], model: 'page-cache', anon: 0.15, cacheMax: 0.8, fillSeconds: 60, hot: 0.1 },
    };
    guests.push({ config, bursts, burstFraction: real ? 0.5 : 0.2 });
  }
  // What the node holds for guests above its reserve and two of the default policy's bands, shared evenly.
  const room = memoryBytes - systemBytes - n * vmOverheadBytes - node.reserveBytes - 2 * 0.03 * memoryBytes;
  const initialBalloonBytes = Math.round(Math.min(guestMemory, Math.max(guaranteed, room / n)));
  return { options, node, guests, timeline, periodMs: 2000, statsPeriodSeconds: 1, bootedBeforeMs, initialBalloonBytes, seed: 1 };
}

/** The workload of one planned guest. */
export function plannedWorkload(plan: DemoPlan, guest: DemoGuestPlan): Workload {
  const c = guest.config;
  const base = createWorkload(c.workload, c.memoryBytes, plan.seed, c.name, plan.timeline.durationMs + plan.bootedBeforeMs);
  return demoWorkload(base, plan.timeline, { bursts: guest.bursts, burstFraction: guest.burstFraction, memoryBytes: c.memoryBytes, startAtMs: c.startAtMs });
}
