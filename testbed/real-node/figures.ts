/**
 * The figures of one real-node run, from what the run sampled (the pods cgroup, the
 * balloons as libvirt reports them, OOM counters and guest consoles): time under the
 * kubelet's hard threshold and under KubeMom's reserve, the lowest allocatable memory, the
 * memory the balloons took back, and how long the node took to recover from the squeeze.
 * Pure functions, so the arithmetic is unit-tested apart from the guests.
 */

/** One reading of the pods cgroup. */
export interface NodePoint {
  tSeconds: number;
  /** allocatableMemory.available computed by the run from the cgroup files. */
  availableBytes: number;
  workingSetBytes: number;
}

/** One reading of every guest's balloon (libvirt's `balloon.current`), bytes by guest name. */
export interface BalloonPoint {
  tSeconds: number;
  actualBytes: Record<string, number>;
}

export interface FigureInputs {
  node: NodePoint[];
  balloons: BalloonPoint[];
  /** Guest memory by guest name. */
  guestMemoryBytes: Record<string, number>;
  evictionHardBytes: number;
  reserveBytes: number;
  /** When the noisy pod starts to grow, and when it lets go. */
  squeeze: { startSeconds: number; endSeconds: number };
}

export interface RunFigures {
  underThresholdSeconds: number;
  underReserveSeconds: number;
  minAvailableBytes: number;
  /** The most the balloons held at once: sum of guest memory - balloon actual. */
  peakReclaimedBytes: number;
  /** Mean of the same over the squeeze. */
  meanReclaimedInSqueezeBytes: number;
  /**
   * From the squeeze's start to the end of the first stretch under the reserve that begins in
   * the squeeze (or is under way at its start): 0 when there is none, undefined when the run
   * ended still under it.
   */
  recoverySeconds: number | undefined;
}

/** Seconds spent with `below(point)` true, each point counting until the next. */
function timeWhere(points: NodePoint[], below: (p: NodePoint) => boolean): number {
  let total = 0;
  for (let i = 0; i + 1 < points.length; i++) if (below(points[i]!)) total += points[i + 1]!.tSeconds - points[i]!.tSeconds;
  return total;
}

function reclaimed(point: BalloonPoint, memory: Record<string, number>): number {
  let sum = 0;
  for (const [name, actual] of Object.entries(point.actualBytes)) {
    const m = memory[name];
    if (m !== undefined && actual > 0) sum += Math.max(0, m - actual);
  }
  return sum;
}

export function runFigures(f: FigureInputs): RunFigures {
  const node = [...f.node].sort((a, b) => a.tSeconds - b.tSeconds);
  const inSqueeze = f.balloons.filter((b) => b.tSeconds >= f.squeeze.startSeconds && b.tSeconds <= f.squeeze.endSeconds);
  return {
    underThresholdSeconds: timeWhere(node, (p) => p.availableBytes < f.evictionHardBytes),
    underReserveSeconds: timeWhere(node, (p) => p.availableBytes < f.reserveBytes),
    minAvailableBytes: node.reduce((min, p) => Math.min(min, p.availableBytes), Number.POSITIVE_INFINITY),
    peakReclaimedBytes: f.balloons.reduce((max, b) => Math.max(max, reclaimed(b, f.guestMemoryBytes)), 0),
    meanReclaimedInSqueezeBytes: inSqueeze.length === 0 ? 0 : inSqueeze.reduce((s, b) => s + reclaimed(b, f.guestMemoryBytes), 0) / inSqueeze.length,
    recoverySeconds: recovery(node, f.reserveBytes, f.squeeze),
  };
}

function recovery(node: NodePoint[], reserve: number, squeeze: { startSeconds: number; endSeconds: number }): number | undefined {
  let start: number | undefined;
  for (const p of node) {
    if (p.tSeconds < squeeze.startSeconds) {
      // Already under the reserve when the squeeze starts: that stretch counts.
      start = p.availableBytes < reserve ? p.tSeconds : undefined;
      continue;
    }
    if (start === undefined) {
      if (p.tSeconds >= squeeze.endSeconds) return 0;
      if (p.availableBytes < reserve) start = p.tSeconds;
    } else if (p.availableBytes >= reserve) {
      return p.tSeconds - squeeze.startSeconds;
    }
  }
  return start === undefined ? 0 : undefined;
}
