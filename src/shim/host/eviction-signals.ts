/**
 * The kubelet's two memory eviction signals, computed from the cgroup files as the kubelet computes them
 * (pkg/kubelet/eviction/helpers.go makeSignalObservations over the summary's node and "pods" stats):
 *
 * - `memory.available` = capacity - the root cgroup's working set, capacity being MemTotal;
 * - `allocatableMemory.available` = the pods cgroup's limit - its working set; no signal when the pods
 *   cgroup has no limit (the kubelet sets AvailableBytes only for a limited cgroup).
 *
 * Active page cache counts as used in both, unlike MemAvailable: this is the number the kubelet evicts on.
 * A problem (no memory controller, a missing pods cgroup, a garbled file) leaves that signal out, is logged
 * once when it starts and once when it clears, and counted by the observer; it is never thrown.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../common/log.js';
import {
  type CgroupDriver,
  type CgroupLayout,
  type CgroupProblem,
  detectCgroupLayout,
  findPodCgroup,
  readCgroupMemory,
  resolveKubepods,
  type CgroupMemory,
} from './cgroup-memory.js';

export type EvictionSignalName = 'memory.available' | 'allocatableMemory.available';
export const EVICTION_SIGNALS: readonly EvictionSignalName[] = ['memory.available', 'allocatableMemory.available'];

export interface EvictionSignalOptions {
  /** The cgroup mount (--cgroup-root). */
  cgroupRoot: string;
  /** The pods cgroup relative to the memory root (--kubepods-cgroup); default from the driver. */
  kubepodsCgroup?: string;
  cgroupDriver: CgroupDriver | 'auto';
}

export interface EvictionSignals {
  /** capacity - root working set, bytes. */
  memoryAvailableBytes?: number;
  rootWorkingSetBytes?: number;
  /** pods cgroup limit - pods working set, bytes. */
  allocatableAvailableBytes?: number;
  /** The pods cgroup's limit: the capacity a percentage threshold on allocatableMemory.available is taken of. */
  allocatableCapacityBytes?: number;
  podsWorkingSetBytes?: number;
  /** Signals that could not be computed this time, and why. */
  problems: Array<{ signal: EvictionSignalName; problem: CgroupProblem }>;
}

export interface EvictionSignalObserver {
  /** A signal could not be read (every time, for a counter). */
  onProblem?(signal: EvictionSignalName, reason: CgroupProblem['reason']): void;
}

/** What the pods cgroup's limit and usage say, from its cgroup reading (pure: the tests drive it). */
export function allocatableFrom(pods: CgroupMemory): { availableBytes: number; capacityBytes: number } | undefined {
  if (pods.limitBytes === undefined) return undefined;
  return { availableBytes: pods.limitBytes - pods.workingSetBytes, capacityBytes: pods.limitBytes };
}

export class EvictionSignalReader {
  private layoutCache: CgroupLayout | undefined;
  private kubepodsCache: { relative: string; driver: CgroupDriver } | undefined;
  /** The problem last logged per signal ("" when it reads fine), so a lasting problem is logged once. */
  private readonly logged = new Map<EvictionSignalName, string>();

  constructor(
    readonly options: EvictionSignalOptions,
    private readonly log: Logger,
    private readonly observer: EvictionSignalObserver = {},
  ) {}

  /** The hierarchy, detected on first use and again after a failure (the mount may appear later). */
  layout(): CgroupLayout | CgroupProblem {
    if (this.layoutCache) return this.layoutCache;
    const detected = detectCgroupLayout(this.options.cgroupRoot);
    if (!detected.ok) return detected.problem;
    this.layoutCache = detected.value;
    return detected.value;
  }

  /** The pods cgroup (relative to the memory root) and the driver it was named by. */
  kubepods(): { relative: string; driver: CgroupDriver } | undefined {
    const layout = this.layout();
    if ('reason' in layout) return undefined;
    this.kubepodsCache ??= resolveKubepods(layout, this.options.cgroupDriver, this.options.kubepodsCgroup);
    return this.kubepodsCache;
  }

