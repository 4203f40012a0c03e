/**
 * How a virtio balloon moves, from the test bed's measurements under TCG: inflating
 * 256 MiB (taking memory from the guest) takes 0.3 to 0.9 s, deflating 256 MiB about
 * 0.2 s. Each new inflation draws its speed from the guest's random stream. Taking
 * memory the guest's programs hold (anonymous pages, which it must swap out) is
 * slower still: the guest's swap-out speed bounds it.
 */
import { Prng } from './prng.js';
import { MiB } from '../common/units.js';

export interface BalloonTimings {
  /** Seconds to inflate by 256 MiB, drawn uniformly per move from [min, max]. */
  inflate256MinSeconds: number;
  inflate256MaxSeconds: number;
  /** Seconds to deflate by 256 MiB. */
  deflate256Seconds: number;
  /** Guest swap-out speed, bytes/s: bounds inflation into anonymous memory. */
  swapOutBytesPerSecond: number;
}

export const MEASURED_BALLOON_TIMINGS: BalloonTimings = {
  inflate256MinSeconds: 0.3,
  inflate256MaxSeconds: 0.9,
  deflate256Seconds: 0.2,
  swapOutBytesPerSecond: 100 * MiB,
};

/** A balloon: `actualBytes` (memory the guest has) moves toward `targetBytes`. */
export class BalloonDynamics {
  actualBytes: number;
  targetBytes: number;
  private inflateBytesPerSecond = 0;

  constructor(
    initialBytes: number,
    private readonly timings: BalloonTimings,
    private readonly rng: Prng,
  ) {
    this.actualBytes = initialBytes;
    this.targetBytes = initialBytes;
  }

  /** Sets a new target; an inflation draws its speed now. */
  setTarget(bytes: number): void {
    if (bytes < this.actualBytes && bytes !== this.targetBytes) {
      const seconds = this.rng.uniform(this.timings.inflate256MinSeconds, this.timings.inflate256MaxSeconds);
      this.inflateBytesPerSecond = (256 * MiB) / seconds;
    }
    this.targetBytes = bytes;
  }

  /**
   * Advances `dtMs`. `reclaimableBytes` is what the guest can give without swapping
   * (free memory and page cache); beyond it inflation runs at swap-out speed.
   * Returns the bytes the balloon moved (negative when it took memory).
   */
  step(dtMs: number, reclaimableBytes: number): number {
    const dt = dtMs / 1000;
    const before = this.actualBytes;
    if (this.targetBytes > this.actualBytes) {
      const rate = (256 * MiB) / this.timings.deflate256Seconds;
      this.actualBytes = Math.min(this.targetBytes, this.actualBytes + rate * dt);
    } else if (this.targetBytes < this.actualBytes) {
      const fast = Math.max(0, Math.min(reclaimableBytes, this.inflateBytesPerSecond * dt));
      // Time left in this step after the easy part goes at swap-out speed.
      const leftDt = dt - fast / this.inflateBytesPerSecond;
      const slow = Math.max(0, leftDt) * Math.min(this.timings.swapOutBytesPerSecond, this.inflateBytesPerSecond);
      this.actualBytes = Math.max(this.targetBytes, this.actualBytes - fast - slow);
    }
    return this.actualBytes - before;
  }

  /** The guest takes memory back on its own (autodeflate on OOM): actual and target rise. */
  forceDeflate(bytes: number): void {
    this.actualBytes += bytes;
    if (this.targetBytes < this.actualBytes) this.targetBytes = this.actualBytes;
  }
}
