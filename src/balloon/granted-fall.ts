/**
 * The part of a fall in the node's available memory that the policy caused itself.
 *
 * A calm grant (a step of memory given back to a guest with no need shown, while the node is calm)
 * hands host memory to a guest, and the node's MemAvailable falls by up to that much as the guest
 * fills it with page cache. The grant was budgeted against the policy's lines when it was given;
 * extrapolating the fall it causes as a trend makes the next round see pressure that is not there
 * and take back what this round gave: a flap. Grants to a guest short of memory (its growth, its
 * distress) are not counted: the guest fills them at once and goes on growing, a trend to follow.
 * Pure: computed from the guests' balloon history in the policy's input and the policy's state.
 */
import { sampleUsedBytes } from './guest-signals.js';
import type { GuestSample, GuestState } from '../policy/types.js';

/** A balloon deflates a grant well within this long after the target is sent, ms. */
export const GRANT_DELIVERY_MS = 10_000;

/**
 * Bytes the balloons of guests given a calm grant (at `calmGrantAtMs(id)`, no earlier than
 * GRANT_DELIVERY_MS before `fromMs`) deflated since `fromMs` toward their targets and the guests did
 * not take into use: how far each balloon rose from its last report at or before `fromMs` (only up
 * to its target: deflate-on-OOM past it is the guest's need), less how much its used memory rose
 * over the same reports (a grant a guest fills with its own use is its growth). A guest with no
 * report that old counts nothing.
 */
export function grantedSinceBytes(guests: readonly GuestState[], fromMs: number, calmGrantAtMs: (guestId: string) => number | undefined): number {
  let granted = 0;
  for (const guest of guests) {
    const now = guest.balloonActualBytes;
    const last = guest.history[guest.history.length - 1];
    const grantAt = calmGrantAtMs(guest.id);
    if (now === undefined || guest.targetBytes === undefined || !last || grantAt === undefined || grantAt < fromMs - GRANT_DELIVERY_MS) continue;
    let before: GuestSample | undefined;
    for (const s of guest.history) {
      if (s.atMs > fromMs) break;
      if (s.balloonActualBytes !== undefined) before = s;
    }
    if (!before) continue;
    const deflated = Math.max(0, Math.min(now, guest.targetBytes) - before.balloonActualBytes!);
    const usedThen = sampleUsedBytes(before, undefined);
    const usedNow = sampleUsedBytes(last, now);
    const grewUse = usedThen === undefined || usedNow === undefined ? deflated : Math.max(0, usedNow - usedThen);
    granted += Math.max(0, deflated - grewUse);
  }
  return granted;
}
