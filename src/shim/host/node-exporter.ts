/**
 * Host memory and KSM counters from node-exporter's /metrics (`node_memory_*`,
 * `node_ksmd_*`, `node_vmstat_pswp*`). Every scrape is bounded in time and size,
 * and its content is checked: an error here is a reason to fall back to /proc,
 * never a crash.
 */
import type { HostSample } from '../../policy/types.js';
import { parsePromText, type PromSample } from './prom-text.js';

export interface NodeExporterSnapshot {
  memory: HostSample;
  /** KSM values under their sysfs names (run, pages_shared, ..., sleep_millisecs), when the ksmd collector is on. */
  ksm: Record<string, number>;
  /** Cumulative pages swapped in/out (vmstat collector), when present. */
  pswpin?: number;
  pswpout?: number;
}

/** Why a scrape did not give a usable snapshot; a metric label. */
export type ScrapeFailure = 'timeout' | 'unreachable' | 'http-status' | 'too-large' | 'garbage';

export class ScrapeError extends Error {
  constructor(
    readonly reason: ScrapeFailure,
    detail: string,
  ) {
    super(`${reason}: ${detail}`);
    this.name = 'ScrapeError';
  }
}

const MEMORY_FIELDS: Record<string, keyof HostSample> = {
  node_memory_MemTotal_bytes: 'memTotalBytes',
  node_memory_MemFree_bytes: 'memFreeBytes',
  node_memory_MemAvailable_bytes: 'memAvailableBytes',
  node_memory_Buffers_bytes: 'buffersBytes',
  node_memory_Cached_bytes: 'cachedBytes',
  node_memory_AnonPages_bytes: 'anonPagesBytes',
  node_memory_SwapTotal_bytes: 'swapTotalBytes',
  node_memory_SwapFree_bytes: 'swapFreeBytes',
};

const KSM_FIELDS: Record<string, [string, number]> = {
  node_ksmd_run: ['run', 1],
  node_ksmd_pages_shared: ['pages_shared', 1],
  node_ksmd_pages_sharing: ['pages_sharing', 1],
  node_ksmd_pages_unshared: ['pages_unshared', 1],
  node_ksmd_pages_volatile: ['pages_volatile', 1],
  node_ksmd_pages_to_scan: ['pages_to_scan', 1],
  node_ksmd_full_scans_total: ['full_scans', 1],
  node_ksmd_merge_across_nodes: ['merge_across_nodes', 1],
  node_ksmd_sleep_seconds: ['sleep_millisecs', 1000],
};

/** Builds a snapshot from parsed samples; throws ScrapeError('garbage') when values are missing or impossible. */
export function snapshotFromSamples(samples: readonly PromSample[], atMs: number): NodeExporterSnapshot {
  const memory: Partial<HostSample> = { atMs };
  const ksm: Record<string, number> = {};
  let pswpin: number | undefined;
  let pswpout: number | undefined;
  for (const s of samples) {
    const field = MEMORY_FIELDS[s.name];
    if (field) {
      if (!Number.isFinite(s.value) || s.value < 0) throw new ScrapeError('garbage', `${s.name} is ${s.value}`);
      (memory as Record<string, number>)[field] = s.value;
      continue;
    }
    const ksmField = KSM_FIELDS[s.name];
    if (ksmField && Number.isFinite(s.value)) ksm[ksmField[0]] = Math.round(s.value * ksmField[1]);
    else if (s.name === 'node_vmstat_pswpin' && Number.isFinite(s.value)) pswpin = s.value;
    else if (s.name === 'node_vmstat_pswpout' && Number.isFinite(s.value)) pswpout = s.value;
  }
  for (const [metric, field] of Object.entries(MEMORY_FIELDS)) {
    if (memory[field] === undefined) throw new ScrapeError('garbage', `no ${metric}`);
  }
  const m = memory as HostSample;
  if (m.memTotalBytes === 0 || m.memAvailableBytes > m.memTotalBytes || m.memFreeBytes > m.memTotalBytes) {
    throw new ScrapeError('garbage', `impossible memory values (MemTotal ${m.memTotalBytes}, MemAvailable ${m.memAvailableBytes}, MemFree ${m.memFreeBytes})`);
  }
  const snapshot: NodeExporterSnapshot = { memory: m, ksm };
  if (pswpin !== undefined) snapshot.pswpin = pswpin;
  if (pswpout !== undefined) snapshot.pswpout = pswpout;
  return snapshot;
}

export interface ScrapeOptions {
  url: string;
  timeoutMs: number;
  /** Default 16 MiB; node-exporter answers well under 1 MiB. */
  maxBytes?: number;
}

/** Fetches and parses one scrape. Rejects only with ScrapeError. */
export async function scrapeNodeExporter(options: ScrapeOptions, now: () => number = Date.now): Promise<NodeExporterSnapshot> {
  const maxBytes = options.maxBytes ?? 16 * 2 ** 20;
  const signal = AbortSignal.timeout(options.timeoutMs);
  let text: string;
  try {
    const response = await fetch(options.url, { signal, headers: { accept: 'text/plain;version=0.0.4' } });
    if (!response.ok) {
      await response.body?.cancel();
      throw new ScrapeError('http-status', `HTTP ${response.status}`);
    }
    text = await readBounded(response, maxBytes);
  } catch (error) {
    if (error instanceof ScrapeError) throw error;
    const e = error as Error;
    if (e.name === 'TimeoutError' || e.name === 'AbortError') throw new ScrapeError('timeout', `no answer within ${options.timeoutMs} ms`);
    throw new ScrapeError('unreachable', (e as { cause?: Error }).cause?.message ?? e.message);
  }
  let samples: PromSample[];
  try {
    samples = parsePromText(text);
  } catch (error) {
    throw new ScrapeError('garbage', (error as Error).message);
  }
  return snapshotFromSamples(samples, now());
}

async function readBounded(response: Response, maxBytes: number): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new ScrapeError('too-large', `body over ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
