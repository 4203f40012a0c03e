/**
 * The demo node's /proc files: meminfo, pressure/memory and vmstat, written from the
 * node model so the real shim reads them as it reads a real node's (its
 * meminfoFile/psiFile/vmstatFile options). Each write replaces the file atomically
 * (write, then rename), so the shim never reads half a file.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { HostSample, Psi } from '../policy/types.js';

export interface NodeFiles {
  procRoot: string;
  meminfo: string;
  psi: string;
  vmstat: string;
}

export function nodeFiles(dir: string): NodeFiles {
  const procRoot = path.join(dir, 'proc');
  mkdirSync(path.join(procRoot, 'pressure'), { recursive: true });
  return { procRoot, meminfo: path.join(procRoot, 'meminfo'), psi: path.join(procRoot, 'pressure', 'memory'), vmstat: path.join(procRoot, 'vmstat') };
}

const kB = (bytes: number): string => `${String(Math.max(0, Math.round(bytes / 1024))).padStart(12)} kB`;

/** /proc/meminfo text for a host sample. */
export function meminfoText(s: HostSample): string {
  const rows: Array<[string, number]> = [
    ['MemTotal', s.memTotalBytes],
    ['MemFree', s.memFreeBytes],
    ['MemAvailable', s.memAvailableBytes],
    ['Buffers', s.buffersBytes],
    ['Cached', s.cachedBytes],
    ['AnonPages', s.anonPagesBytes],
    ['SwapTotal', s.swapTotalBytes],
    ['SwapFree', s.swapFreeBytes],
  ];
  return rows.map(([k, v]) => `${`${k}:`.padEnd(16)}${kB(v)}`).join('\n') + '\n';
}

/** /proc/pressure/memory text. */
export function psiText(p: Psi): string {
  const f = (x: number) => x.toFixed(2);
  return `some avg10=${f(p.someAvg10)} avg60=${f(p.someAvg60)} avg300=0.00 total=${Math.round(p.someTotalUs)}\nfull avg10=${f(p.fullAvg10)} avg60=${f(p.fullAvg60)} avg300=0.00 total=${Math.round(p.fullTotalUs)}\n`;
}

function replace(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

export function writeNodeFiles(files: NodeFiles, sample: HostSample, psi: Psi): void {
  replace(files.meminfo, meminfoText(sample));
  replace(files.psi, psiText(psi));
  replace(files.vmstat, `pswpin ${sample.swapInPages}\npswpout ${sample.swapOutPages}\n`);
}
