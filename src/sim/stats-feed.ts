/**
 * When a guest's balloon stats reach the policy, and whether they come at all.
 *
 * QEMU asks the guest for stats every stats period (`guest-stats-polling-interval`) and
 * stamps what comes back with `last-update`; the guest answers when its balloon driver's
 * work item runs, a little late on a busy vCPU (jitter); the report then travels the
 * agent's stream to the shim (delay; a guest whose vCPUs are starved answers seconds
 * late). A report carries the time its content was taken, so the policy can see its
 * age. A guest without the balloon stats service (a Windows guest without the balloon
 * service, a Linux guest whose driver stopped) sends no memory stats: the agent still
 * streams the balloon's actual size from QMP, so those reports carry only that.
 */
import type { GuestSample } from '../policy/types.js';
import { Prng } from './prng.js';

export interface StatsBehaviour {
  /** Each report comes up to this fraction of the period late (uniform), 0..1. */
  jitter: number;
  /** Reports reach the policy this long after they were taken, ms. */
  delayMs: number;
  /** Memory stats stop this long after the guest booted, ms (undefined: never). */
  stopAfterMs?: number;
  /** The guest never sends memory stats. */
  none: boolean;
}

/** A guest that reports on time, with a little jitter (the driver's work item). */
export const DEFAULT_STATS: StatsBehaviour = { jitter: 0.05, delayMs: 0, none: false };

/** The memory stats fields a blind report lacks. */
function actualOnly(s: GuestSample): GuestSample {
  const out: GuestSample = { atMs: s.atMs };
  if (s.balloonActualBytes !== undefined) out.balloonActualBytes = s.balloonActualBytes;
  return out;
}

export class StatsFeed {
  private nextPollMs: number;
  private dueMs: number | undefined;
  private readonly inFlight: Array<{ deliverAtMs: number; sample: GuestSample }> = [];

  constructor(
    private readonly periodMs: number,
    private readonly behaviour: StatsBehaviour,
    private readonly rng: Prng,
    /** The guest's boot, ms. */
    private readonly bootMs: number,
  ) {
    this.nextPollMs = bootMs;
  }

  /**
   * Advances to `nowMs`: takes the report due (with `take`, the guest's state now) and
   * returns the reports that reach the policy by now, oldest first.
   */
  tick(nowMs: number, take: (atMs: number) => GuestSample): GuestSample[] {
    if (nowMs >= this.nextPollMs) {
      this.dueMs = this.nextPollMs + this.rng.uniform(0, this.behaviour.jitter) * this.periodMs;
      this.nextPollMs += this.periodMs * Math.max(1, Math.ceil((nowMs - this.nextPollMs + 1) / this.periodMs));
    }
    if (this.dueMs !== undefined && nowMs >= this.dueMs) {
      this.dueMs = undefined;
      const blind = this.behaviour.none || (this.behaviour.stopAfterMs !== undefined && nowMs >= this.bootMs + this.behaviour.stopAfterMs);
      const sample = take(nowMs);
      this.inFlight.push({ deliverAtMs: nowMs + this.behaviour.delayMs, sample: blind ? actualOnly(sample) : sample });
    }
    const out: GuestSample[] = [];
    while (this.inFlight.length > 0 && this.inFlight[0]!.deliverAtMs <= nowMs) out.push(this.inFlight.shift()!.sample);
    return out;
  }
}
