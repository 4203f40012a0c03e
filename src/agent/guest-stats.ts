/**
 * Guest memory statistics from QEMU's virtio-balloon device, as typed samples.
 *
 * Pure: QMP replies in, samples out. QEMU reports a statistic the guest driver has
 * not sent (yet) as 2^64-1 (its "-1"), and `last-update` 0 until the first report.
 */
import type { GuestStats } from '../api/kubemom-v1.js';
import { counterRate } from '../common/counter-rate.js';

/** One guest report, as kubemom.v1 carries it (src/api/kubemom-v1.ts). */
export type GuestMemoryStats = GuestStats;

/** The raw counters of one report, before rates are computed. */
export type RawGuestStats = Omit<GuestMemoryStats, 'swapInBytesPerSecond' | 'swapOutBytesPerSecond' | 'majorFaultsPerSecond' | 'minorFaultsPerSecond'>;

/** QMP's stat names, mapped to our fields. */
const STAT_FIELDS = {
  'stat-total-memory': 'totalBytes',
  'stat-free-memory': 'freeBytes',
  'stat-available-memory': 'availableBytes',
  'stat-disk-caches': 'diskCachesBytes',
  'stat-swap-in': 'swapInBytes',
  'stat-swap-out': 'swapOutBytes',
  'stat-major-faults': 'majorFaults',
  'stat-minor-faults': 'minorFaults',
} as const;

/** The statistics without which a sample is useless for ballooning decisions. */
const REQUIRED = ['totalBytes', 'availableBytes'] as const;

/** QEMU's "not reported" marker is uint64 -1; JSON.parse turns it into ~1.8e19. */
function reported(value: unknown): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value >= 2 ** 63) return undefined;
  return value;
}

/**
 * Reads `qom-get <balloon> guest-stats`. Returns undefined while the guest driver
 * has not reported (no last-update, or no total/available memory); statistics an
 * older guest driver does not send read as 0.
 */
export function parseGuestStats(reply: unknown): RawGuestStats | undefined {
  if (typeof reply !== 'object' || reply === null) return undefined;
  const { stats, 'last-update': lastUpdate } = reply as { stats?: Record<string, unknown>; 'last-update'?: unknown };
  const updated = reported(lastUpdate);
  if (!updated || typeof stats !== 'object' || stats === null) return undefined;
  const out: Partial<RawGuestStats> = { lastUpdateUnixSeconds: updated };
  for (const [qmpName, field] of Object.entries(STAT_FIELDS)) {
    const value = reported(stats[qmpName]);
    if (value === undefined && (REQUIRED as readonly string[]).includes(field)) return undefined;
    out[field] = value ?? 0;
  }
  return out as RawGuestStats;
}

/** 0 for a report dated no later than the previous one; a reset counter (a guest reboot) as counterRate says. */
function rate(current: number, previous: number, seconds: number): number {
  return counterRate(previous, current, seconds) ?? 0;
}

/**
 * Adds rates to a report, against the previous report. The interval is the guests's
 * own (last-update), so that a sample taken twice for one report gives no spike.
 */
export function withRates(current: RawGuestStats, previous: GuestMemoryStats | undefined): GuestMemoryStats {
  if (previous && previous.lastUpdateUnixSeconds === current.lastUpdateUnixSeconds) {
    // Same report as before: keep the rates it had.
    return {
      ...current,
      swapInBytesPerSecond: previous.swapInBytesPerSecond,
      swapOutBytesPerSecond: previous.swapOutBytesPerSecond,
      majorFaultsPerSecond: previous.majorFaultsPerSecond,
      minorFaultsPerSecond: previous.minorFaultsPerSecond,
    };
  }
  const seconds = previous ? current.lastUpdateUnixSeconds - previous.lastUpdateUnixSeconds : 0;
  return {
    ...current,
    swapInBytesPerSecond: previous ? rate(current.swapInBytes, previous.swapInBytes, seconds) : 0,
    swapOutBytesPerSecond: previous ? rate(current.swapOutBytes, previous.swapOutBytes, seconds) : 0,
    majorFaultsPerSecond: previous ? rate(current.majorFaults, previous.majorFaults, seconds) : 0,
    minorFaultsPerSecond: previous ? rate(current.minorFaults, previous.minorFaults, seconds) : 0,
  };
}

/** How many stats periods last-update may lag before the stats count as stale. */
export const STALE_PERIODS = 3;

/**
 * True when the guest's report is older than STALE_PERIODS periods (plus one second
 * for last-update's whole-second resolution). QEMU stamps last-update with the host's
 * real-time clock, the clock the agent reads too.
 */
export function isStale(lastUpdateUnixSeconds: number, nowMs: number, periodSeconds: number): boolean {
  return nowMs / 1000 - lastUpdateUnixSeconds > STALE_PERIODS * periodSeconds + 1;
}

/** `qom-list` entry types of a virtio balloon: `child<virtio-balloon-pci>`, `-ccw`, `-device`... */
const BALLOON_TYPE = /^child<virtio-balloon(-[a-z0-9-]+)?>$/;

/**
 * Finds the balloon device among `qom-list /machine/peripheral` entries by its type,
 * whatever libvirt named it. Returns its QOM path, or undefined when there is none.
 */
export function findBalloonPath(entries: unknown, parent = '/machine/peripheral'): string | undefined {
  if (!Array.isArray(entries)) return undefined;
  for (const entry of entries) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { name, type } = entry as { name?: unknown; type?: unknown };
    if (typeof name === 'string' && typeof type === 'string' && BALLOON_TYPE.test(type)) return `${parent}/${name}`;
  }
  return undefined;
}
