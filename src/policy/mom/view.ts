/**
 * The policy input as MOM sees it: per monitor, the last 10 samples with MOM's field
 * names, in KiB. The `mom` policy computes on this view so its arithmetic is MOM's
 * (same units, same order, same bits).
 */
import type { GuestState, HostState, PolicyInput } from '../types.js';
import { MOM_HISTORY_LENGTH, lastSamples, statAvg } from './stat-avg.js';
import { KiB } from '../../common/units.js';

/** One MOM monitor sample: field name to value (null when the collector had none). */
export type MomSample = Record<string, number | null>;

/** A MOM monitor: its kept samples, oldest first; the last is the current one. */
export class MomMonitor {
  readonly samples: MomSample[];

  constructor(samples: MomSample[]) {
    this.samples = lastSamples(samples, MOM_HISTORY_LENGTH);
  }

  /** The current value of a field (MOM's `host.x`), null when absent. */
  latest(field: string): number | null {
    const last = this.samples[this.samples.length - 1];
    const v = last?.[field];
    return v === undefined ? null : v;
  }

  /** MOM's StatAvg over the kept samples. */
  avg(field: string): number {
    return statAvg(this.samples.map((s) => s[field]));
  }
}

export interface MomGuestView {
  id: string;
  monitor: MomMonitor;
}

export interface MomView {
  host: MomMonitor;
  guests: MomGuestView[];
}

function kib(bytes: number | undefined): number | null {
  return bytes === undefined ? null : bytes / KiB;
}

/** Host samples in MOM's terms: `mem_available` is MemTotal, `mem_free` includes page cache. */
export function momHostMonitor(host: HostState): MomMonitor {
  const kept = lastSamples(host.history);
  const samples: MomSample[] = kept.map((h) => ({
    mem_available: h.memTotalBytes / KiB,
    mem_unused: h.memFreeBytes / KiB,
    // Summed in bytes then scaled: exact for whole KiB, so the same value MOM reads.
    mem_free: (h.memFreeBytes + h.buffersBytes + h.cachedBytes) / KiB,
    anon_pages: h.anonPagesBytes / KiB,
    swap_total: h.swapTotalBytes / KiB,
    swap_usage: (h.swapTotalBytes - h.swapFreeBytes) / KiB,
    swap_in: h.swapInPages ?? null,
    swap_out: h.swapOutPages ?? null,
  }));
  const current = samples[samples.length - 1];
  if (current) {
    // KSM and CPU fields are read live, so they belong to the current sample only.
    for (const [name, value] of Object.entries(host.ksm ?? {})) current[`ksm_${name}`] = value;
    current.ksm_shareable = kib(host.ksmShareableBytes);
    current.ksmd_cpu_usage = host.ksmdCpuPercent ?? null;
    current.cpu_count = host.cpuCount;
  }
  return new MomMonitor(samples);
}

/**
 * Guest samples in MOM's terms. `balloon_cur` is the sampled balloon `actual`, and the
 * live one (GuestState.balloonActualBytes) for the current sample; the balloon fields are
 * all null when the guest has no balloon data, which makes the policy skip it.
 */
export function momGuestMonitor(guest: GuestState): MomMonitor {
  const kept = lastSamples(guest.history);
  const hasBalloon = guest.balloonActualBytes !== undefined;
  const samples: MomSample[] = kept.map((s) => ({
    mem_available: kib(s.totalBytes),
    mem_unused: kib(s.freeBytes),
    major_fault: s.majorFaults ?? null,
    minor_fault: s.minorFaults ?? null,
    swap_in: kib(s.swapInBytes),
    swap_out: kib(s.swapOutBytes),
    balloon_cur: hasBalloon ? kib(s.balloonActualBytes) : null,
    balloon_max: hasBalloon ? guest.guestMemoryBytes / KiB : null,
    balloon_min: hasBalloon ? guest.guaranteedMemoryBytes / KiB : null,
  }));
  const current = samples[samples.length - 1];
  if (current && hasBalloon) current.balloon_cur = kib(guest.balloonActualBytes);
  return new MomMonitor(samples);
}

/** The whole input as MOM sees it; guests without a sample yet are not ready and left out. */
export function momView(input: PolicyInput): MomView {
  return {
    host: momHostMonitor(input.host),
    guests: input.guests.filter((g) => g.history.length > 0).map((g) => ({ id: g.id, monitor: momGuestMonitor(g) })),
  };
}
