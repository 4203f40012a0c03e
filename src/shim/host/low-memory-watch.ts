/**
 * Wakes the loop when MemAvailable drops under a line, between two loop periods.
 *
 * PSI reports stalls, which come only once memory is already short; a fall in
 * MemAvailable under the reclaim line is the earlier sign (DESIGN.md: "PSI trigger,
 * MemAvailable under the reserve wakes the loop at once"). Reading /proc/meminfo
 * costs about 20 µs, so it is polled every 100 ms.
 */
import { EventEmitter } from 'node:events';
import { readMeminfo } from './meminfo.js';
import { thresholdBytes, type EvictionThreshold } from './eviction.js';
import type { EvictionSignals } from './eviction-signals.js';
import { allocatableThresholdBytes } from './kubelet-thresholds.js';
import { MiB } from '../../common/units.js';

export interface LowMemoryWatchOptions {
  meminfoFile: string;
  evictionHard?: EvictionThreshold;
  evictionSoft?: EvictionThreshold;
  /**
   * The kubelet's eviction signals (a reader of the cgroup files, MemTotal in): each is held to the same
   * line above its own threshold, so a warm page cache that MemAvailable counts as free wakes the loop too.
   */
  kubeletSignals?: (memTotalBytes: number) => EvictionSignals;
  /** allocatableMemory.available counts (node allocatable enforced on pods); default true. */
  enforcePodsAllocatable?: boolean;
  /** Default 100 ms. */
  intervalMs?: number;
  /** While memory stays low, wake again at most this often; default 1000 ms. */
  repeatMs?: number;
  now?: () => number;
}

/**
 * The line: the kubelet's hard threshold plus the larger of 512 MiB and 5 % of
 * MemTotal (the default policy's reserve), plus a 3 % band, where the default
 * policy starts to reclaim.
 */
export function lowMemoryLine(memTotalBytes: number, evictionHard: EvictionThreshold | undefined): number {
  return thresholdBytes(evictionHard, memTotalBytes) + Math.max(512 * MiB, 0.05 * memTotalBytes) + 0.03 * memTotalBytes;
}

/**
 * Emits `low` (available, line, signal) when MemAvailable or a kubelet signal crosses under its line, and
 * again every repeatMs while one stays there.
 */
export class LowMemoryWatch extends EventEmitter {
  private timer: NodeJS.Timeout | undefined;
  private lastWakeMs = -Infinity;
  private wasLow = false;
  readErrors = 0;

  constructor(private readonly options: LowMemoryWatchOptions) {
    super();
  }

  start(): void {
    this.timer ??= setInterval(() => this.check(), this.options.intervalMs ?? 100);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One poll; public so that tests can drive it. */
  check(): void {
    const now = (this.options.now ?? Date.now)();
    let worst: { available: number; line: number; signal: string };
    try {
      const sample = readMeminfo(this.options.meminfoFile, now);
      const total = sample.memTotalBytes;
      worst = { available: sample.memAvailableBytes, line: lowMemoryLine(total, this.options.evictionHard), signal: 'MemAvailable' };
      const signals = this.options.kubeletSignals?.(total);
      // The reserve above the hard threshold, applied above each signal's own threshold.
      const above = lowMemoryLine(total, undefined);
      const candidates: Array<{ available: number | undefined; threshold: number | undefined; signal: string }> = [
        { available: signals?.memoryAvailableBytes, threshold: Math.max(thresholdBytes(this.options.evictionHard, total), thresholdBytes(this.options.evictionSoft, total)), signal: 'memory.available' },
      ];
      if (this.options.enforcePodsAllocatable ?? true) {
        const threshold = allocatableThresholdBytes(
          { enforcePodsAllocatable: true, ...(this.options.evictionHard ? { evictionHard: this.options.evictionHard } : {}) },
          signals?.allocatableCapacityBytes,
        );
        candidates.push({ available: signals?.allocatableAvailableBytes, threshold, signal: 'allocatableMemory.available' });
      }
      for (const c of candidates) {
        if (c.available === undefined || c.threshold === undefined) continue;
        if (c.available - (c.threshold + above) < worst.available - worst.line) worst = { available: c.available, line: c.threshold + above, signal: c.signal };
      }
    } catch {
      // The loop's own host sampling reports an unreadable meminfo; do not spin on it here.
      this.readErrors++;
      return;
    }
    const low = worst.available < worst.line;
    if (low && (!this.wasLow || now - this.lastWakeMs >= (this.options.repeatMs ?? 1000))) {
      this.lastWakeMs = now;
      this.emit('low', worst.available, worst.line, worst.signal);
    }
    this.wasLow = low;
  }
}
