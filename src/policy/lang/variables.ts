/**
 * The names a policy expression can read: `host.*` (both scopes) and `guest.*` (VM
 * scope), from the policy input. Sizes are bytes, times seconds, rates per second.
 * Sampled fields also exist as `<name>_avg`: MOM's StatAvg over the last 10 samples
 * (absent values ignored, 0 when none).
 */
import type { GuestSample, GuestState, HostSample, PolicyInput } from '../types.js';
import { lastSamples, statAvg } from '../mom/stat-avg.js';
import type { ExprType } from './expr-check.js';
import { MissingValue, type Value } from './expr-eval.js';
import { counterRate } from '../../common/counter-rate.js';

type HostField = (s: HostSample) => number | undefined;
type GuestField = (s: GuestSample) => number | undefined;

/** Host fields sampled over time (with `_avg`). */
export const HOST_SAMPLED: Record<string, HostField> = {
  mem_total: (s) => s.memTotalBytes,
  mem_free: (s) => s.memFreeBytes,
  mem_available: (s) => s.memAvailableBytes,
  mem_cached: (s) => s.buffersBytes + s.cachedBytes,
  /** MOM's host mem_free: MemFree + Buffers + Cached. */
  mem_free_cached: (s) => s.memFreeBytes + s.buffersBytes + s.cachedBytes,
  anon_pages: (s) => s.anonPagesBytes,
  swap_total: (s) => s.swapTotalBytes,
  swap_used: (s) => s.swapTotalBytes - s.swapFreeBytes,
  swap_in: (s) => s.swapInPages,
  swap_out: (s) => s.swapOutPages,
  psi_some_avg10: (s) => s.psi?.someAvg10,
  psi_some_avg60: (s) => s.psi?.someAvg60,
  psi_full_avg10: (s) => s.psi?.fullAvg10,
  psi_full_avg60: (s) => s.psi?.fullAvg60,
  io_psi_some_avg10: (s) => s.ioPsi?.someAvg10,
  io_psi_some_avg60: (s) => s.ioPsi?.someAvg60,
  io_psi_full_avg10: (s) => s.ioPsi?.fullAvg10,
  io_psi_full_avg60: (s) => s.ioPsi?.fullAvg60,
};

/** Host values read once per cycle. */
export const HOST_CURRENT = ['cpu_count', 'eviction_hard', 'eviction_soft', 'ksm_shareable', 'ksmd_cpu', 'guests'] as const;

/** Guest fields sampled over time (with `_avg`); cumulative counters are as the guest reports them. */
export const GUEST_SAMPLED: Record<string, GuestField> = {
  balloon: (s) => s.balloonActualBytes,
  free: (s) => s.freeBytes,
  total: (s) => s.totalBytes,
  available: (s) => s.availableBytes,
  disk_caches: (s) => s.diskCachesBytes,
  swap_in: (s) => s.swapInBytes,
  swap_out: (s) => s.swapOutBytes,
  major_faults: (s) => s.majorFaults,
  minor_faults: (s) => s.minorFaults,
};

/** Counters exposed as rates per second between the last two samples. */
export const GUEST_RATES: Record<string, GuestField> = {
  swap_in_rate: (s) => s.swapInBytes,
  swap_out_rate: (s) => s.swapOutBytes,
  major_fault_rate: (s) => s.majorFaults,
  minor_fault_rate: (s) => s.minorFaults,
};

export const GUEST_STATIC: Record<string, ExprType> = {
  memory: 'number',
  guaranteed: 'number',
  margin: 'number',
  priority: 'number',
  target: 'number',
  phase: 'phase',
  phase_age: 'number',
  has_balloon: 'bool',
  has_stats: 'bool',
  samples: 'number',
  io_throttle: 'bool',
  disks: 'number',
  vcpus: 'number',
  cpu_limit: 'number',
};

/** The type of a `host.*` / `guest.*` name, or undefined when it does not exist in the scope. */
export function inputNameType(name: string, vmScope: boolean): ExprType | undefined {
  const [root, field, ...rest] = name.split('.');
  if (field === undefined || rest.length > 0) return undefined;
  const base = field.endsWith('_avg') ? field.slice(0, -4) : undefined;
  if (root === 'host') {
    if (field in HOST_SAMPLED || (base !== undefined && base in HOST_SAMPLED)) return 'number';
    if ((HOST_CURRENT as readonly string[]).includes(field)) return 'number';
    if (/^ksm_[a-z_]+$/.test(field)) return 'number';
    return undefined;
  }
  if (root === 'guest' && vmScope) {
    if (field in GUEST_SAMPLED || (base !== undefined && base in GUEST_SAMPLED)) return 'number';
    if (field in GUEST_RATES) return 'number';
    return GUEST_STATIC[field];
  }
  return undefined;
}

