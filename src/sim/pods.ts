/**
 * Non-VM pods on the node (a batch job, a log shipper, a build): memory the node's
 * users take outside any VM, following a time profile. A pod's memory counts in the
 * kubelet's signals, the kubelet may evict it (ranked as the kubelet ranks: pods over
 * their memory request first, then by priority, then by use above the request), and
 * the kernel's OOM killer may kill it. Program memory only: a pod's page cache is
 * left out.
 */
import { stillHeldBytes, type EndReason as GuestEnd } from './release.js';
import { warmedNeed } from './simulated-guest.js';
import { createWorkload, type Workload, type WorkloadSpec } from './workloads.js';

export interface PodConfig {
  name: string;
  /** The size the workload's fractions are of (its memory limit), bytes. */
  memoryBytes: number;
  /** Its memory request, bytes. */
  requestBytes: number;
  priority: number;
  startAtMs: number;
  runForMs?: number;
  workload: WorkloadSpec;
}


export class SimulatedPod {
  readonly id: string;
  readonly workload: Workload;
  usedBytes = 0;
  ended?: { reason: GuestEnd; atMs: number };
  private heldAtEndBytes = 0;

  constructor(
    readonly config: PodConfig,
    seed: number,
    horizonMs: number,
  ) {
    this.id = `pod/${config.name}`;
    this.workload = createWorkload(config.workload, config.memoryBytes, seed, `pod:${config.name}`, horizonMs);
  }

  get alive(): boolean {
    return !this.ended && this.usedBytes > 0;
  }

  step(nowMs: number): void {
    if (this.ended) return;
    const c = this.config;
    if (nowMs < c.startAtMs) return;
    if (c.runForMs !== undefined && nowMs >= c.startAtMs + c.runForMs) {
      this.end('stopped', nowMs);
      return;
    }
    // A pod's programs reach their working set over the same warm-up as a guest's.
    this.usedBytes = warmedNeed(c.workload, this.workload.at(nowMs - c.startAtMs).needBytes, nowMs - c.startAtMs);
  }

  end(reason: GuestEnd, nowMs: number): void {
    this.ended = { reason, atMs: nowMs };
    this.heldAtEndBytes = this.usedBytes;
    this.usedBytes = 0;
  }

  /** Memory it holds on the node now (an ended pod's until released). */
  heldBytes(nowMs: number): number {
    if (!this.ended) return this.usedBytes;
    return stillHeldBytes(this.heldAtEndBytes, this.ended.reason, this.ended.atMs, nowMs);
  }
}
