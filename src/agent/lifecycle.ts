/**
 * A VM's lifecycle phase as the agent sees it through QMP. Pure: the agent feeds it
 * what it observed (connection, query-status, events, whether guest stats flow).
 */
import type { Phase } from '../policy/types.js';

export type { Phase };

/** What the agent knows about QEMU at one moment. */
export interface LifecycleInput {
  /** A QMP session is up and answering. */
  reachable: boolean;
  /** QEMU announced SHUTDOWN on this session. */
  shutdownSeen: boolean;
  /** The last run state from query-status or STOP/RESUME events (QMP RunState names). */
  runState: string | undefined;
  /** The guest's balloon driver has reported stats on this QEMU. */
  driverReported: boolean;
}

const MIGRATING = new Set(['inmigrate', 'postmigrate', 'finish-migrate']);
const STARTING = new Set(['prelaunch', 'restore-vm']);
const STOPPING = new Set(['shutdown', 'guest-panicked', 'internal-error']);

/** The phase for what was observed; unknown run states that are not "running" count as paused. */
export function phaseOf(input: LifecycleInput): Phase {
  if (!input.reachable) return 'gone';
  if (input.shutdownSeen) return 'stopping';
  const state = input.runState;
  if (state === undefined || STARTING.has(state)) return 'starting';
  if (MIGRATING.has(state)) return 'migrating';
  if (STOPPING.has(state)) return 'stopping';
  if (state !== 'running') return 'paused';
  return input.driverReported ? 'running' : 'starting';
}

/** When the VM entered its current phase, as the agent knows it. */
export interface PhaseSince {
  phase: Phase;
  /** When the agent first saw this phase (Unix ms). */
  sinceMs: number;
  /**
   * The VM was already in this phase when the agent first looked at its QEMU (a
   * restarted sidecar, a QMP reconnect): it entered it at or before `sinceMs`, how
   * much earlier the agent cannot tell (QMP reports no uptime).
   */
  beganEarlier: boolean;
}

/**
 * The phase record after an observation. A phase that did not change keeps its
 * record. A change seen on the agent's first complete look at a QEMU connection is one
 * the agent did not witness, so it is marked as having begun earlier; any later change
 * is dated now (the agent samples every stats period, so to within one period).
 */
export function trackPhase(previous: PhaseSince | undefined, phase: Phase, nowMs: number, firstLook: boolean): PhaseSince {
  if (previous && previous.phase === phase) return previous;
  return { phase, sinceMs: nowMs, beganEarlier: firstLook };
}

/** The run state an event implies, or undefined when it says nothing about it. */
export function runStateAfterEvent(event: string, current: string | undefined): string | undefined {
  switch (event) {
    case 'STOP':
      // STOP also precedes migration's final phase and shutdown; query-status refines it.
      return 'paused';
    case 'RESUME':
      return 'running';
    case 'SHUTDOWN':
      return 'shutdown';
    default:
      return current;
  }
}
