/**
 * What the kernel accepts in each KSM control KubeMom writes, so a policy can never
 * hand sysfs a value it would refuse or misread. From the kernel's mm/ksm.c store
 * handlers: `run` is parsed as an unsigned int and refused above 2 (KSM_RUN_UNMERGE);
 * `pages_to_scan` and `sleep_millisecs` are unsigned ints (kstrtouint: 0 to 2^32-1);
 * `merge_across_nodes` is refused above 1. `advisor_max_cpu` is a percentage of one CPU
 * (Documentation/admin-guide/mm/ksm.rst); the kernel parses any unsigned long, KubeMom
 * accepts 1 to 100. Pure data and checks: no I/O.
 */
import type { KsmControl } from './types.js';

const UINT_MAX = 2 ** 32 - 1;

export const KSM_CONTROL_RANGES: Readonly<Record<KsmControl, { min: number; max: number }>> = {
  run: { min: 0, max: 2 },
  pages_to_scan: { min: 0, max: UINT_MAX },
  sleep_millisecs: { min: 0, max: UINT_MAX },
  merge_across_nodes: { min: 0, max: 1 },
  advisor_max_cpu: { min: 1, max: 100 },
};

/** Why `value` cannot be written to `control` (after truncation to an integer), or undefined when it can. */
export function ksmValueProblem(control: KsmControl, value: number): string | undefined {
  const range = KSM_CONTROL_RANGES[control];
  if (!Number.isFinite(value)) return `${control} is ${value}; accepted: a finite number from ${range.min} to ${range.max}`;
  const int = Math.trunc(value);
  if (int < range.min || int > range.max) return `${control} is ${value}; accepted: ${range.min} to ${range.max}`;
  return undefined;
}
