/** /proc/meminfo and /proc/pressure/memory, parsed (pure functions plus thin readers). */
import { readFileSync } from 'node:fs';
import type { HostSample, Psi } from '../../policy/types.js';

/** /proc/meminfo fields in bytes ("kB" lines are multiplied; unitless counts kept). */
export function parseMeminfo(text: string): Map<string, number> {
  const fields = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z0-9_()]+):\s+([0-9]+)(?:\s+(kB))?\s*$/.exec(line);
    if (!match) continue;
    fields.set(match[1]!, Number(match[2]) * (match[3] ? 1024 : 1));
  }
  return fields;
}

/** The meminfo fields a HostSample needs; the error names the first missing one. */
export const REQUIRED_MEMINFO = ['MemTotal', 'MemFree', 'MemAvailable', 'Buffers', 'Cached', 'AnonPages', 'SwapTotal', 'SwapFree'] as const;

export function hostSampleFromMeminfo(fields: Map<string, number>, atMs: number): HostSample {
  for (const name of REQUIRED_MEMINFO) {
    if (!fields.has(name)) throw new Error(`meminfo has no ${name}`);
  }
  const get = (name: string): number => fields.get(name)!;
  return {
    atMs,
    memTotalBytes: get('MemTotal'),
    memFreeBytes: get('MemFree'),
    memAvailableBytes: get('MemAvailable'),
    buffersBytes: get('Buffers'),
    cachedBytes: get('Cached'),
    anonPagesBytes: get('AnonPages'),
    swapTotalBytes: get('SwapTotal'),
    swapFreeBytes: get('SwapFree'),
  };
}

export function readMeminfo(file: string, atMs: number): HostSample {
  return hostSampleFromMeminfo(parseMeminfo(readFileSync(file, 'utf8')), atMs);
}

/** Parses a PSI file ("some avg10=... total=..." and "full ..." lines). */
export function parsePsi(text: string): Psi {
  const lines = new Map<string, Map<string, number>>();
  for (const line of text.split('\n')) {
    const [kind, ...pairs] = line.trim().split(/\s+/);
    if (kind !== 'some' && kind !== 'full') continue;
    const values = new Map<string, number>();
    for (const pair of pairs) {
      const [key, value] = pair.split('=');
      if (key !== undefined && value !== undefined && /^[0-9.]+$/.test(value)) values.set(key, Number(value));
    }
    lines.set(kind, values);
  }
  const some = lines.get('some');
  if (!some || !some.has('avg10') || !some.has('total')) throw new Error('PSI text has no "some avg10=... total=..." line');
  const full = lines.get('full');
  return {
    someAvg10: some.get('avg10')!,
    someAvg60: some.get('avg60') ?? 0,
    // Older kernels have no "full" line for the whole system: treat as no full stall.
    fullAvg10: full?.get('avg10') ?? 0,
    fullAvg60: full?.get('avg60') ?? 0,
    someTotalUs: some.get('total')!,
    fullTotalUs: full?.get('total') ?? 0,
  };
}

export function readPsi(file: string): Psi {
  return parsePsi(readFileSync(file, 'utf8'));
}

/** /proc/vmstat's pswpin/pswpout (pages, cumulative). */
export function parseVmstatSwap(text: string): { pswpin: number; pswpout: number } | undefined {
  const pin = /^pswpin ([0-9]+)$/m.exec(text);
  const pout = /^pswpout ([0-9]+)$/m.exec(text);
  if (!pin || !pout) return undefined;
  return { pswpin: Number(pin[1]), pswpout: Number(pout[1]) };
}
