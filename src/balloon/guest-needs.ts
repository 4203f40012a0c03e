/**
 * What a guest needs, as the default policy reads it from the guest's reports and
 * its own memory of earlier ones (pure: the caller passes the time and the state).
 *
 * - used: balloon actual - MemAvailable at the last report (what it would swap without).
 * - peak: the highest use seen, decaying toward the current use with a half-life, so a
 *   periodic load keeps in its trough what it will need again.
 * - jump: the largest rise of use between two reports, also decaying; the headroom a
 *   guest keeps is sized from it (and from the report's age: a late report may have
 *   missed a jump), not from a share of its memory.
 * - rising: use rose by more than the dead band over the last few reports (a guest
 *   still booting or growing): no memory is taken from it.
 * - distress: the last report pair shows swap-in, hard faults or no available memory;
 *   the shortfall is what that report measures (swapped-in bytes, pages faulted in,
 *   available under its floor): the policy sizes its give from that report (its balloon
 *   then plus the shortfall), so it gives it once per report however often it runs.
 * - blind: the last report carries no memory stats or is stale (a guest without the
 *   balloon service, or one whose driver stopped).
 */
import type { GuestSample, GuestState } from '../policy/types.js';

const PAGE = 4096;
/** Distress reports further apart than this belong to separate episodes. */
const SHORT_EPISODE_GAP_MS = 60_000;

/** What the policy remembers of a guest between evaluations. */
export interface GuestMemory {
  /** Decaying peak of used memory, bytes, as of `atMs`. */
  peakBytes: number;
  /** Decaying largest rise of used memory between two reports, bytes, as of `atMs`. */
  jumpBytes: number;
  /**
   * The balloon size at which it was last short, plus what it lacked (decaying): the
   * least it keeps. A guest faulting on a hot page cache shows little "used" memory
   * (cache counts as available), so its use alone does not say how much it needs.
   */
  shortAtBytes?: number;
  /**
   * Distress episodes so far (reports showing distress more than a minute after the last one)
   * and when the last distress report was seen. Each episode doubles how long shortAtBytes
   * holds (up to 8x): a guest that was short again where it had been short before is not
   * probed as soon again (backoff, as for any probe that keeps failing).
   */
  shortEpisodes?: number;
  shortSeenMs?: number;
  atMs: number;
  /** When memory was last given back to it in calm, ms. */
  grownAtMs?: number;
}

export interface NeedParameters {
  /** Half-life of the peak and jump memories, ms. */
  peakHalfLifeMs: number;
  jumpHalfLifeMs: number;
  /** A rise of use this large over the last `riseReports` reports makes a guest rising. */
  deadBandBytes: number;
  riseReports: number;
  /** Distress: major faults per second, available memory fraction of the balloon. */
  majorFaultRate: number;
  guestMinAvailablePercent: number;
  /**
   * The jump assumed for a guest without swap the policy sees for the first time, as a fraction of its
   * memory (decaying like any jump): a quiet start says nothing about the bursts to come, and for such a
   * guest a burst beyond its headroom is an OOM kill, not a swap-in.
   */
  unseenJumpPercent: number;
}

export interface GuestNeed {
  usedBytes?: number;
  /** max(used, decaying peak). */
  peakBytes?: number;
  /** The balloon size it was last short at plus its shortfall, decaying (0: none). */
  shortAtBytes: number;
  /** The largest jump between reports (decaying), bytes. */
  jumpBytes: number;
  /** The stats period as the reports show it (median spacing), ms. */
  periodMs?: number;
  /** How old the last report is, ms. */
  ageMs?: number;
  rising: boolean;
  distressed: boolean;
  /** Bytes the last distress report says the guest lacks (0 when none). */
  shortfallBytes: number;
  /** The part of it that is page cache read back (major faults beyond swap-in): a cost, not a loss. */
  cacheShortfallBytes: number;
  /** The report the shortfall comes from. */
  reportMs?: number;
  blind: boolean;
  /** Free memory in the guest at the last report (MemFree), bytes. */
  freeBytes?: number;
  next: GuestMemory;
}

