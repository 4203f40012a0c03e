/**
 * Workload models: how much memory a simulated guest's programs need over time.
 *
 * A model gives, for a time since the guest booted, the anonymous memory the guest's
 * programs use (`needBytes`: it must stay in RAM or go to swap) and the page cache it
 * would like to keep (`cacheBytes`: reclaimable, dropped first when the balloon takes
 * memory). Sizes in the specs are fractions of the guest memory so a scenario scales
 * with its guests. Every model is a pure function of time and the guest's seed.
 */
import { Prng, hash32, valueNoise } from './prng.js';

export const WORKLOAD_MODELS = ['idle', 'steady', 'diurnal', 'bursty', 'leak', 'boot-storm', 'page-cache', 'periodic', 'script'] as const;
export type WorkloadModel = (typeof WORKLOAD_MODELS)[number];

/** Parameters common to all models (fractions of guest memory, seconds). */
interface Common {
  /** Page cache the guest keeps when memory allows (not used by `page-cache`, which grows it). */
  cache: number;
  /** Relative noise amplitude on the need. */
  noise: number;
  /**
   * Memory the guest cannot reclaim although it is not program memory: shmem, tmpfs and
   * unreclaimable slab. The guest's MemAvailable does not count it, its Cached (the
   * balloon's disk-caches stat) does; it stays resident or goes to swap like program
   * memory. Fraction of the guest memory.
   */
  shmem: number;
  /**
   * The share of the wanted page cache that is hot (re-read within seconds): taking it
   * costs major faults and re-reads until the guest has it back.
   */
  hot: number;
}

export type WorkloadSpec =
  | (Common & { model: 'idle'; level: number })
  | (Common & { model: 'steady'; level: number })
  | (Common & { model: 'diurnal'; low: number; high: number; periodSeconds: number; phase: number })
  | (Common & { model: 'bursty'; base: number; burst: number; burstSeconds: number; meanGapSeconds: number })
  | (Common & { model: 'leak'; start: number; perHour: number; max: number })
  | (Common & { model: 'boot-storm'; peak: number; bootSeconds: number; settle: number })
  | (Common & { model: 'page-cache'; anon: number; cacheMax: number; fillSeconds: number })
  | (Common & { model: 'periodic'; low: number; high: number; periodSeconds: number; dutySeconds: number; rampSeconds: number; phase: number })
  /**
   * A scripted run replayed: need and cache (fractions) at given seconds, straight lines
   * between the points, the first point's values before it and the last one's after it.
   * A step is two points a moment apart. Mirrors a real run (scenarios/real-node.yaml).
   */
  | (Common & { model: 'script'; points: ScriptPoint[] });

/** `[seconds, need, cache]`: a scripted workload's demand at one moment. */
export type ScriptPoint = [number, number, number];

/** Defaults per model, merged under what a scenario gives. */
export const WORKLOAD_DEFAULTS: { [M in WorkloadModel]: Omit<Extract<WorkloadSpec, { model: M }>, 'model'> } = {
  idle: { level: 0.1, cache: 0.05, noise: 0.02, shmem: 0.02, hot: 0.3 },
  steady: { level: 0.5, cache: 0.1, noise: 0.03, shmem: 0.02, hot: 0.3 },
  diurnal: { low: 0.2, high: 0.7, periodSeconds: 1200, phase: 0, cache: 0.1, noise: 0.03, shmem: 0.02, hot: 0.3 },
  bursty: { base: 0.25, burst: 0.45, burstSeconds: 60, meanGapSeconds: 300, cache: 0.1, noise: 0.03, shmem: 0.02, hot: 0.3 },
  leak: { start: 0.2, perHour: 0.5, max: 0.95, cache: 0.05, noise: 0.01, shmem: 0.02, hot: 0.3 },
  'boot-storm': { peak: 0.8, bootSeconds: 60, settle: 0.3, cache: 0.1, noise: 0.03, shmem: 0.02, hot: 0.3 },
  'page-cache': { anon: 0.15, cacheMax: 1, fillSeconds: 600, cache: 0, noise: 0.02, shmem: 0.02, hot: 0.3 },
  periodic: { low: 0.15, high: 0.6, periodSeconds: 600, dutySeconds: 120, rampSeconds: 10, phase: 0, cache: 0.1, noise: 0.03, shmem: 0.02, hot: 0.3 },
  // A replay of a measured run: its points are what was measured, nothing is added to them.
  script: { points: [[0, 0.1, 0]], cache: 0, noise: 0, shmem: 0, hot: 0 },
};

/** Memory a workload wants at one moment, bytes. */
export interface WorkloadDemand {
  /** Memory that must stay resident or go to swap: program memory plus shmem/tmpfs/slab. */
  needBytes: number;
  /** The part of `needBytes` that is shmem/tmpfs/slab (in Cached, not in MemAvailable). */
  shmemBytes: number;
  cacheBytes: number;
  /** The part of `cacheBytes` the guest re-reads within seconds. */
  hotCacheBytes: number;
}

export interface Workload {
  readonly spec: WorkloadSpec;
  /** Demand at `tMs` milliseconds after the guest booted. */
  at(tMs: number): WorkloadDemand;
}

/** The guest kernel and base system: no workload needs less than this. */
export const GUEST_FLOOR_FRACTION = 0.04;

/** A burst: [start, end) in ms since boot. */
type Burst = [number, number];

