/** What a guest's recent samples say: free memory it could give, and signs of distress. */
import type { GuestSample, GuestState } from '../policy/types.js';
import { counterRate } from '../common/counter-rate.js';

export interface GuestSignals {
  /** Memory the guest could give without reclaiming (MemAvailable, else MemFree), bytes. */
  availableBytes?: number;
  /**
   * What the guest used at its last report (balloon then - available then), bytes.
   * Taken from one report so a balloon that moved since does not skew it.
   */
  usedBytes?: number;
  /** Swap-in, bytes per second, over the last two samples. */
  swapInRate?: number;
  /** Major faults per second over the last two samples. */
  majorFaultRate?: number;
  /** When the guest last showed distress within the kept history, ms. */
  lastDistressMs?: number;
  /**
   * How fast the guest's used memory (balloon - available) grew over its last reports,
   * bytes per second (negative when it shrinks); undefined with fewer than two reports.
   */
  usedGrowthRate?: number;
  /** How fast MemFree changed over the same reports, bytes per second (negative: filling). */
  freeGrowthRate?: number;
}

function rate(a: GuestSample, b: GuestSample, f: (s: GuestSample) => number | undefined): number | undefined {
  const x = f(a);
  const y = f(b);
  if (x === undefined || y === undefined) return undefined;
  return counterRate(x, y, (b.atMs - a.atMs) / 1000);
}

export interface DistressThresholds {
  /** Major faults per second above which the guest is short of memory. */
  majorFaultRate: number;
  /** Guest available memory under this fraction of its balloon is distress. */
  minAvailableFraction: number;
}

/** True when a sample pair shows the guest swapping in, faulting hard, or nearly out of memory. */
function distressed(a: GuestSample, b: GuestSample, balloon: number | undefined, t: DistressThresholds): boolean {
  const swapIn = rate(a, b, (s) => s.swapInBytes);
  const faults = rate(a, b, (s) => s.majorFaults);
  const avail = b.availableBytes ?? b.freeBytes;
  const size = b.balloonActualBytes ?? balloon;
  return (swapIn !== undefined && swapIn > 0) || (faults !== undefined && faults > t.majorFaultRate) ||
    (avail !== undefined && size !== undefined && avail < t.minAvailableFraction * size);
}

/**
 * What a report shows the guest using: its memory (the balloon's size then, else the guest's total,
 * else `balloonBytes`) less what it has available; undefined when the report lacks either.
 */
export function sampleUsedBytes(x: GuestSample, balloonBytes: number | undefined): number | undefined {
  const size = x.balloonActualBytes ?? x.totalBytes ?? balloonBytes;
  const a = x.availableBytes ?? x.freeBytes;
  return size === undefined || a === undefined ? undefined : Math.max(0, size - a);
}

export function guestSignals(guest: GuestState, t: DistressThresholds): GuestSignals {
  const h = guest.history;
  const out: GuestSignals = {};
  const last = h[h.length - 1];
  if (!last) return out;
  const avail = last.availableBytes ?? last.freeBytes;
  if (avail !== undefined) out.availableBytes = avail;
  const prev = h[h.length - 2];
  if (prev) {
    const s = rate(prev, last, (x) => x.swapInBytes);
    const f = rate(prev, last, (x) => x.majorFaults);
    if (s !== undefined) out.swapInRate = s;
    if (f !== undefined) out.majorFaultRate = f;
  }
  // Used memory's trend over up to the last three reports (a booting guest climbs fast).
  const used = (x: GuestSample): number | undefined => sampleUsedBytes(x, guest.balloonActualBytes);
  const usedNow = used(last);
  if (usedNow !== undefined) out.usedBytes = usedNow;
  const from = h[Math.max(0, h.length - 3)]!;
  const u0 = used(from);
  const u1 = used(last);
  if (from !== last && last.atMs > from.atMs) {
    const seconds = (last.atMs - from.atMs) / 1000;
    if (u0 !== undefined && u1 !== undefined) out.usedGrowthRate = (u1 - u0) / seconds;
    if (from.freeBytes !== undefined && last.freeBytes !== undefined) out.freeGrowthRate = (last.freeBytes - from.freeBytes) / seconds;
  }
  for (let i = h.length - 1; i >= 0; i--) {
    const b = h[i]!;
    const a = h[i - 1] ?? b;
    if (distressed(a, b, guest.balloonActualBytes, t)) {
      out.lastDistressMs = b.atMs;
      break;
    }
  }
  return out;
}
