/**
 * Seeded pseudo-random numbers for the simulator. Every random stream is derived from
 * the scenario seed and a label (a guest's name, "balloon:<guest>"), so a guest behaves
 * the same whatever other guests a run holds: the density benchmark adds guests and
 * the ones already there must not change.
 */

/** 32-bit FNV-1a of a string, mixed with a seed. */
export function hash32(seed: number, label: string): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return mix32(h);
}

/** A 32-bit finaliser (murmur3's), so nearby inputs give unrelated outputs. */
export function mix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** A small fast seeded generator (mulberry32): uniform floats in [0, 1). */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A generator for an independent stream named `label`. */
  static forLabel(seed: number, label: string): Prng {
    return new Prng(hash32(seed, label));
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Exponentially distributed with the given mean (Poisson arrivals). */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.next());
  }
}

/**
 * Smooth noise in [-1, 1] as a pure function of time: values at whole multiples of
 * `stepMs` come from a hash, linearly interpolated between. Being a function of time
 * (not of how often it is called) keeps workloads identical whatever the tick length.
 */
export function valueNoise(seed: number, tMs: number, stepMs: number): number {
  const x = tMs / stepMs;
  const i = Math.floor(x);
  const f = x - i;
  const a = mix32((seed ^ Math.imul(i, 0x9e3779b1)) >>> 0) / 4294967296;
  const b = mix32((seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0) / 4294967296;
  return (a + (b - a) * f) * 2 - 1;
}