  /** The pods cgroup exists (when it does not, read() has already said so). */
  kubepodsExists(): boolean {
    const layout = this.layout();
    const kubepods = this.kubepods();
    if ('reason' in layout || !kubepods) return false;
    try {
      return statSync(path.join(layout.memoryRoot, kubepods.relative)).isDirectory();
    } catch {
      return false;
    }
  }

  /** A pod's cgroup under the pods cgroup, by pod UID; undefined when not found. */
  podCgroup(podUid: string): { layout: CgroupLayout; relative: string } | undefined {
    const layout = this.layout();
    const kubepods = this.kubepods();
    if ('reason' in layout || !kubepods) return undefined;
    const relative = findPodCgroup(layout, kubepods, podUid);
    return relative === undefined ? undefined : { layout, relative };
  }

  /** Both signals now, for a node whose capacity (MemTotal) is `capacityBytes`. */
  read(capacityBytes: number): EvictionSignals {
    const out: EvictionSignals = { problems: [] };
    const layout = this.layout();
    if ('reason' in layout) {
      for (const signal of EVICTION_SIGNALS) this.problem(out, signal, layout);
      return out;
    }
    const root = readCgroupMemory(layout, '');
    if (root.ok) {
      out.rootWorkingSetBytes = root.value.workingSetBytes;
      out.memoryAvailableBytes = capacityBytes - root.value.workingSetBytes;
      this.clear('memory.available');
    } else {
      // The layout may have gone (a remount): detect again next time.
      this.layoutCache = undefined;
      this.problem(out, 'memory.available', root.problem);
    }
    const kubepods = this.kubepods()!;
    const pods = readCgroupMemory(layout, kubepods.relative);
    if (!pods.ok) {
      this.kubepodsCache = undefined;
      this.problem(out, 'allocatableMemory.available', pods.problem);
      return out;
    }
    out.podsWorkingSetBytes = pods.value.workingSetBytes;
    const allocatable = allocatableFrom(pods.value);
    if (!allocatable) {
      this.problem(out, 'allocatableMemory.available', {
        file: `${layout.memoryRoot}/${kubepods.relative}`,
        reason: 'no-limit',
        detail: 'the pods cgroup has no memory limit (node allocatable not enforced): the kubelet has no allocatableMemory.available signal',
      });
      return out;
    }
    out.allocatableAvailableBytes = allocatable.availableBytes;
    out.allocatableCapacityBytes = allocatable.capacityBytes;
    this.clear('allocatableMemory.available');
    return out;
  }

  private problem(out: EvictionSignals, signal: EvictionSignalName, problem: CgroupProblem): void {
    out.problems.push({ signal, problem });
    this.observer.onProblem?.(signal, problem.reason);
    const key = `${problem.reason} ${problem.file}`;
    if (this.logged.get(signal) === key) return;
    this.logged.set(signal, key);
    const line = { signal, file: problem.file, reason: problem.reason, detail: problem.detail };
    // An unlimited pods cgroup is a configuration, not a fault; so is no pods cgroup at all where none was named
    // (not a Kubernetes node: a test bed, a demo).
    const unnamed = this.options.kubepodsCgroup === undefined && this.options.cgroupDriver === 'auto';
    if (problem.reason === 'no-limit' || (problem.reason === 'missing' && signal === 'allocatableMemory.available' && unnamed)) {
      this.log.info(line, `the kubelet's ${signal} signal is not computed`);
    } else {
      this.log.warn(line, `cannot compute the kubelet's ${signal} signal; the policy goes on without it`);
    }
  }

  private clear(signal: EvictionSignalName): void {
    const before = this.logged.get(signal);
    if (before !== undefined && before !== '') this.log.info({ signal }, `the kubelet's ${signal} signal is readable again`);
    this.logged.set(signal, '');
  }
}
