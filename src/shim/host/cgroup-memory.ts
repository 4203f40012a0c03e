/**
 * Memory cgroups as the kubelet reads them (through cAdvisor and runc's libcontainer): which hierarchy the
 * node has, a cgroup's usage, working set and limit, and where the kubelet puts its pods.
 *
 * - cgroup v2: DIR/cgroup.controllers lists `memory`; a cgroup's usage is memory.current, its limit memory.max
 *   (`max`: none). The root has neither file: its usage is `anon + file` of DIR/memory.stat.
 * - cgroup v1: the memory controller is mounted at DIR/memory; usage is memory.usage_in_bytes, the limit
 *   memory.limit_in_bytes (a value above 2^62 means none, as the kubelet's isMemoryUnlimited says).
 * - working set = usage - inactive file pages (`inactive_file` on v2, `total_inactive_file` on v1), never
 *   below 0, and the usage itself when memory.stat lacks the key.
 *
 * docs/kubelet-signals.md cites the upstream files. Every reader returns a result naming the file and the
 * problem instead of throwing: a missing or garbled cgroup file must never stop the shim.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export type CgroupVersion = 'v1' | 'v2';

export interface CgroupLayout {
  version: CgroupVersion;
  /** The cgroup mount (--cgroup-root). */
  root: string;
  /** Where memory cgroups live: the root itself on v2, ROOT/memory on v1. */
  memoryRoot: string;
}

/** Why a cgroup value could not be had: a missing file, or one whose text is not what the kernel writes. */
export interface CgroupProblem {
  file: string;
  reason: 'missing' | 'unparsable' | 'no-memory-controller' | 'no-limit';
  detail: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; problem: CgroupProblem };

/** Above this a limit means "none" (the kubelet's isMemoryUnlimited; v1 writes 2^63 rounded down to a page). */
export const UNLIMITED_ABOVE = 2 ** 62;

