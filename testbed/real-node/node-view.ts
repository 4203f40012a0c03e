/**
 * The node's /proc/meminfo as the shim reads it, for a node whose RAM is the pods cgroup's
 * limit plus the kubelet's reservations. This machine is far larger than the node a run
 * plays (and shared): its own /proc/meminfo would show gigabytes free while the pods
 * cgroup is full. So the run writes a meminfo for the played node, from the pods cgroup's
 * own numbers, and hands its directory to the shim as `--proc-root`:
 *
 *   MemTotal     = kubepods limit + reserved       (capacity; the kubelet sets the pods
 *                                                   cgroup to capacity - reservations)
 *   MemFree      = MemTotal - reserved - kubepods usage   (the system uses its reservation)
 *   Cached       = kubepods page cache
 *   MemAvailable = MemFree + inactive file + half the active file (the kernel's estimate
 *                  counts page cache it could reclaim; its exact low-watermark rule is not
 *                  reproduced)
 *   AnonPages    = kubepods anonymous memory; no swap.
 *
 * The kubelet's memory.available on this node (MemTotal - reserved - kubepods working set)
 * then equals allocatableMemory.available, as on a node where the pods use all but the
 * reservations. PSI is the machine's real /proc/pressure/memory (passed with --psi-file).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { HostSample } from '../../src/policy/types.js';
import { meminfoText } from '../../src/demo/node-files.js';
import type { CgroupSample } from './cgroup-sample.js';

/** The played node's meminfo sample. */
export function nodeSample(kubepods: CgroupSample, reservedBytes: number, atMs: number): HostSample {
  if (kubepods.limitBytes === undefined) throw new Error('the pods cgroup needs a memory limit to play a node');
  const total = kubepods.limitBytes + reservedBytes;
  const free = Math.max(0, total - reservedBytes - kubepods.usageBytes);
  const activeFile = Math.max(0, kubepods.fileBytes - kubepods.inactiveFileBytes);
  return {
    atMs,
    memTotalBytes: total,
    memFreeBytes: free,
    memAvailableBytes: Math.min(total, free + kubepods.inactiveFileBytes + activeFile / 2),
    buffersBytes: 0,
    cachedBytes: kubepods.fileBytes,
    anonPagesBytes: kubepods.anonBytes,
    swapTotalBytes: 0,
    swapFreeBytes: 0,
  };
}

/** Writes `<procRoot>/meminfo` (atomically: write, rename) and a swap-less vmstat. */
export class NodeView {
  readonly procRoot: string;

  constructor(dir: string) {
    this.procRoot = path.join(dir, 'proc');
    mkdirSync(this.procRoot, { recursive: true });
    writeFileSync(path.join(this.procRoot, 'vmstat'), 'pswpin 0\npswpout 0\n');
  }

  write(sample: HostSample): void {
    const file = path.join(this.procRoot, 'meminfo');
    writeFileSync(`${file}.tmp`, meminfoText(sample));
    renameSync(`${file}.tmp`, file);
  }
}
