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

const MiB = 2 ** 20;

export interface LowMemoryWatchOptions {
  meminfoFile: string;
  evictionHard?: EvictionThreshold;
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

/** Emits `low` (MemAvailable, line) when MemAvailable crosses under the line, and again every repeatMs while it stays there. */
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
    let available: number;
    let line: number;
    try {
      const sample = readMeminfo(this.options.meminfoFile, now);
      available = sample.memAvailableBytes;
      line = lowMemoryLine(sample.memTotalBytes, this.options.evictionHard);
    } catch {
      // The loop's own host sampling reports an unreadable meminfo; do not spin on it here.
      this.readErrors++;
      return;
    }
    const low = available < line;
    if (low && (!this.wasLow || now - this.lastWakeMs >= (this.options.repeatMs ?? 1000))) {
      this.lastWakeMs = now;
      this.emit('low', available, line);
    }
    this.wasLow = low;
  }
}
