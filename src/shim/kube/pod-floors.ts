/**
 * Pod requests are floors, and the API proves who a sidecar is.
 *
 * Since KubeVirt v1.7 a VMI under cluster memory overcommit carries no `spec.domain.resources.requests.memory`;
 * only its virt-launcher pod does (the compute container: guest x 100 / memoryOvercommit + KubeVirt's overhead,
 * `pkg/virt-controller/services/renderresources.go` WithMemoryRequests, WithMemoryOverhead). A sidecar then has
 * no guarantee but the whole guest (Describe.guaranteed_memory_source "guest-memory") and nothing would be
 * reclaimed. The node's floor stands in for it:
 *
 * - with the Kubernetes API: the compute container's memory request (it includes KubeVirt's overhead
 *   estimate, so the floor errs high, never low), capped at the guest memory;
 * - without (`--kubernetes-api off`, or no service account): guest x 100 / `--memory-overcommit` PERCENT, the
 *   KubeVirt CR's memoryOvercommit; without that either, no floor (the guest memory: nothing reclaimed).
 *
 * The same pods tell which VMI a pod runs: a sidecar whose Describe names another namespace, VMI UID or VMI
 * name than its pod (found by the pod UID in its socket path) is an impostor and gets no target.
 */
import type { PodFacts, PodWatch } from './pod-watch.js';
import type { FloorSource } from '../pod-bounds.js';
import type { SidecarSession } from '../session.js';

export type FloorMode = 'kubernetes-api' | 'memory-overcommit' | 'none';
export const FLOOR_MODES: readonly FloorMode[] = ['kubernetes-api', 'memory-overcommit', 'none'];

/**
 * What the API says of a sidecar's claim: ok; unknown (no pod facts to judge by); unseen (the watch is synced and
 * has no such pod on this node: a pod exists in the API before its containers start, so a sidecar ahead of the
 * watch is either a watch event in flight or an impostor, and gets no target until its pod shows); or why not.
 */
export type Verdict = { kind: 'ok' } | { kind: 'unknown' } | { kind: 'unseen'; why: string } | { kind: 'mismatch'; why: string };

/** A sidecar's claim against its pod's facts. Pure. */
export function vouchFor(claim: { namespace: string; name: string; uid: string }, pod: PodFacts | undefined): Verdict {
  if (!pod) return { kind: 'unknown' };
  if (pod.namespace !== claim.namespace) return { kind: 'mismatch', why: `the pod is in namespace ${pod.namespace}, the sidecar claims ${claim.namespace}` };
  if (pod.vmiUid !== undefined && claim.uid !== '' && pod.vmiUid !== claim.uid) return { kind: 'mismatch', why: `the pod runs VMI ${pod.vmiUid}, the sidecar claims ${claim.uid}` };
  if (pod.vmiName !== undefined && pod.vmiName !== claim.name) return { kind: 'mismatch', why: `the pod runs VMI ${pod.vmiName}, the sidecar claims ${claim.name}` };
  if (pod.vmiUid === undefined && pod.vmiName === undefined) return { kind: 'mismatch', why: `pod ${pod.namespace}/${pod.name} is not a virt-launcher pod (no kubevirt.io/created-by label)` };
  return { kind: 'ok' };
}

/** The floor for a guest from the KubeVirt CR's memoryOvercommit percentage. Pure. */
export function overcommitFloor(guestMemoryBytes: number, percent: number): number {
  return Math.min(guestMemoryBytes, Math.ceil((guestMemoryBytes * 100) / percent));
}

export class NodeFloors implements FloorSource {
  constructor(
    /** The node's pods from the API; none: the API is off or unreachable at start. */
    private readonly pods: PodWatch | undefined,
    /** --memory-overcommit PERCENT; none: no fallback floor. */
    private readonly memoryOvercommitPercent: number | undefined,
  ) {}

  /** Where floors come from. */
  get mode(): FloorMode {
    if (this.pods) return 'kubernetes-api';
    return this.memoryOvercommitPercent !== undefined ? 'memory-overcommit' : 'none';
  }

  floorFor(session: SidecarSession): { bytes: number; source: string } | undefined {
    const d = session.describe;
    if (!d || d.guaranteedMemorySource !== 'guest-memory') return undefined;
    const guest = session.latest?.memory?.guestBytes || d.guestMemoryBytes;
    const pod = this.pods?.synced ? this.pods.get(session.found.podUid) : undefined;
    const request = pod?.computeMemoryRequestBytes ?? pod?.podMemoryRequestBytes;
    if (request !== undefined && request > 0) return { bytes: Math.min(guest, request), source: 'pod-request' };
    if (this.memoryOvercommitPercent !== undefined) return { bytes: overcommitFloor(guest, this.memoryOvercommitPercent), source: 'memory-overcommit' };
    return undefined;
  }

  /** The API's word on a session's identity. */
  vouch(session: SidecarSession): Verdict {
    const vm = session.describe?.vm;
    if (!this.pods?.synced || !vm) return { kind: 'unknown' };
    const pod = this.pods.get(session.found.podUid);
    if (!pod) return { kind: 'unseen', why: `the Kubernetes API lists no pod ${session.found.podUid} on this node (yet)` };
    return vouchFor(vm, pod);
  }
}
