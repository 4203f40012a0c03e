/**
 * The kubelet's memory eviction thresholds, given to the shim in the kubelet's own
 * flag syntax (`--eviction-hard memory.available<100Mi`, or a percentage of
 * MemTotal: `memory.available<5%`). Other signals (nodefs.*, pid.*) may appear in
 * the same list, as in the kubelet's config; they are accepted and ignored.
 */
import { InputError } from '../../common/errors.js';
import { parseMemoryQuantity, QUANTITY_ACCEPTED } from '../../common/quantity.js';

export type EvictionThreshold = { kind: 'bytes'; bytes: number } | { kind: 'percent'; percent: number };

/** Parses `signal<value[,signal<value...]`; returns the memory.available threshold, if any. */
export function parseEvictionThreshold(flag: string, text: string): EvictionThreshold | undefined {
  let found: EvictionThreshold | undefined;
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const match = /^([a-zA-Z0-9_.]+)\s*<\s*(.+)$/.exec(part);
    if (!match) throw new InputError(flag, `"${part}" is not accepted; use signal<quantity such as memory.available<100Mi or memory.available<5%`);
    if (match[1] !== 'memory.available') continue;
    const value = match[2]!.trim();
    if (value.endsWith('%')) {
      const percent = Number(value.slice(0, -1));
      if (!Number.isFinite(percent) || percent < 0 || percent > 100 || value.slice(0, -1).trim() === '') {
        throw new InputError(flag, `"${value}" is not accepted; a percentage must be between 0% and 100%`);
      }
      found = { kind: 'percent', percent };
    } else {
      const parsed = parseMemoryQuantity(value);
      if ('error' in parsed) throw new InputError(flag, `memory.available "${value}" is not accepted; use ${QUANTITY_ACCEPTED}, or a percentage of MemTotal such as 5%`);
      found = { kind: 'bytes', bytes: parsed.value };
    }
  }
  return found;
}

/** The threshold in bytes for a node with `memTotalBytes`. */
export function thresholdBytes(threshold: EvictionThreshold | undefined, memTotalBytes: number): number {
  if (!threshold) return 0;
  return threshold.kind === 'bytes' ? threshold.bytes : Math.ceil((threshold.percent / 100) * memTotalBytes);
}

/** The kubelet's default hard threshold (memory.available<100Mi) on Linux. */
export const KUBELET_DEFAULT_EVICTION_HARD = 'memory.available<100Mi';
