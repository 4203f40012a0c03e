/**
 * Phase rules shared by KubeMom's policies (what a VM's lifecycle phase allows): nothing is inflated (memory taken)
 * while a VM starts, until its guest stats flow plus a grace period, and targets hold
 * while it migrates or stops.
 */
import type { GuestState } from '../policy/types.js';

export interface LifecycleOptions {
  /** How long after stats start flowing (and the VM runs) before the balloon may inflate. */
  startGraceMs: number;
  /**
   * Send no target while the VM migrates (the agent keeps the last one). When false, a
   * migrating VM may still be given memory back, but is never inflated: memory taken
   * mid-migration dirties pages and slows convergence, and on the target it frees nothing.
   */
  holdDuringMigration: boolean;
}

export const DEFAULT_LIFECYCLE: LifecycleOptions = { startGraceMs: 60_000, holdDuringMigration: true };

/** What a policy may do with a guest now: anything, only give memory back, or nothing. */
export type LifecycleGate = 'free' | 'no-inflate' | 'hold';

/**
 * When the guest's stats started flowing without a gap: the first sample after the last
 * one without stats; -Infinity when every kept sample has stats (the history is bounded,
 * so then the phase start tells); undefined when the latest sample has none.
 */
function statsSinceMs(guest: GuestState): number | undefined {
  const h = guest.history;
  if (h.length === 0 || h[h.length - 1]!.freeBytes === undefined) return undefined;
  for (let i = h.length - 2; i >= 0; i--) {
    if (h[i]!.freeBytes === undefined) return h[i + 1]!.atMs;
  }
  return -Infinity;
}

export function lifecycleGate(guest: GuestState, nowMs: number, opts: LifecycleOptions): LifecycleGate {
  switch (guest.phase) {
    case 'migrating':
      return opts.holdDuringMigration ? 'hold' : 'no-inflate';
    case 'stopping':
    case 'gone':
      return 'hold';
    case 'starting':
      return 'no-inflate';
    default:
      break;
  }
  const since = statsSinceMs(guest);
  if (since === undefined) return 'no-inflate';
  return nowMs - Math.max(since, guest.phaseSinceMs) >= opts.startGraceMs ? 'free' : 'no-inflate';
}

/**
 * True when the only thing that keeps a guest from giving memory is its start grace:
 * it runs, its stats flow, but it has not run for `startGraceMs` since they did. A
 * policy may then, under critical node pressure, take memory the guest reports unused
 * (gate it as 'free' for that); a VM that is not running or sends no stats never.
 */
export function inStartGrace(guest: GuestState, nowMs: number, opts: LifecycleOptions): boolean {
  if (guest.phase !== 'running') return false;
  const since = statsSinceMs(guest);
  return since !== undefined && nowMs - Math.max(since, guest.phaseSinceMs) < opts.startGraceMs;
}

/**
 * The safe target for a guest: never under its guaranteed memory nor over its memory,
 * never an inflation the lifecycle forbids; undefined when nothing may be sent.
 */
export function guardTarget(guest: GuestState, targetBytes: number, gate: LifecycleGate): number | undefined {
  if (gate === 'hold') return undefined;
  let t = Math.min(Math.max(targetBytes, guest.guaranteedMemoryBytes), guest.guestMemoryBytes);
  const current = guest.balloonActualBytes;
  if (gate === 'no-inflate') {
    if (current === undefined) return undefined;
    if (t < current) t = Math.min(current, guest.guestMemoryBytes);
    if (t === current) return undefined;
  }
  return t;
}