function burstsFor(spec: Extract<WorkloadSpec, { model: 'bursty' }>, seed: number, label: string, horizonMs: number): Burst[] {
  const rng = Prng.forLabel(seed, `bursts:${label}`);
  const bursts: Burst[] = [];
  let t = rng.exponential(spec.meanGapSeconds * 1000);
  while (t < horizonMs) {
    const length = spec.burstSeconds * 1000 * rng.uniform(0.5, 1.5);
    bursts.push([t, t + length]);
    t += length + rng.exponential(spec.meanGapSeconds * 1000);
  }
  return bursts;
}

function fraction(spec: WorkloadSpec, tMs: number, bursts: Burst[]): { need: number; cache: number } {
  switch (spec.model) {
    case 'idle':
    case 'steady':
      return { need: spec.level, cache: spec.cache };
    case 'diurnal': {
      const angle = 2 * Math.PI * (tMs / 1000 / spec.periodSeconds + spec.phase);
      // Starts at the low point (phase 0) and peaks half a period later.
      return { need: spec.low + ((spec.high - spec.low) * (1 - Math.cos(angle))) / 2, cache: spec.cache };
    }
    case 'bursty': {
      // A burst ramps up and down over its first and last fifth (a job's allocation is not instant).
      let extra = 0;
      for (const [start, end] of bursts) {
        if (tMs < start) break;
        if (tMs >= end) continue;
        const ramp = (end - start) / 5;
        extra = Math.max(extra, Math.min(1, (tMs - start) / ramp, (end - tMs) / ramp));
      }
      return { need: spec.base + spec.burst * extra, cache: spec.cache };
    }
    case 'leak':
      return { need: Math.min(spec.max, spec.start + (spec.perHour * tMs) / 3_600_000), cache: spec.cache };
    case 'boot-storm': {
      // Boot: a quick climb to the peak (a third of the boot), then settling down by its end.
      const boot = spec.bootSeconds * 1000;
      const climb = boot / 3;
      if (tMs < climb) return { need: spec.settle * 0.3 + (spec.peak - spec.settle * 0.3) * (tMs / climb), cache: spec.cache };
      if (tMs < boot) return { need: spec.peak + (spec.settle - spec.peak) * ((tMs - climb) / (boot - climb)), cache: spec.cache };
      return { need: spec.settle, cache: spec.cache };
    }
    case 'page-cache':
      return { need: spec.anon, cache: Math.min(spec.cacheMax, (spec.cacheMax * tMs) / (spec.fillSeconds * 1000)) };
    case 'periodic': {
      // A job on a clock (cron, a batch window): `high` for `dutySeconds` of every period,
      // ramping over `rampSeconds`; the same for every guest with the same phase (a herd).
      const period = spec.periodSeconds * 1000;
      const into = (((tMs + spec.phase * period) % period) + period) % period;
      const ramp = Math.max(1, spec.rampSeconds * 1000);
      const duty = spec.dutySeconds * 1000;
      const level = into < duty ? Math.min(1, into / ramp, (duty - into) / ramp) : 0;
      return { need: spec.low + (spec.high - spec.low) * Math.max(0, level), cache: spec.cache };
    }
    case 'script':
      return scriptAt(spec.points, tMs / 1000);
  }
}

function scriptAt(points: ScriptPoint[], t: number): { need: number; cache: number } {
  const first = points[0]!;
  if (t <= first[0]) return { need: first[1], cache: first[2] };
  for (let i = 1; i < points.length; i++) {
    const [t1, n1, c1] = points[i]!;
    if (t > t1) continue;
    const [t0, n0, c0] = points[i - 1]!;
    const k = t1 === t0 ? 1 : (t - t0) / (t1 - t0);
    return { need: n0 + (n1 - n0) * k, cache: c0 + (c1 - c0) * k };
  }
  const last = points[points.length - 1]!;
  return { need: last[1], cache: last[2] };
}

/**
 * A workload for a guest of `guestMemoryBytes`. `horizonMs` bounds pre-drawn random
 * events (bursts); `label` names the guest's random stream.
 */
export function createWorkload(spec: WorkloadSpec, guestMemoryBytes: number, seed: number, label: string, horizonMs: number): Workload {
  const bursts = spec.model === 'bursty' ? burstsFor(spec, seed, label, horizonMs) : [];
  const noiseSeed = hash32(seed, `noise:${label}`);
  const floor = GUEST_FLOOR_FRACTION * guestMemoryBytes;
  // A program never gets more than the guest has, less the kernel's own share.
  const ceiling = (1 - GUEST_FLOOR_FRACTION) * guestMemoryBytes;
  return {
    spec,
    at(tMs: number): WorkloadDemand {
      const f = fraction(spec, Math.max(0, tMs), bursts);
      const noisy = f.need * (1 + spec.noise * valueNoise(noiseSeed, tMs, 10_000));
      const shmemBytes = Math.round(spec.shmem * guestMemoryBytes);
      const needBytes = Math.round(Math.min(ceiling, Math.max(floor, noisy * guestMemoryBytes) + shmemBytes));
      const cacheBytes = Math.round(Math.max(0, Math.min(1, f.cache) * guestMemoryBytes));
      return { needBytes, shmemBytes: Math.min(shmemBytes, needBytes), cacheBytes, hotCacheBytes: Math.round(spec.hot * cacheBytes) };
    },
  };
}
