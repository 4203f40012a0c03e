/**
 * The simulated node: its memory as /proc/meminfo and /proc/pressure/memory would show
 * it, the kubelet's hard eviction, and the kernel's OOM killer.
 *
 * Used memory is the system's own use plus, per running guest, virt-launcher's fixed
 * overhead and what the guest holds (QEMU RSS). The node keeps page cache of its own
 * in what is left (reclaimable: MemAvailable counts it, MemFree does not). The node
 * has no swap, as Kubernetes nodes usually do not.
 */
import type { HostSample, Psi } from '../policy/types.js';

export interface NodeConfig {
  memoryBytes: number;
  /** Memory the system, kubelet and other pods use. */
  systemBytes: number;
  /** virt-launcher and QEMU overhead per running VM. */
  vmOverheadBytes: number;
  /** Page cache the node keeps when memory allows. */
  hostCacheBytes: number;
  /** The kubelet's memory.available hard eviction threshold. */
  evictionHardBytes: number;
  /** How often the kubelet checks its thresholds, ms. */
  evictionCheckMs: number;
  /** Available memory under which the node counts as under pressure (for the reaction figure). */
  reserveBytes: number;
  cpuCount: number;
}

/** The node's memory at one moment, bytes. */
export interface NodeMemory {
  usedBytes: number;
  cacheBytes: number;
  freeBytes: number;
  availableBytes: number;
}

/** Computes the node's memory split from what its users hold. */
export function nodeMemory(config: NodeConfig, guestsHeldBytes: number): NodeMemory {
  const usedBytes = config.systemBytes + guestsHeldBytes;
  const room = Math.max(0, config.memoryBytes - usedBytes);
  const cacheBytes = Math.min(config.hostCacheBytes, room);
  return { usedBytes, cacheBytes, freeBytes: room - cacheBytes, availableBytes: config.memoryBytes - usedBytes };
}

/**
 * A model of memory PSI: the share of time tasks stall, rising as the node's own page
 * cache is squeezed out (refaults) and available memory nears zero; averaged like the
 * kernel's avg10/avg60 (exponential, percent).
 */
export class PsiModel {
  private some10 = 0;
  private some60 = 0;
  private full10 = 0;
  private full60 = 0;
  private someTotalUs = 0;
  private fullTotalUs = 0;

  constructor(private readonly config: NodeConfig) {}

  /** The instantaneous stalled share (0..1) for a memory state. */
  stallShare(mem: NodeMemory): number {
    const squeeze = this.config.hostCacheBytes > 0 ? 1 - mem.cacheBytes / this.config.hostCacheBytes : 0;
    const low = 2 * this.config.evictionHardBytes;
    const near = mem.availableBytes < low ? 1 - Math.max(0, mem.availableBytes) / low : 0;
    return Math.min(1, 0.3 * squeeze + 0.7 * near);
  }

  step(dtMs: number, mem: NodeMemory): void {
    const some = this.stallShare(mem);
    const full = some * some;
    const a10 = 1 - Math.exp(-dtMs / 10_000);
    const a60 = 1 - Math.exp(-dtMs / 60_000);
    this.some10 += (100 * some - this.some10) * a10;
    this.some60 += (100 * some - this.some60) * a60;
    this.full10 += (100 * full - this.full10) * a10;
    this.full60 += (100 * full - this.full60) * a60;
    this.someTotalUs += some * dtMs * 1000;
    this.fullTotalUs += full * dtMs * 1000;
  }

  read(): Psi {
    const r = (x: number) => Math.round(x * 100) / 100;
    return {
      someAvg10: r(this.some10),
      someAvg60: r(this.some60),
      fullAvg10: r(this.full10),
      fullAvg60: r(this.full60),
      someTotalUs: Math.round(this.someTotalUs),
      fullTotalUs: Math.round(this.fullTotalUs),
    };
  }
}

/** A /proc/meminfo-style host sample. */
export function hostSample(config: NodeConfig, mem: NodeMemory, nowMs: number, psi: Psi): HostSample {
  const used = Math.min(config.memoryBytes, mem.usedBytes);
  return {
    atMs: nowMs,
    memTotalBytes: config.memoryBytes,
    memFreeBytes: Math.round(mem.freeBytes),
    memAvailableBytes: Math.round(Math.max(0, mem.availableBytes)),
    buffersBytes: 0,
    cachedBytes: Math.round(mem.cacheBytes),
    anonPagesBytes: Math.round(used),
    swapTotalBytes: 0,
    swapFreeBytes: 0,
    swapInPages: 0,
    swapOutPages: 0,
    psi,
  };
}