/** The accepted input names, for error messages. */
export function inputNamesHelp(vmScope: boolean): string {
  const host = [...Object.keys(HOST_SAMPLED), ...HOST_CURRENT, 'ksm_<sysfs name>'].map((n) => `host.${n}`);
  const guest = vmScope ? [...Object.keys(GUEST_SAMPLED), ...Object.keys(GUEST_RATES), ...Object.keys(GUEST_STATIC)].map((n) => `guest.${n}`) : [];
  return `${[...host, ...guest].join(', ')} (sampled ones also as <name>_avg)`;
}

function present(v: number | undefined, what: string): number {
  if (v === undefined || Number.isNaN(v)) throw new MissingValue(what);
  return v;
}

/** Reads `host.*` values from the input. */
export function hostLookup(input: PolicyInput): (field: string) => Value {
  const samples = lastSamples(input.host.history);
  const current = samples[samples.length - 1];
  const host = input.host;
  return (field) => {
    const what = `host.${field}`;
    const sampled = HOST_SAMPLED[field];
    if (sampled) return present(current ? sampled(current) : undefined, what);
    if (field.endsWith('_avg')) {
      const f = HOST_SAMPLED[field.slice(0, -4)];
      if (f) return statAvg(samples.map(f));
    }
    switch (field) {
      case 'cpu_count': return host.cpuCount;
      case 'eviction_hard': return host.evictionHardBytes;
      case 'eviction_soft': return present(host.evictionSoftBytes, what);
      case 'ksm_shareable': return present(host.ksmShareableBytes, what);
      case 'ksmd_cpu': return present(host.ksmdCpuPercent, what);
      case 'guests': return input.guests.length;
    }
    if (field.startsWith('ksm_')) return present(host.ksm?.[field.slice(4)], what);
    throw new MissingValue(what);
  };
}

function rate(samples: GuestSample[], f: GuestField): number | undefined {
  const a = samples[samples.length - 2];
  const b = samples[samples.length - 1];
  if (!a || !b) return undefined;
  const x = f(a);
  const y = f(b);
  if (x === undefined || y === undefined) return undefined;
  return counterRate(x, y, (b.atMs - a.atMs) / 1000);
}

/** Reads `guest.*` values of one guest. */
export function guestLookup(guest: GuestState, nowMs: number): (field: string) => Value {
  const samples = lastSamples(guest.history);
  const current = samples[samples.length - 1];
  return (field) => {
    const what = `guest.${field}`;
    if (field === 'balloon') return present(guest.balloonActualBytes, what);
    if (field === 'balloon_avg') {
      // As MOM: the live balloon is the current sample's; no balloon data means no values.
      if (guest.balloonActualBytes === undefined) return 0;
      const values = samples.map((s) => s.balloonActualBytes);
      values[values.length - 1] = guest.balloonActualBytes;
      return statAvg(values);
    }
    const sampled = GUEST_SAMPLED[field];
    if (sampled) return present(current ? sampled(current) : undefined, what);
    if (field.endsWith('_avg')) {
      const f = GUEST_SAMPLED[field.slice(0, -4)];
      if (f) return statAvg(samples.map(f));
    }
    const r = GUEST_RATES[field];
    if (r) return present(rate(samples, r), what);
    switch (field) {
      case 'memory': return guest.guestMemoryBytes;
      case 'guaranteed': return guest.guaranteedMemoryBytes;
      case 'margin': return guest.marginBytes;
      case 'priority': return guest.priority;
      case 'target': return present(guest.targetBytes, what);
      case 'phase': return guest.phase;
      case 'phase_age': return Math.max(0, (nowMs - guest.phaseSinceMs) / 1000);
      case 'has_balloon': return guest.balloonActualBytes !== undefined;
      case 'has_stats': return current?.freeBytes !== undefined;
      case 'samples': return guest.history.length;
      case 'io_throttle': return guest.ioThrottle ?? false;
      case 'disks': return guest.disks?.length ?? 0;
      case 'vcpus': return present(guest.vcpus, what);
      case 'cpu_limit': return present(guest.cpuLimitMillicores === undefined ? undefined : guest.cpuLimitMillicores / 1000, what);
    }
    throw new MissingValue(what);
  };
}