const hasStats = (s: GuestSample): boolean => s.availableBytes !== undefined && (s.balloonActualBytes ?? s.totalBytes) !== undefined;
const usedOf = (s: GuestSample): number => Math.max(0, (s.balloonActualBytes ?? s.totalBytes)! - s.availableBytes!);

function decay(value: number, toward: number, dtMs: number, halfLifeMs: number): number {
  if (value <= toward || halfLifeMs <= 0) return toward;
  return toward + (value - toward) * Math.pow(0.5, Math.max(0, dtMs) / halfLifeMs);
}

/** Median spacing of the reports, ms (undefined with fewer than two). */
export function reportPeriod(reports: readonly GuestSample[]): number | undefined {
  const gaps: number[] = [];
  for (let i = 1; i < reports.length; i++) {
    const d = reports[i]!.atMs - reports[i - 1]!.atMs;
    if (d > 0) gaps.push(d);
  }
  if (gaps.length === 0) return undefined;
  gaps.sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)];
}

/** The distress of the last report pair and what it measures missing. */
function distressOf(prev: GuestSample | undefined, last: GuestSample, p: NeedParameters, keepFreeBytes: number): { distressed: boolean; shortfall: number; cacheShortfall: number } {
  let shortfall = 0;
  let cacheShortfall = 0;
  let distressed = false;
  if (prev && last.atMs > prev.atMs) {
    const seconds = (last.atMs - prev.atMs) / 1000;
    const delta = (f: (s: GuestSample) => number | undefined): number => {
      const a = f(prev);
      const b = f(last);
      if (a === undefined || b === undefined) return 0;
      return b >= a ? b - a : b; // a counter that went down: the guest rebooted
    };
    const swapIn = delta((s) => s.swapInBytes);
    const faults = delta((s) => s.majorFaults);
    if (swapIn > 0) {
      distressed = true;
      shortfall += swapIn;
    }
    if (faults / seconds > p.majorFaultRate) {
      distressed = true;
      // Pages read back in over the interval: memory (cache or swapped pages) it lacks.
      cacheShortfall = Math.max(0, faults * PAGE - swapIn);
      shortfall += cacheShortfall;
    }
  }
  const avail = last.availableBytes ?? 0;
  const size = last.balloonActualBytes ?? last.totalBytes ?? 0;
  if (avail < p.guestMinAvailablePercent * size) distressed = true;
  if (distressed) shortfall += Math.max(0, keepFreeBytes - avail);
  return { distressed, shortfall, cacheShortfall };
}

/**
 * Reads a guest. `previous`: the policy's memory of it (undefined the first time);
 * `keepFreeBytes`: the free memory a distressed guest is topped up to.
 */
