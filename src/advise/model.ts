/**
 * What KubeMom's default policy would do with a cluster, from KubeVirt's own metrics
 * over a window: per VM the memory above its floor (reclaimable) at each step, per node
 * the sum of that against the node's available memory and reserve. Pure: no I/O, the
 * data comes in as numbers (bytes, Unix seconds).
 *
 * The floor, the distress rule and the reserve are the default policy's own functions
 * (src/balloon/default-policy.ts): a VM keeps max(guaranteed, used + max(margin, 10 % of
 * its balloon) + growth), gives nothing while it swaps, faults hard or runs nearly out of
 * memory, and a node keeps the kubelet's threshold plus max(512Mi, 5 % of MemTotal).
 */
import { DEFAULT_PARAMETERS, guestFloorBytes, guestInDistress, reserveBytes, type DefaultParameters } from '../balloon/default-policy.js';
import type { GuestSample, GuestState } from '../policy/types.js';
import { defaultMemoryMarginBytes } from '../hook-sidecar/annotations.js';

/** One VMI sample on the query's step grid. */
export interface VmPoint {
  /** Unix seconds. */
  t: number;
  actualBytes: number;
  usableBytes: number;
  swapInBytes?: number;
  majorFaults?: number;
}

/** One VMI on one node over the window (a VMI that migrated appears once per node). */
export interface VmData {
  namespace: string;
  name: string;
  node: string;
  /** The domain's `<memory>`, the largest seen in the window. */
  guestMemoryBytes: number;
  /** spec.domain.resources.requests.memory, when the VM sets it. */
  requestBytes?: number;
  /** Backed by hugepages: a balloon frees nothing on the host. */
  hugepages: boolean;
  /** Oldest first, on the step grid; empty when KubeVirt has no balloon statistics for it. */
  points: VmPoint[];
}

export interface NodeData {
  node: string;
  memTotalBytes: number;
  /** MemAvailable on the step grid: [Unix seconds, bytes], oldest first. */
  available: Array<[number, number]>;
}

export interface AdviseSettings {
  /** The kubelet's hard eviction threshold on memory.available (bytes). */
  evictionHardBytes: number;
  /** The query step, seconds. */
  stepSec: number;
  /** The window's end, Unix seconds: VMs with a sample there are on their node "now". */
  endSec: number;
  params?: DefaultParameters;
  /** Keep every node's series for a plot. */
  timelines?: boolean;
}

export interface VmAdvice {
  namespace: string;
  name: string;
  node: string;
  guestMemoryBytes: number;
  /** The floor KubeMom keeps by default: the memory request, else the whole guest. */
  guaranteedBytes: number;
  guaranteedFrom: 'request' | 'guest memory';
  /** Samples with balloon statistics. */
  samples: number;
  /** Samples where the guest swapped in, faulted hard or ran nearly out of memory. */
  distressedSamples: number;
  /** Memory above the floor the default policy would take, percentiles over the samples. */
  reclaimableP50Bytes: number;
  reclaimableP95Bytes: number;
  /** Why KubeMom would never take memory from this VM; absent when it would. */
  neverTouched?: string;
  /** On its node at the window's end. */
  current: boolean;
}

export interface NodeAdvice {
  node: string;
  memTotalBytes: number;
  /** The default policy's reserve: eviction threshold + max(512Mi, 5 % of MemTotal), that part capped at 2 GiB. */
  reserveBytes: number;
  /** VMs on the node at the window's end, and their guest memory. */
  vms: number;
  guestMemoryBytes: number;
  overcommitRatio: number;
  samples: number;
  /** Sum over its VMs of the reclaimable memory, percentiles over the samples. */
  reclaimableP50Bytes: number;
  reclaimableP95Bytes: number;
  /** Lowest MemAvailable in the window, and when. */
  lowestAvailableBytes: number;
  /** Lowest MemAvailable plus what KubeMom would have reclaimed at that time (the window's peak with KubeMom). */
  peakAtSec: number;
  lowestAvailableWithReclaimBytes: number;
  /** More VM memory the node could hold without crossing its reserve at the peak: with KubeMom, and without. */
  canAddBytes: number;
  canAddWithoutKubemomBytes: number;
  /** Guest memory over MemTotal with canAddBytes more. */
  possibleOvercommitRatio: number;
}

