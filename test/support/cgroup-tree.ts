/**
 * A plain directory tree laid out like a cgroup v1 or v2 mount, for `--cgroup-root`: the kernel's file names
 * and formats, with values the test chooses. Not a fake of the kernel's behaviour (nothing is charged or
 * limited): only the files the kubelet and the shim read.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface CgroupValues {
  /** memory.current / memory.usage_in_bytes; on the v2 root, anon + file. */
  usageBytes: number;
  inactiveFileBytes: number;
  /** memory.max / memory.limit_in_bytes; 'max' (v2) or absent: none (v1 writes its near-2^63 value). */
  limitBytes?: number | 'max';
}

/** v1's "no limit": 2^63 - 1 rounded down to a 4 KiB page. */
export const V1_UNLIMITED = '9223372036854771712';

export class CgroupTree {
  private constructor(
    readonly root: string,
    readonly version: 'v1' | 'v2',
  ) {}

  static create(version: 'v1' | 'v2'): CgroupTree {
    const root = mkdtempSync(path.join(os.tmpdir(), `km-cgroup-${version}-`));
    const tree = new CgroupTree(root, version);
    if (version === 'v2') writeFileSync(path.join(root, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
    else mkdirSync(path.join(root, 'memory'));
    return tree;
  }

  /** The directory of a cgroup (relative to the memory hierarchy; "" the root). */
  dir(relative: string): string {
    return path.join(this.version === 'v2' ? this.root : path.join(this.root, 'memory'), relative);
  }

  /** Writes a cgroup's files ("" the root). The v2 root gets only memory.stat, as on a real node. */
  set(relative: string, v: CgroupValues): void {
    const dir = this.dir(relative);
    mkdirSync(dir, { recursive: true });
    const isRoot = relative === '';
    if (this.version === 'v2') {
      // anon + file = usage on the root; elsewhere usage counts kernel memory too, so leave some out of anon.
      const file = v.inactiveFileBytes + 4096;
      const anon = Math.max(0, v.usageBytes - file - (isRoot ? 0 : 8192));
      writeFileSync(path.join(dir, 'memory.stat'), `anon ${anon}\nfile ${file}\nkernel 8192\nshmem 0\ninactive_anon 0\nactive_anon ${anon}\ninactive_file ${v.inactiveFileBytes}\nactive_file 4096\nunevictable 0\n`);
      if (!isRoot) {
        writeFileSync(path.join(dir, 'memory.current'), `${v.usageBytes}\n`);
        writeFileSync(path.join(dir, 'memory.max'), `${v.limitBytes ?? 'max'}\n`);
      }
    } else {
      writeFileSync(path.join(dir, 'memory.stat'), `cache ${v.inactiveFileBytes}\nrss 0\ninactive_file 0\ntotal_cache ${v.inactiveFileBytes + 4096}\ntotal_rss ${Math.max(0, v.usageBytes - v.inactiveFileBytes - 4096)}\ntotal_inactive_file ${v.inactiveFileBytes}\ntotal_active_file 4096\n`);
      writeFileSync(path.join(dir, 'memory.usage_in_bytes'), `${v.usageBytes}\n`);
      const limit = v.limitBytes === undefined || v.limitBytes === 'max' ? V1_UNLIMITED : String(v.limitBytes);
      writeFileSync(path.join(dir, 'memory.limit_in_bytes'), `${limit}\n`);
    }
  }

  /** Overwrites one file of a cgroup with any text (bad-input tests). */
  write(relative: string, file: string, text: string): void {
    writeFileSync(path.join(this.dir(relative), file), text);
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** A /proc/meminfo with the fields the shim needs, MemTotal and MemAvailable chosen by the test. */
export function meminfoText(totalBytes: number, availableBytes: number): string {
  const kb = (b: number): string => `${Math.round(b / 1024)} kB`;
  return [`MemTotal: ${kb(totalBytes)}`, `MemFree: ${kb(availableBytes / 2)}`, `MemAvailable: ${kb(availableBytes)}`, 'Buffers: 0 kB', 'Cached: 0 kB', 'AnonPages: 0 kB', 'SwapTotal: 0 kB', 'SwapFree: 0 kB', ''].join('\n');
}
