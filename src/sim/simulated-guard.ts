/**
 * The sidecar's balloon guard as the simulator plays it. The floor is the agent's own rule (memoryFloor in
 * src/agent/guard.ts): every target is clamped to [max(guaranteed, need + margin), guest memory], need being what the
 * guest's last report shows it uses (actual - available), and nothing is taken without a report. The agent's other
 * two rules, taking memory no faster than the guest gives it and giving memory back when the guest swaps, are played
 * in their simple form with the agent's constants (a step limit per stats period, a deflate on swap-in): the real
 * guard's step bookkeeping (reached targets, reports after a move, stuck inflations) needs QMP timings the simulator
 * does not model, and the simple form keeps the simulator's figures comparable across policies.
 */
import { DEFAULT_MAX_INFLATE_BYTES_PER_SECOND, DEFAULT_SWAP_IN_PRESSURE_BYTES_PER_SECOND, memoryFloor } from '../agent/guard.js';
import { counterRate } from '../common/counter-rate.js';
import type { GuestSample } from '../policy/types.js';

const PAGE = 4096;

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

/** The lowest target the guard allows with this report. */
export function guardFloor(limits: GuardLimits, last: GuestSample | undefined): number {
  // No stats: guardTarget refuses to inflate (the agent does not take memory blind).
  if (!last || last.balloonActualBytes === undefined || last.availableBytes === undefined) return Math.min(limits.guaranteedBytes, limits.memoryBytes);
  return memoryFloor({ guestMemoryBytes: limits.memoryBytes, guaranteedBytes: limits.guaranteedBytes, marginBytes: limits.marginBytes }, last.balloonActualBytes, last.availableBytes).bytes;
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
  const step = (DEFAULT_MAX_INFLATE_BYTES_PER_SECOND * periodMs) / 1000;
  if (target < currentBytes - step) target = Math.ceil((currentBytes - step) / PAGE) * PAGE;
  return target;
}

/** The guest swaps in faster than the agent's pressure limit between its last two reports. */
export function guestUnderPressure(history: GuestSample[]): boolean {
  const last = history[history.length - 1];
  const prev = history[history.length - 2];
  if (!last || !prev || last.swapInBytes === undefined || prev.swapInBytes === undefined) return false;
  return (counterRate(prev.swapInBytes, last.swapInBytes, (last.atMs - prev.atMs) / 1000) ?? 0) > DEFAULT_SWAP_IN_PRESSURE_BYTES_PER_SECOND;
}
