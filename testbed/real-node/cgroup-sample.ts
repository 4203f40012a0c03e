/**
 * What the real-node runs read from a memory cgroup, and the kubelet's eviction signal
 * computed from it by the run itself, independently of the shim (the run judges the
 * shim, so it must not use the shim's arithmetic):
 *
 *   allocatableMemory.available = kubepods limit - kubepods working set
 *   working set                 = usage - inactive file pages (never below 0)
 *
 * with usage `memory.usage_in_bytes` and inactive file `total_inactive_file` on cgroup v1,
 * `memory.current` and `inactive_file` on v2 (the kubelet takes both from cAdvisor; see
 * docs/benchmarks.md, "Real node", for the upstream files).
 */
import { readFileSync } from 'node:fs';
import type { CgroupVersion, MemoryFiles } from './cgroup-tree.js';

export interface CgroupSample {
  usageBytes: number;
  /** Undefined: no limit (v2 `max`, v1 above 2^62). */
  limitBytes: number | undefined;
  inactiveFileBytes: number;
  /** All page cache charged here (v1 total_cache, v2 file). */
  fileBytes: number;
  /** Anonymous memory charged here (v1 total_rss, v2 anon). */
  anonBytes: number;
  /** OOM kills in this cgroup and below since it was made. */
  oomKills: number;
}

/** `key value` lines of memory.stat. */
export function statMap(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(' ');
    if (key && value !== undefined && /^[0-9]+$/.test(value)) out.set(key, Number(value));
  }
  return out;
}

const NO_LIMIT_ABOVE = 2 ** 62;

/** A limit file's text: bytes, or undefined for none. */
export function parseLimit(text: string): number | undefined {
  const t = text.trim();
  if (t === 'max') return undefined;
  if (!/^[0-9]+$/.test(t)) throw new Error(`a memory limit must be a byte count or "max", got "${t.slice(0, 40)}"`);
  const n = Number(t);
  return n > NO_LIMIT_ABOVE ? undefined : n;
}

/** The sample from the files' texts. */
export function parseSample(version: CgroupVersion, texts: { usage: string; limit: string; stat: string; oomEvents: string }): CgroupSample {
  const stat = statMap(texts.stat);
  const events = statMap(texts.oomEvents);
  const key = (v1: string, v2: string): number => stat.get(version === 'v1' ? v1 : v2) ?? 0;
  const usage = texts.usage.trim();
  if (!/^[0-9]+$/.test(usage)) throw new Error(`memory usage must be a byte count, got "${usage.slice(0, 40)}"`);
  return {
    usageBytes: Number(usage),
    limitBytes: parseLimit(texts.limit),
    inactiveFileBytes: key('total_inactive_file', 'inactive_file'),
    fileBytes: key('total_cache', 'file'),
    anonBytes: key('total_rss', 'anon'),
    oomKills: events.get('oom_kill') ?? 0,
  };
}

export function readSample(version: CgroupVersion, files: MemoryFiles): CgroupSample {
  const read = (file: string): string => readFileSync(file, 'utf8');
  return parseSample(version, { usage: read(files.usage), limit: read(files.limit), stat: read(files.stat), oomEvents: read(files.oomEvents) });
}

/** usage - inactive file, floored at 0. */
export function workingSetOf(s: CgroupSample): number {
  return Math.max(0, s.usageBytes - s.inactiveFileBytes);
}

/** The kubelet's allocatableMemory.available for the pods cgroup's sample. */
export function allocatableAvailable(kubepods: CgroupSample): number {
  if (kubepods.limitBytes === undefined) throw new Error('the pods cgroup has no memory limit: allocatableMemory.available is undefined');
  return kubepods.limitBytes - workingSetOf(kubepods);
}