/** A node's memory over the window, for the plot. */
export interface NodeTimeline {
  node: string;
  memTotalBytes: number;
  reserveBytes: number;
  /** Unix seconds, MemAvailable and the reclaimable sum at each. */
  t: number[];
  availableBytes: number[];
  reclaimableBytes: number[];
}

export interface Advice {
  nodes: NodeAdvice[];
  vms: VmAdvice[];
  /** Per node, when asked for (settings.timelines). */
  timelines?: NodeTimeline[];
}

/** Nearest-rank percentile of ascending-sorted values (0 for none). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1]!;
}

function asGuest(vm: VmData, guaranteed: number, history: GuestSample[]): GuestState {
  const last = history[history.length - 1]!;
  return {
    id: `${vm.namespace}/${vm.name}`, namespace: vm.namespace, name: vm.name, uid: '',
    guestMemoryBytes: vm.guestMemoryBytes, guaranteedMemoryBytes: guaranteed, marginBytes: defaultMemoryMarginBytes(vm.guestMemoryBytes),
    priority: 50, policy: 'default', phase: 'running', phaseSinceMs: 0, balloonActualBytes: last.balloonActualBytes!, history,
  };
}

function sample(p: VmPoint): GuestSample {
  const s: GuestSample = { atMs: p.t * 1000, availableBytes: p.usableBytes, balloonActualBytes: p.actualBytes };
  if (p.swapInBytes !== undefined) s.swapInBytes = p.swapInBytes;
  if (p.majorFaults !== undefined) s.majorFaults = p.majorFaults;
  return s;
}

/** Reclaimable memory per sample time (Unix seconds) for one VM, and its advice. */
export function adviseVm(vm: VmData, settings: AdviseSettings): { advice: VmAdvice; reclaimable: Map<number, number> } {
  const p = settings.params ?? DEFAULT_PARAMETERS;
  const fromRequest = vm.requestBytes !== undefined && vm.requestBytes < vm.guestMemoryBytes;
  const guaranteed = fromRequest ? vm.requestBytes! : vm.guestMemoryBytes;
  const reclaimable = new Map<number, number>();
  let distressed = 0;
  vm.points.forEach((point, i) => {
    // The policy sees the last three reports (growth, distress); older ones only if on the grid just before.
    const history: GuestSample[] = [];
    for (let k = Math.max(0, i - 2); k <= i; k++) {
      if (point.t - vm.points[k]!.t <= (i - k) * settings.stepSec) history.push(sample(vm.points[k]!));
    }
    const guest = asGuest(vm, guaranteed, history);
    if (guestInDistress(guest, point.t * 1000, p)) {
      distressed++;
      reclaimable.set(point.t, 0);
      return;
    }
    const floor = guestFloorBytes(guest, p)!;
    reclaimable.set(point.t, vm.hugepages ? 0 : Math.max(0, point.actualBytes - floor));
  });
  const sorted = [...reclaimable.values()].sort((a, b) => a - b);
  const advice: VmAdvice = {
    namespace: vm.namespace, name: vm.name, node: vm.node, guestMemoryBytes: vm.guestMemoryBytes,
    guaranteedBytes: guaranteed, guaranteedFrom: fromRequest ? 'request' : 'guest memory',
    samples: vm.points.length, distressedSamples: distressed,
    reclaimableP50Bytes: percentile(sorted, 0.5), reclaimableP95Bytes: percentile(sorted, 0.95),
    current: vm.points.length > 0 && vm.points[vm.points.length - 1]!.t === settings.endSec,
  };
  const why = neverTouched(vm, fromRequest, sorted);
  if (why) advice.neverTouched = why;
  return { advice, reclaimable };
}

