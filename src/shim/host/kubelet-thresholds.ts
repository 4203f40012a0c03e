/**
 * The kubelet's memory eviction settings the shim keeps to: hard and soft thresholds on memory.available,
 * the soft grace period, and whether node allocatable is enforced on pods (then every hard memory.available
 * threshold also applies to allocatableMemory.available: pkg/kubelet/eviction/helpers.go
 * addAllocatableThresholds; soft ones are not copied). Flags use the kubelet's own flag syntax.
 */
import { InputError } from '../../common/errors.js';
import { type EvictionThreshold, thresholdBytes } from './eviction.js';

export interface KubeletThresholds {
  evictionHard?: EvictionThreshold;
  evictionSoft?: EvictionThreshold;
  /** evictionSoftGracePeriod of memory.available, ms. */
  evictionSoftGracePeriodMs?: number;
  /** enforceNodeAllocatable contains "pods" (the kubelet's default). */
  enforcePodsAllocatable: boolean;
}

const GO_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration (`1m30s`, `90s`, `500ms`, `1h`) in ms, as the kubelet's config and flags write them; undefined if not one. */
export function parseGoDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '0') return 0;
  const re = /([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(trimmed)) !== null) {
    total += Number(m[1]) * GO_UNITS[m[2]!]!;
    matched = re.lastIndex;
  }
  return matched === trimmed.length && matched > 0 ? total : undefined;
}

/** `signal=duration[,...]` (the kubelet's --eviction-soft-grace-period); returns memory.available's, in ms. */
export function parseGracePeriods(flag: string, text: string): number | undefined {
  let found: number | undefined;
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const match = /^([a-zA-Z0-9_.]+)\s*=\s*(.+)$/.exec(part);
    if (!match) throw new InputError(flag, `"${part}" is not accepted; use signal=duration such as memory.available=1m30s`);
    const ms = parseGoDuration(match[2]!);
    if (ms === undefined || ms < 0) throw new InputError(flag, `"${match[2]}" is not a duration; use a Go duration such as 90s, 1m30s or 2m`);
    if (match[1] === 'memory.available') found = ms;
  }
  return found;
}

/** The values the kubelet accepts in enforceNodeAllocatable (pkg/kubelet/types: NodeAllocatableEnforcementKey and friends). */
export const ENFORCE_NODE_ALLOCATABLE_KEYS = ['pods', 'system-reserved', 'kube-reserved', 'system-reserved-compressible', 'kube-reserved-compressible', 'none'] as const;

/** `pods,system-reserved` or `none`: true when pods is in it. */
export function parseEnforceNodeAllocatable(flag: string, values: readonly string[]): boolean {
  for (const v of values) {
    if (!(ENFORCE_NODE_ALLOCATABLE_KEYS as readonly string[]).includes(v)) {
      throw new InputError(flag, `"${v}" is not accepted; accepted: ${ENFORCE_NODE_ALLOCATABLE_KEYS.join(', ')}`);
    }
  }
  return values.includes('pods');
}

/**
 * The threshold on allocatableMemory.available in bytes: the hard memory.available threshold, with a
 * percentage taken of the pods cgroup's limit (the signal's capacity); undefined when not enforced.
 */
export function allocatableThresholdBytes(t: KubeletThresholds, podsCapacityBytes: number | undefined): number | undefined {
  if (!t.enforcePodsAllocatable || !t.evictionHard) return t.enforcePodsAllocatable ? 0 : undefined;
  if (t.evictionHard.kind === 'percent' && podsCapacityBytes === undefined) return undefined;
  return thresholdBytes(t.evictionHard, podsCapacityBytes ?? 0);
}
