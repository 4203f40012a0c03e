/**
 * The simulated node: its memory as /proc/meminfo, /proc/pressure/memory and the
 * kubelet's eviction signals would show it, the kubelet's hard eviction, and the
 * kernel's OOM killer.
 *
 * Used memory is the system's own use, non-VM pods, and per guest virt-launcher's fixed
 * overhead and what the guest holds (QEMU RSS; a VM that was killed or evicted holds
 * its memory until it is released). The node keeps page cache of its own in what is
 * left (reclaimable: MemAvailable counts it, MemFree does not); part of it is active,
 * which the kubelet's working set counts as used (docs/kubelet-signals.md). The node
 * has no swap, as Kubernetes nodes usually do not.
 */
import type { HostSample, Psi } from '../policy/types.js';

const MiB = 2 ** 20;

export interface NodeConfig {
  memoryBytes: number;
  /** Memory the system and the kubelet use. */
  systemBytes: number;
  /** virt-launcher and QEMU overhead per running VM. */
  vmOverheadBytes: number;
  /** Page cache the node keeps when memory allows. */
  hostCacheBytes: number;
  /**
   * The share of the node's page cache on the active LRU list (default 0.5): the kubelet
   * counts it as used (working set = usage - inactive_file), MemAvailable does not.
   */
  activeCacheFraction?: number;
  /**
   * system-reserved + kube-reserved (default systemBytes): the pods cgroup's limit is
   * memory - this (pkg/kubelet/cm/node_container_manager_linux.go enforces capacity less
   * the reservations; the scheduler's allocatable also leaves out evictionHard).
   */
  systemReservedBytes?: number;
  /** The kubelet's memory.available hard eviction threshold. */
  evictionHardBytes: number;
  /** How often the kubelet checks its thresholds, ms. */
  evictionCheckMs: number;
  /** Available memory under which the node counts as under pressure (for the reaction figure). */
  reserveBytes: number;
  cpuCount: number;
}

export const DEFAULT_ACTIVE_CACHE_FRACTION = 0.5;

/** The node's memory at one moment, bytes. */
export interface NodeMemory {
  usedBytes: number;
  cacheBytes: number;
  freeBytes: number;
  /** MemAvailable: free memory plus the node's page cache. */
  availableBytes: number;
  /** The kubelet's memory.available: MemTotal - (usage - inactive_file). */
  kubeletAvailableBytes: number;
  /** The kubelet's allocatableMemory.available: the pods cgroup's limit - its working set. */
  allocatableAvailableBytes: number;
}

/**
 * Computes the node's memory split. `guestsHeldBytes`: every VM's overhead and QEMU
 * RSS (released memory of ended VMs included); `podsBytes`: non-VM pods.
 */
export function nodeMemory(config: NodeConfig, guestsHeldBytes: number, podsBytes = 0): NodeMemory {
  const usedBytes = config.systemBytes + guestsHeldBytes + podsBytes;
  const room = Math.max(0, config.memoryBytes - usedBytes);
  const cacheBytes = Math.min(config.hostCacheBytes, room);
  const active = (config.activeCacheFraction ?? DEFAULT_ACTIVE_CACHE_FRACTION) * cacheBytes;
  const podsLimit = config.memoryBytes - (config.systemReservedBytes ?? config.systemBytes);
  return {
    usedBytes,
    cacheBytes,
    freeBytes: room - cacheBytes,
    availableBytes: config.memoryBytes - usedBytes,
    kubeletAvailableBytes: config.memoryBytes - usedBytes - active,
    allocatableAvailableBytes: podsLimit - guestsHeldBytes - podsBytes,
  };
}

/**
 * Reclaiming the node's page cache at this rate stalls tasks all the time (a shape, not
 * a measurement: direct reclaim and refaults of the cache just dropped both grow with it).
 */
const FULL_STALL_RECLAIM_BYTES_PER_SECOND = 512 * MiB;

/**
 * A model of memory PSI: the share of time tasks stall rises with reclaim activity (the
 * node's page cache dropped per second), with the cache squeezed below what the node
 * keeps (refaults), and as available memory nears the eviction threshold; averaged like
 * the kernel's avg10/avg60 (exponential, percent).
 */
export class PsiModel {
  private some10 = 0;
  private some60 = 0;
  private full10 = 0;
  private full60 = 0;
  private someTotalUs = 0;
  private fullTotalUs = 0;
  private lastCacheBytes: number | undefined;

  constructor(private readonly config: NodeConfig) {}

  /** The instantaneous stalled share (0..1) for a memory state, with `reclaimBytesPerSecond` of cache being dropped. */
  stallShare(mem: NodeMemory, reclaimBytesPerSecond = 0): number {
    const squeeze = this.config.hostCacheBytes > 0 ? Math.max(0, 1 - mem.cacheBytes / this.config.hostCacheBytes) : 0;
    const low = 2 * this.config.evictionHardBytes;
    const near = mem.availableBytes < low ? 1 - Math.max(0, mem.availableBytes) / low : 0;
    const reclaim = Math.min(1, reclaimBytesPerSecond / FULL_STALL_RECLAIM_BYTES_PER_SECOND);
    return Math.min(1, 0.3 * squeeze + 0.7 * near + 0.5 * reclaim);
  }

  step(dtMs: number, mem: NodeMemory): void {
    const dropped = this.lastCacheBytes === undefined ? 0 : Math.max(0, this.lastCacheBytes - mem.cacheBytes);
    this.lastCacheBytes = mem.cacheBytes;
    const some = this.stallShare(mem, dtMs > 0 ? (dropped * 1000) / dtMs : 0);
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

/** A /proc/meminfo-style host sample with the kubelet's eviction signals. */
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
    kubeletMemoryAvailableBytes: Math.round(Math.max(0, mem.kubeletAvailableBytes)),
    kubeletAllocatableAvailableBytes: Math.round(Math.max(0, mem.allocatableAvailableBytes)),
  };
}