function neverTouched(vm: VmData, fromRequest: boolean, sorted: readonly number[]): string | undefined {
  if (vm.hugepages) return 'hugepages back its memory: a balloon frees nothing on the host';
  if (vm.points.length === 0) return 'no balloon statistics (no virtio-balloon device, or guest stats polling is off)';
  if (!fromRequest) return vm.requestBytes === undefined ? 'no memory request: KubeMom keeps the whole guest by default' : 'its memory request equals its guest memory: the floor is the whole guest';
  if (sorted[sorted.length - 1] === 0) return 'never above its floor in the window (it uses its memory, or was in distress)';
  return undefined;
}

/** The advice for every node and VM. */
export function advise(nodes: readonly NodeData[], vms: readonly VmData[], settings: AdviseSettings): Advice {
  const p = settings.params ?? DEFAULT_PARAMETERS;
  const vmAdvice: VmAdvice[] = [];
  const reclaimByNode = new Map<string, Map<number, number>>();
  for (const vm of vms) {
    const { advice, reclaimable } = adviseVm(vm, settings);
    vmAdvice.push(advice);
    let sums = reclaimByNode.get(vm.node);
    if (!sums) reclaimByNode.set(vm.node, (sums = new Map()));
    for (const [t, bytes] of reclaimable) sums.set(t, (sums.get(t) ?? 0) + bytes);
  }
  const timelines: NodeTimeline[] = [];
  const nodeAdvice: NodeAdvice[] = nodes.map((n) => {
    const reserve = reserveBytes(n.memTotalBytes, settings.evictionHardBytes, p);
    const sums = reclaimByNode.get(n.node) ?? new Map<number, number>();
    const current = vmAdvice.filter((v) => v.node === n.node && v.current);
    const guestMemory = current.reduce((s, v) => s + v.guestMemoryBytes, 0);
    let lowest = Infinity;
    let lowestWith = Infinity;
    let peakAt = settings.endSec;
    const reclaims: number[] = [];
    for (const [t, available] of n.available) {
      const reclaim = sums.get(t) ?? 0;
      reclaims.push(reclaim);
      lowest = Math.min(lowest, available);
      if (available + reclaim < lowestWith) {
        lowestWith = available + reclaim;
        peakAt = t;
      }
    }
    if (n.available.length === 0) lowest = lowestWith = 0;
    if (settings.timelines) {
      timelines.push({ node: n.node, memTotalBytes: n.memTotalBytes, reserveBytes: reserve, t: n.available.map(([t]) => t), availableBytes: n.available.map(([, a]) => a), reclaimableBytes: [...reclaims] });
    }
    reclaims.sort((a, b) => a - b);
    const canAdd = Math.max(0, lowestWith - reserve);
    return {
      node: n.node, memTotalBytes: n.memTotalBytes, reserveBytes: reserve, vms: current.length, guestMemoryBytes: guestMemory,
      overcommitRatio: n.memTotalBytes > 0 ? guestMemory / n.memTotalBytes : 0, samples: n.available.length,
      reclaimableP50Bytes: percentile(reclaims, 0.5), reclaimableP95Bytes: percentile(reclaims, 0.95),
      lowestAvailableBytes: lowest, peakAtSec: peakAt, lowestAvailableWithReclaimBytes: lowestWith,
      canAddBytes: canAdd, canAddWithoutKubemomBytes: Math.max(0, lowest - reserve),
      possibleOvercommitRatio: n.memTotalBytes > 0 ? (guestMemory + canAdd) / n.memTotalBytes : 0,
    };
  });
  const out: Advice = { nodes: nodeAdvice, vms: vmAdvice };
  if (settings.timelines) out.timelines = timelines;
  return out;
}
