/**
 * A /proc-like directory whose meminfo a test sets, read through the shim's file options.
 * The host's memory is modelled because a test machine cannot be made short of memory
 * for real without putting the test run at risk (real pressure: real-pressure.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ShimOptions } from '../../src/shim/shim.js';

const KI = 1024;

/** A /proc-like directory whose meminfo the test sets (the rest copied from the real /proc). */
export class ModelledHost {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'km-host-'));
  constructor(
    public totalBytes: number,
    availableBytes: number,
  ) {
    mkdirSync(path.join(this.dir, 'pressure'));
    copyFileSync('/proc/vmstat', path.join(this.dir, 'vmstat'));
    writeFileSync(path.join(this.dir, 'pressure', 'memory'), 'some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n');
    this.setAvailable(availableBytes);
  }

  setAvailable(bytes: number): void {
    const kb = (b: number): string => `${Math.round(b / KI)} kB`;
    const lines = readFileSync('/proc/meminfo', 'utf8')
      .split('\n')
      .map((l) => {
        if (l.startsWith('MemTotal:')) return `MemTotal:       ${kb(this.totalBytes)}`;
        if (l.startsWith('MemAvailable:')) return `MemAvailable:   ${kb(bytes)}`;
        if (l.startsWith('MemFree:')) return `MemFree:        ${kb(bytes / 2)}`;
        if (l.startsWith('Cached:')) return `Cached:         ${kb(bytes / 2)}`;
        return l;
      });
    writeFileSync(path.join(this.dir, 'meminfo.tmp'), lines.join('\n'));
    // rename: the shim never reads a half-written file
    spawnSync('mv', [path.join(this.dir, 'meminfo.tmp'), path.join(this.dir, 'meminfo')]);
  }

  options(): Pick<ShimOptions, 'meminfoFile' | 'psiFile' | 'vmstatFile' | 'procRoot'> {
    return { meminfoFile: path.join(this.dir, 'meminfo'), psiFile: path.join(this.dir, 'pressure', 'memory'), vmstatFile: path.join(this.dir, 'vmstat'), procRoot: '/proc' };
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
