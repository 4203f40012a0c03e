/**
 * vdsm's KSM policy (03-ksm.policy) exactly, and MOM's KSM controller rule: only the
 * controls whose int() differs from the live sysfs value are written.
 */
import type { KsmControl } from '../types.js';
import type { MomMonitor } from './view.js';
import { ksmValueProblem } from '../ksm-ranges.js';

export const MOM_KSM_CONSTANTS = {
  pagesBoost: 300,
  pagesDecay: -50,
  npagesMin: 64,
  npagesMax: 1250,
  sleepMsBaseline: 10,
  freePercent: 0.2,
} as const;

export interface MomKsmFlags {
  ksmEnabled: boolean;
  ksmMergeAcrossNodes: boolean;
}

const C = MOM_KSM_CONSTANTS;

/** A host field the KSM policy needs; MOM's policy fails on None, so we report it. */
function need(host: MomMonitor, field: string): number {
  const v = host.latest(field);
  if (v === null) throw new Error(`host ${field} is missing`);
  return v;
}

/** The controls the KSM policy sets this cycle (before the controller's diff). */
export function momKsmControls(host: MomMonitor, flags: MomKsmFlags): Partial<Record<KsmControl, number>> {
  const controls: Partial<Record<KsmControl, number>> = {};
  const memTotal = need(host, 'mem_available');
  const pagesShared = need(host, 'ksm_pages_shared');
  const mergeAcrossNodes = need(host, 'ksm_merge_across_nodes');
  const committed = need(host, 'ksm_shareable');
  const flagMerge = flags.ksmMergeAcrossNodes ? 1 : 0;
  const threshold = memTotal * C.freePercent;
  const freeAvg = host.avg('mem_free');
  if (pagesShared === 0) controls.merge_across_nodes = flagMerge;
  const action = pagesShared > 0 && (mergeAcrossNodes !== flagMerge || !flags.ksmEnabled) ? 2 : 0;
  if ((threshold + committed < memTotal && freeAvg > threshold) || !flags.ksmEnabled || action !== 0) {
    controls.run = action;
  } else {
    controls.run = 1;
    controls.sleep_millisecs = Math.max(10, (C.sleepMsBaseline * 16777216) / memTotal);
    const delta = freeAvg < threshold ? C.pagesBoost : C.pagesDecay;
    const newval = need(host, 'ksm_pages_to_scan') + delta;
    controls.pages_to_scan = Math.min(C.npagesMax, Math.max(C.npagesMin, newval));
  }
  return controls;
}

/** MOM's KSM controller: int() each value, keep those that differ from the live ones. */
export function ksmWrites(
  controls: Partial<Record<KsmControl, number>>,
  live: Record<string, number> | undefined,
): Partial<Record<KsmControl, number>> {
  const writes: Partial<Record<KsmControl, number>> = {};
  for (const name of ['run', 'pages_to_scan', 'sleep_millisecs', 'merge_across_nodes', 'advisor_max_cpu'] as const) {
    const value = controls[name];
    // A value the kernel would refuse is never handed on (MOM's own values are always in range).
    if (value === undefined || ksmValueProblem(name, value) !== undefined) continue;
    const int = Math.trunc(value);
    if (live?.[name] !== int) writes[name] = int;
  }
  return writes;
}