function readText(file: string): Result<string> {
  try {
    return { ok: true, value: readFileSync(file, 'utf8') };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { ok: false, problem: { file, reason: 'missing', detail: code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? (error as Error).message})` } };
  }
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

function exists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * Which hierarchy holds the memory controller under `root`. A hybrid mount (v1 controllers plus an empty
 * v2 tree at ROOT/unified, as on this project's CI machines) is v1: the memory numbers are there.
 */
export function detectCgroupLayout(root: string): Result<CgroupLayout> {
  const controllers = readText(path.join(root, 'cgroup.controllers'));
  if (controllers.ok && controllers.value.split(/\s+/).includes('memory')) return { ok: true, value: { version: 'v2', root, memoryRoot: root } };
  const v1 = path.join(root, 'memory');
  if (exists(path.join(v1, 'memory.usage_in_bytes'))) return { ok: true, value: { version: 'v1', root, memoryRoot: v1 } };
  return {
    ok: false,
    problem: {
      file: root,
      reason: 'no-memory-controller',
      detail: `no memory controller: neither ${path.join(root, 'cgroup.controllers')} listing "memory" (cgroup v2) nor ${path.join(v1, 'memory.usage_in_bytes')} (cgroup v1)`,
    },
  };
}

/** memory.stat's `key value` lines (bytes on both versions; unknown or garbled lines skipped). */
export function parseMemoryStat(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-z_0-9]+) ([0-9]+)$/.exec(line.trim());
    if (match) out.set(match[1]!, Number(match[2]));
  }
  return out;
}

/** A single-number cgroup file; `max` (v2) and v1's near-2^63 are "no limit" (undefined) when `allowMax`. */
export function parseCgroupNumber(file: string, text: string, allowMax: boolean): Result<number | undefined> {
  const trimmed = text.trim();
  if (allowMax && trimmed === 'max') return { ok: true, value: undefined };
  if (!/^[0-9]+$/.test(trimmed)) {
    return { ok: false, problem: { file, reason: 'unparsable', detail: `"${trimmed.slice(0, 40)}" is not a byte count${allowMax ? ' or "max"' : ''}` } };
  }
  const value = Number(trimmed);
  if (allowMax && value > UNLIMITED_ABOVE) return { ok: true, value: undefined };
  return { ok: true, value };
}

function readNumber(file: string, allowMax: boolean): Result<number | undefined> {
  const text = readText(file);
  return text.ok ? parseCgroupNumber(file, text.value, allowMax) : text;
}

export interface CgroupMemory {
  /** The cgroup's memory usage as cAdvisor reports it, bytes. */
  usageBytes: number;
  /** Inactive file pages (reclaimable page cache), when memory.stat has them. */
  inactiveFileBytes?: number;
  /** usage - inactive file, the kubelet's working set. */
  workingSetBytes: number;
  /** The cgroup's memory limit; undefined: none (v2 `max`, v1 above 2^62, or the v2 root). */
  limitBytes?: number;
}

/** cAdvisor's working set: usage less inactive file pages, floored at 0. */
export function workingSet(usageBytes: number, inactiveFileBytes: number | undefined): number {
  if (inactiveFileBytes === undefined) return usageBytes;
  return usageBytes < inactiveFileBytes ? 0 : usageBytes - inactiveFileBytes;
}

/**
 * Reads the memory cgroup at `relative` (a path under the memory root; "" or "/" for the root) the way
 * the kubelet's stats do.
 */
export function readCgroupMemory(layout: CgroupLayout, relative: string): Result<CgroupMemory> {
  const rel = relative.replace(/^\/+/, '');
  const dir = path.join(layout.memoryRoot, rel);
  const isRoot = rel === '';
  if (!isRoot && !isDirectory(dir)) return { ok: false, problem: { file: dir, reason: 'missing', detail: 'no such cgroup' } };
  const statFile = path.join(dir, 'memory.stat');
  const statText = readText(statFile);
  if (!statText.ok) return statText;
  const stat = parseMemoryStat(statText.value);
  const inactiveKey = layout.version === 'v2' ? 'inactive_file' : 'total_inactive_file';
  const inactive = stat.get(inactiveKey);
  let usage: number;
  let limit: number | undefined;
  if (layout.version === 'v2' && isRoot) {
    // The v2 root has no memory.current: runc's rootStatsFromMeminfo sums anon and file of memory.stat.
    const anon = stat.get('anon');
    const file = stat.get('file');
    if (anon === undefined || file === undefined) {
      return { ok: false, problem: { file: statFile, reason: 'unparsable', detail: `has no ${anon === undefined ? 'anon' : 'file'} line` } };
    }
    usage = anon + file;
  } else {
    const usageFile = path.join(dir, layout.version === 'v2' ? 'memory.current' : 'memory.usage_in_bytes');
    const usageValue = readNumber(usageFile, false);
    if (!usageValue.ok) return usageValue;
    usage = usageValue.value!;
    const limitValue = readNumber(path.join(dir, layout.version === 'v2' ? 'memory.max' : 'memory.limit_in_bytes'), true);
    if (!limitValue.ok) return limitValue;
    limit = limitValue.value;
  }
  const out: CgroupMemory = { usageBytes: usage, workingSetBytes: workingSet(usage, inactive) };
  if (inactive !== undefined) out.inactiveFileBytes = inactive;
  if (limit !== undefined && !isRoot) out.limitBytes = limit;
  return { ok: true, value: out };
}

export type CgroupDriver = 'systemd' | 'cgroupfs';
export const CGROUP_DRIVERS = ['systemd', 'cgroupfs', 'auto'] as const;

/** The kubelet's pods cgroup for a driver (pkg/kubelet/cm: the "kubepods" cgroup name, a slice under systemd). */
export function kubepodsName(driver: CgroupDriver): string {
  return driver === 'systemd' ? 'kubepods.slice' : 'kubepods';
}

/**
 * The pods cgroup: `explicit` when given, else the driver's name, else (driver "auto") whichever of
 * kubepods.slice and kubepods exists (systemd first: kubeadm's default since Kubernetes 1.22).
 */
export function resolveKubepods(layout: CgroupLayout, driver: CgroupDriver | 'auto', explicit?: string): { relative: string; driver: CgroupDriver } {
  if (explicit !== undefined && explicit !== '') {
    const relative = explicit.replace(/^\/+/, '');
    return { relative, driver: driver === 'auto' ? (/\.slice(\/|$)/.test(relative) ? 'systemd' : 'cgroupfs') : driver };
  }
  if (driver !== 'auto') return { relative: kubepodsName(driver), driver };
  for (const d of ['systemd', 'cgroupfs'] as const) {
    if (isDirectory(path.join(layout.memoryRoot, kubepodsName(d)))) return { relative: kubepodsName(d), driver: d };
  }
  return { relative: kubepodsName('systemd'), driver: 'systemd' };
}

/**
 * Where the kubelet puts a pod's cgroup under the pods cgroup, by QoS class (guaranteed pods sit directly
 * under it): cgroupfs `pod<uid>`, `burstable/pod<uid>`, `besteffort/pod<uid>`; systemd escapes `-` in the
 * UID as `_` and names slices after their parents: `kubepods-burstable-pod<uid>.slice` and so on.
 */
export function podCgroupCandidates(kubepods: string, driver: CgroupDriver, podUid: string): string[] {
  if (driver === 'cgroupfs') return ['', 'burstable/', 'besteffort/'].map((q) => path.join(kubepods, `${q}pod${podUid}`));
  const escaped = podUid.replace(/-/g, '_');
  const parent = kubepods.replace(/\.slice$/, '').split('/').pop() ?? 'kubepods';
  return [
    path.join(kubepods, `${parent}-pod${escaped}.slice`),
    path.join(kubepods, `${parent}-burstable.slice`, `${parent}-burstable-pod${escaped}.slice`),
    path.join(kubepods, `${parent}-besteffort.slice`, `${parent}-besteffort-pod${escaped}.slice`),
  ];
}

/** The first existing cgroup of a pod, trying the resolved driver's layout first and then the other's. */
export function findPodCgroup(layout: CgroupLayout, kubepods: { relative: string; driver: CgroupDriver }, podUid: string): string | undefined {
  // A UID goes into a path: only what Kubernetes UIDs are made of.
  if (!/^[A-Za-z0-9-]{1,64}$/.test(podUid)) return undefined;
  const other: CgroupDriver = kubepods.driver === 'systemd' ? 'cgroupfs' : 'systemd';
  for (const candidate of [...podCgroupCandidates(kubepods.relative, kubepods.driver, podUid), ...podCgroupCandidates(kubepods.relative, other, podUid)]) {
    if (isDirectory(path.join(layout.memoryRoot, candidate))) return candidate;
  }
  return undefined;
}