export function assessGuest(guest: GuestState, nowMs: number, previous: GuestMemory | undefined, p: NeedParameters, keepFreeBytes: number): GuestNeed {
  const reports = guest.history.filter(hasStats);
  const last = guest.history[guest.history.length - 1];
  const lastStats = reports[reports.length - 1];
  const periodMs = reportPeriod(guest.history);
  const ageMs = last ? Math.max(0, nowMs - last.atMs) : undefined;
  const stale = lastStats === undefined || (periodMs !== undefined && nowMs - lastStats.atMs > 3 * periodMs + 1000);
  const blind = !last || !hasStats(last) || stale;
  const next: GuestMemory = previous ? { ...previous } : { peakBytes: 0, jumpBytes: guest.swapBytes || guest.autodeflate ? 0 : p.unseenJumpPercent * guest.guestMemoryBytes, atMs: nowMs };
  const out: GuestNeed = { jumpBytes: 0, shortAtBytes: 0, cacheShortfallBytes: 0, rising: false, distressed: false, shortfallBytes: 0, blind, next };
  if (periodMs !== undefined) out.periodMs = periodMs;
  if (ageMs !== undefined) out.ageMs = ageMs;
  if (!lastStats) return out;
  const used = usedOf(lastStats);
  out.usedBytes = used;
  if (lastStats.freeBytes !== undefined) out.freeBytes = lastStats.freeBytes;
  // Largest rise between consecutive reports in the kept history.
  let jump = 0;
  for (let i = 1; i < reports.length; i++) jump = Math.max(jump, usedOf(reports[i]!) - usedOf(reports[i - 1]!));
  const dt = nowMs - next.atMs;
  next.peakBytes = Math.max(used, decay(next.peakBytes, used, dt, p.peakHalfLifeMs));
  next.jumpBytes = Math.max(jump, decay(next.jumpBytes, 0, dt, p.jumpHalfLifeMs));
  const shortHalfLifeMs = p.jumpHalfLifeMs * 2 ** Math.min(3, Math.max(0, (next.shortEpisodes ?? 1) - 1));
  if (next.shortAtBytes !== undefined) next.shortAtBytes = decay(next.shortAtBytes, 0, dt, shortHalfLifeMs);
  next.atMs = nowMs;
  out.peakBytes = next.peakBytes;
  out.jumpBytes = next.jumpBytes;
  const recent = reports.slice(-Math.max(2, p.riseReports));
  const lowest = Math.min(...recent.map(usedOf));
  out.rising = used - lowest > p.deadBandBytes;
  if (!blind) {
    const prev = reports[reports.length - 2];
    const d = distressOf(prev, lastStats, p, keepFreeBytes);
    out.distressed = d.distressed;
    if (d.distressed) {
      out.shortfallBytes = Math.max(PAGE, d.shortfall);
      out.cacheShortfallBytes = d.cacheShortfall;
      out.reportMs = lastStats.atMs;
      // What it lacked counts as use it had: the peak (and so what it keeps) includes it, and
      // decays like any peak. A guest re-reading a hot cache it was trimmed below keeps the
      // cache for a while instead of being trimmed into the same faults at the next cycle.
      next.peakBytes = Math.max(next.peakBytes, used + d.shortfall);
      out.peakBytes = next.peakBytes;
      next.shortAtBytes = Math.max(next.shortAtBytes ?? 0, (lastStats.balloonActualBytes ?? lastStats.totalBytes ?? 0) + d.shortfall);
      if (next.shortSeenMs === undefined || lastStats.atMs - next.shortSeenMs > SHORT_EPISODE_GAP_MS) next.shortEpisodes = (next.shortEpisodes ?? 0) + 1;
      next.shortSeenMs = lastStats.atMs;
    }
    if (next.shortAtBytes !== undefined) out.shortAtBytes = next.shortAtBytes;
  }
  return out;
}

/**
 * The headroom a guest keeps above its peak: its margin, or the largest jump it has
 * shown between reports times (1 + lateness / period, lateness being how far the last
 * report is past its period) when larger; times the
 * priority factor (2^((priority - 50) / 50): priority 100 keeps twice, 0 half) and the
 * factor for guests without swap (a shortfall is an OOM kill, not a swap-in) or with
 * autodeflate (a shortfall undoes the balloon on its own and the node gets the memory
 * back as a surprise).
 */
export function headroomBytes(guest: GuestState, need: GuestNeed, factors: { noSwap: number; autodeflate: number }): number {
  const period = need.periodMs ?? 5000;
  // A jump is measured between two reports a period apart, so it covers a report up to a period old.
  // Only lateness beyond that scales it: scaling by the whole age made the headroom double and halve
  // with the phase of the evaluation against the reports, and the target with it (a flap every report).
  const lateness = Math.max(0, (need.ageMs ?? 0) - period);
  const ageScale = 1 + Math.min(4, lateness / period);
  let h = Math.max(guest.marginBytes, need.jumpBytes * ageScale);
  h *= Math.pow(2, (Math.min(100, Math.max(0, guest.priority)) - 50) / 50);
  if (!guest.swapBytes) h *= factors.noSwap;
  if (guest.autodeflate) h *= factors.autodeflate;
  return Math.max(guest.marginBytes, h);
}
