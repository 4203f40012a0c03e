/**
 * How far the node is from the kubelet's own eviction lines, signal by signal (docs/kubelet-signals.md).
 *
 * The kubelet evicts when `memory.available` (MemTotal - root working set) falls under the larger of its
 * hard and soft thresholds, or `allocatableMemory.available` (pods cgroup limit - pods working set) under
 * its hard one. Its eviction loop looks every 10 s, so what counts is where a signal will be at the next
 * look: the headroom is the signal, less what it falls at its recent rate over one check interval, less
 * the threshold. Pure: the policy calls it with its input.
 */
import type { HostSample, HostState } from '../policy/types.js';

export type KubeletSignal = 'memory.available' | 'allocatableMemory.available';

/** The kubelet's eviction monitoring interval (pkg/kubelet/kubelet.go evictionMonitoringPeriod). */
export const KUBELET_EVICTION_CHECK_MS = 10_000;

export interface KubeletSignalHeadroom {
  signal: KubeletSignal;
  availableBytes: number;
  /** The line the kubelet evicts under, bytes. */
  thresholdBytes: number;
  /** How far the signal falls before the kubelet's next check at its recent rate, bytes (0 when it rises). */
  growthBytes: number;
  /** available - growth - threshold: negative means an eviction at the next check. */
  headroomBytes: number;
}

function field(signal: KubeletSignal): (s: HostSample) => number | undefined {
  return signal === 'memory.available' ? (s) => s.kubeletMemoryAvailableBytes : (s) => s.kubeletAllocatableAvailableBytes;
}

/**
 * A signal's rate of change, bytes per ms, from the latest sample and the oldest one of the last 10 s at
 * least 1 s before it that has the signal; 0 without such a sample. `grantedSince(fromMs)` is what the
 * policy itself handed to guests since then (granted-fall.ts): a fall up to that much is not a trend.
 */
export function signalTrend(history: readonly HostSample[], pick: (s: HostSample) => number | undefined, grantedSince?: (fromMs: number) => number): number {
  const last = history[history.length - 1];
  const now = last ? pick(last) : undefined;
  if (!last || now === undefined) return 0;
  let from: { atMs: number; value: number } | undefined;
  for (let i = history.length - 2; i >= 0; i--) {
    const x = history[i]!;
    if (last.atMs - x.atMs > 10_000) break;
    const value = pick(x);
    if (value !== undefined && last.atMs - x.atMs >= 1_000) from = { atMs: x.atMs, value };
  }
  if (!from) return 0;
  const change = now - from.value;
  // A fall the policy's own grants explain is not extrapolated; a rise is kept as it is.
  const trendChange = change < 0 && grantedSince ? Math.min(0, change + grantedSince(from.atMs)) : change;
  return trendChange / (last.atMs - from.atMs);
}

/** Each kubelet signal the latest host sample carries, with its threshold and headroom. */
export function kubeletHeadroom(host: HostState, checkMs: number = KUBELET_EVICTION_CHECK_MS, grantedSince?: (fromMs: number) => number): KubeletSignalHeadroom[] {
  const last = host.history[host.history.length - 1];
  if (!last) return [];
  const out: KubeletSignalHeadroom[] = [];
  const thresholds: Record<KubeletSignal, number> = {
    'memory.available': Math.max(host.evictionHardBytes, host.evictionSoftBytes ?? 0),
    // Only hard thresholds are copied to allocatableMemory.available.
    'allocatableMemory.available': host.evictionAllocatableHardBytes ?? host.evictionHardBytes,
  };
  for (const signal of ['memory.available', 'allocatableMemory.available'] as const) {
    const pick = field(signal);
    const available = pick(last);
    if (available === undefined) continue;
    const growth = Math.max(0, -signalTrend(host.history, pick, grantedSince) * checkMs);
    const thresholdBytes = thresholds[signal];
    out.push({ signal, availableBytes: available, thresholdBytes, growthBytes: growth, headroomBytes: available - growth - thresholdBytes });
  }
  return out;
}

/** The signal with the least headroom, if any. */
export function tightestKubeletSignal(host: HostState, checkMs: number = KUBELET_EVICTION_CHECK_MS): KubeletSignalHeadroom | undefined {
  let tightest: KubeletSignalHeadroom | undefined;
  for (const s of kubeletHeadroom(host, checkMs)) if (!tightest || s.headroomBytes < tightest.headroomBytes) tightest = s;
  return tightest;
}

/**
 * The soft threshold's clock: since when memory.available has been under the soft threshold (carried from
 * the previous evaluation), and when the kubelet would evict if it stays there. Undefined: not under it.
 */
export function softThresholdClock(host: HostState, nowMs: number, previousSinceMs: number | undefined): { sinceMs: number; evictAtMs: number | undefined } | undefined {
  const last = host.history[host.history.length - 1];
  const available = last?.kubeletMemoryAvailableBytes;
  const soft = host.evictionSoftBytes;
  if (available === undefined || soft === undefined || available >= soft) return undefined;
  const sinceMs = previousSinceMs ?? nowMs;
  return { sinceMs, evictAtMs: host.evictionSoftGracePeriodMs !== undefined ? sinceMs + host.evictionSoftGracePeriodMs : undefined };
}
