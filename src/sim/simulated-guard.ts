/**
 * The sidecar's balloon guard as the simulator plays it: every target a policy asks
 * for is clamped to [max(guaranteed, need + margin), guest memory], where need is what
 * the guest's last report shows it uses (actual - available), as the real agent does.
 * The agent also takes memory in steps no faster than the guest gives it and gives
 * memory back on its own when the guest swaps; the simulator models those two rules
 * in their simple form (a step limit per stats period, a deflate on swap-in).
 */
import type { GuestSample } from '../policy/types.js';

const MiB = 2 ** 20;
const PAGE = 4096;

/** The agent's defaults: take at most 128 MiB/s; swap-in above 1 MiB/s is pressure. */
export const GUARD_MAX_INFLATE_BYTES_PER_SECOND = 128 * MiB;
export const GUARD_SWAP_IN_PRESSURE_BYTES_PER_SECOND = 1 * MiB;

export interface GuardLimits {
  memoryBytes: number;
  guaranteedBytes: number;
  marginBytes: number;
}

/** How many stats periods a report may lag before the agent counts it stale (src/agent/guest-stats.ts). */
export const GUARD_STALE_PERIODS = 3;

/** The report carries memory stats and is not stale at `nowMs` (the agent's rule, plus its 1 s rounding). */
export function freshReport(last: GuestSample | undefined, nowMs: number, periodMs: number): boolean {
  return last !== undefined && last.availableBytes !== undefined && nowMs - last.atMs <= GUARD_STALE_PERIODS * periodMs + 1000;
}

/** What the guest needs now by its last report (balloon-actual units), bytes. */
export function reportedNeed(last: GuestSample | undefined): number | undefined {
  if (!last || last.balloonActualBytes === undefined || last.availableBytes === undefined) return undefined;
  return Math.max(0, last.balloonActualBytes - last.availableBytes);
}

/** The lowest target the guard allows with this report. */
export function guardFloor(limits: GuardLimits, last: GuestSample | undefined): number {
  const guaranteed = Math.min(limits.guaranteedBytes, limits.memoryBytes);
  const need = reportedNeed(last);
  if (need === undefined) return Math.min(limits.guaranteedBytes, limits.memoryBytes); // no stats: guardTarget refuses to inflate
  const needFloor = Math.min(limits.memoryBytes, Math.ceil((need + limits.marginBytes) / PAGE) * PAGE);
  return Math.max(guaranteed, needFloor);
}

/**
 * Clamps a requested target. `currentBytes` is the balloon's actual; inflation (a
 * target under it) is limited to one step of `periodMs` at the agent's speed, and
 * refused without a fresh report (the agent does not take memory blind).
 */
export function guardTarget(limits: GuardLimits, requestedBytes: number, currentBytes: number, last: GuestSample | undefined, periodMs: number, nowMs = last?.atMs ?? 0): number {
  const floor = guardFloor(limits, last);
  let target = Math.min(limits.memoryBytes, Math.max(floor, Math.round(requestedBytes)));
  if (!freshReport(last, nowMs, periodMs)) return Math.min(limits.memoryBytes, Math.max(Math.round(requestedBytes), Math.min(currentBytes, limits.memoryBytes), Math.min(limits.guaranteedBytes, limits.memoryBytes)));
  const step = (GUARD_MAX_INFLATE_BYTES_PER_SECOND * periodMs) / 1000;
  if (target < currentBytes - step) target = Math.ceil((currentBytes - step) / PAGE) * PAGE;
  return target;
}

/** The guest swaps in faster than the pressure limit between its last two reports. */
export function guestUnderPressure(history: GuestSample[]): boolean {
  const last = history[history.length - 1];
  const prev = history[history.length - 2];
  if (!last || !prev || last.swapInBytes === undefined || prev.swapInBytes === undefined) return false;
  const seconds = (last.atMs - prev.atMs) / 1000;
  return seconds > 0 && (last.swapInBytes - prev.swapInBytes) / seconds > GUARD_SWAP_IN_PRESSURE_BYTES_PER_SECOND;
}
