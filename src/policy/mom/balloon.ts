/**
 * vdsm's balloon policy (02-balloon.policy) exactly: MOM's arithmetic order on KiB,
 * StatAvg over the kept samples, int() truncation of the targets, and the
 * guaranteed-memory pass. One deliberate difference: a guest without balloon data is
 * skipped (MOM's guaranteed pass would abort the whole cycle).
 */
import type { MomGuestView, MomMonitor } from './view.js';

/** vdsm's constants. */
export const MOM_BALLOON_CONSTANTS = {
  pressureThreshold: 0.2,
  pressureCritical: 0.05,
  minGuestFreePercent: 0.2,
  maxBalloonChangePercent: 0.05,
  minBalloonChangePercent: 0.0025,
} as const;

export type MomBalloonReason = 'shrink' | 'grow' | 'guaranteed';

export interface MomBalloonTarget {
  /** int(target), KiB, as MOM's Balloon controller sends it. */
  targetKib: number;
  reason: MomBalloonReason;
}

export interface MomBalloonResult {
  /** Guest id to target, in guest order; only guests that got a target. */
  targets: Map<string, MomBalloonTarget>;
  skipped: Array<{ guestId: string; reason: string }>;
}

const C = MOM_BALLOON_CONSTANTS;

/** guest_free_percent(host_free_percent), vdsm's formula. */
export function momGuestFreePercent(hostFreePercent: number): number {
  if (hostFreePercent <= C.pressureCritical) return -0.05 + hostFreePercent;
  return C.minGuestFreePercent * (hostFreePercent / C.pressureThreshold);
}

function changeBigEnough(cur: number, v: number): boolean {
  return Math.abs(v - cur) > C.minBalloonChangePercent * cur;
}

interface Balloon {
  cur: number;
  max: number;
  min: number;
}

function floorOf(g: MomMonitor, b: Balloon, guestFreePercent: number): number {
  const used = g.avg('balloon_cur') - g.avg('mem_unused');
  return Math.max(b.min, used + guestFreePercent * b.cur);
}

function shrink(g: MomMonitor, b: Balloon, gfp: number): number | undefined {
  const floor = floorOf(g, b, gfp);
  let size = b.cur * (1 - C.maxBalloonChangePercent);
  if (size < floor) size = floor;
  if (size <= b.cur && changeBigEnough(b.cur, size)) return size;
  return undefined;
}

function grow(g: MomMonitor, b: Balloon, gfp: number): number | undefined {
  if (!(b.cur < b.max)) return undefined;
  const floor = floorOf(g, b, gfp);
  let size = b.cur * (1 + C.maxBalloonChangePercent);
  if (size < floor) size = floor;
  if (size > b.max) size = b.max;
  if (changeBigEnough(b.cur, size)) return size;
  return undefined;
}

/** MOM's host_free_percent: StatAvg(mem_free) / mem_available (MemTotal). */
export function momHostFreePercent(host: MomMonitor): number | undefined {
  const total = host.latest('mem_available');
  if (total === null) return undefined;
  return host.avg('mem_free') / total;
}

/** One balloon cycle over the ready guests, in order. */
export function momBalloon(host: MomMonitor, guests: readonly MomGuestView[], balloonEnabled: boolean): MomBalloonResult {
  const result: MomBalloonResult = { targets: new Map(), skipped: [] };
  const hostFreePercent = momHostFreePercent(host);
  if (hostFreePercent === undefined) throw new Error('host mem_available is missing');
  const gfp = momGuestFreePercent(hostFreePercent);
  const balloons = new Map<string, Balloon>();
  for (const { id, monitor: g } of guests) {
    const cur = g.latest('balloon_cur');
    const max = g.latest('balloon_max');
    const min = g.latest('balloon_min');
    if (cur === null || max === null || min === null) {
      // MOM aborts the whole cycle on such a guest; we leave only this one out.
      result.skipped.push({ guestId: id, reason: 'no balloon data' });
      continue;
    }
    const b = { cur, max, min };
    balloons.set(id, b);
    if (g.latest('mem_unused') === null) {
      result.skipped.push({ guestId: id, reason: 'memory information is missing' });
      continue;
    }
    const shrinking = hostFreePercent < C.pressureThreshold && balloonEnabled;
    const size = shrinking ? shrink(g, b, gfp) : grow(g, b, gfp);
    if (size !== undefined) result.targets.set(id, { targetKib: Math.trunc(size), reason: shrinking ? 'shrink' : 'grow' });
  }
  // The guaranteed pass runs after the cycle and overrides what it decided.
  for (const [id, b] of balloons) {
    if (b.cur < b.min) result.targets.set(id, { targetKib: Math.trunc(b.min), reason: 'guaranteed' });
  }
  return result;
}
