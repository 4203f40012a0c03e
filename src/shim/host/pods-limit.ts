/**
 * The start check that the cgroup the shim reads as the kubelet's pods cgroup is the one the kubelet limits.
 *
 * With node allocatable enforced, the kubelet sets the pods cgroup's memory limit to MemTotal - systemReserved -
 * kubeReserved (kubernetes pkg/kubelet/cm/node_container_manager_linux.go, getNodeAllocatableAbsolute): a limit
 * far from that means the shim reads another cgroup than the kubelet's (a wrong --kubepods-cgroup or
 * --cgroup-driver), and its eviction signals would be someone else's.
 */

/** How far the limit may stand from the expected one, as a fraction of MemTotal (hugepages, rounding). */
export const PODS_LIMIT_TOLERANCE = 0.02;

export interface PodsLimitMismatch {
  limitBytes: number;
  expectedBytes: number;
}

/**
 * The mismatch between the pods cgroup's limit and the kubelet's allocatable, or undefined when they agree or
 * the limit is unknown (no limit set: allocatable not enforced, nothing to compare).
 */
export function podsLimitMismatch(memTotalBytes: number, reservedBytes: number, limitBytes: number | undefined): PodsLimitMismatch | undefined {
  if (limitBytes === undefined) return undefined;
  const expectedBytes = memTotalBytes - reservedBytes;
  return Math.abs(limitBytes - expectedBytes) > PODS_LIMIT_TOLERANCE * memTotalBytes ? { limitBytes, expectedBytes } : undefined;
}
