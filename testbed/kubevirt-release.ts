/**
 * What differs between the KubeVirt releases the test bed plays, read in kubevirt/kubevirt (v1.5.0, v1.9.0):
 * - the hook layout (v1.6 moved each sidecar into its own subdirectory of the hooks emptyDir);
 * - the VMI virt-launcher hands to OnDefineDomain, which is the VMI as the API server holds it (pkg/hooks/manager.go
 *   marshals virt-launcher's VMI with encoding/json), defaulted by virt-api's mutating webhook (pkg/defaults):
 *   since v1.6 the default VM rollout strategy is LiveUpdate (pkg/virt-config/virt-config.go), so the webhook sets
 *   `memory.maxGuest` (guest x MaxHotplugRatio 4) on every hotplug-eligible VMI and `cpu.maxSockets` on all;
 *   v1.5 defaults to Stage and sets neither;
 * - where a VM without a memory request gets one: up to v1.6 the webhook writes it into the VMI (the guest memory
 *   x 100 / the cluster's memoryOvercommit; v1.5.0 pkg/defaults/defaults.go, `setDefaultResourceRequests`); since
 *   v1.7 only the launcher pod gets it (pkg/virt-controller/services/renderresources.go, `WithMemoryRequests`), and
 *   the VMI, the only thing the sidecar sees, has none.
 *
 * Pure: no I/O.
 */
import type { HookLayout } from '../src/kubevirt-sim/hook-manager.js';

/** The KubeVirt releases whose virt-launcher the test bed plays. */
export type KubevirtRelease = 'v1.5' | 'v1.9';

/** The hook layout of a release (v1.6 moved each sidecar into its own subdirectory). */
export function hookLayoutOf(release: KubevirtRelease): HookLayout {
  return release === 'v1.5' ? 'shared' : 'per-sidecar';
}

/** Whether the release's default rollout strategy is LiveUpdate (memory and CPU hotplug defaults). */
export function liveUpdateByDefault(release: KubevirtRelease): boolean {
  return release !== 'v1.5';
}

/** KubeVirt's `DefaultMaxHotplugRatio` (pkg/virt-config/virt-config.go). */
export const MAX_HOTPLUG_RATIO = 4;
/** pkg/liveupdate/memory/memory.go: `HotplugBlockAlignmentBytes` (2 MiB) and `requiredMinGuestMemory` (1 GiB). */
export const HOTPLUG_BLOCK_BYTES = 2 * 2 ** 20;
export const HOTPLUG_MIN_GUEST_BYTES = 2 ** 30;

/**
 * `memory.maxGuest` as the v1.6+ webhook sets it for a guest of `guestBytes` (pkg/defaults/defaults.go,
 * `setupMemoryHotplug`, checked by `ValidateLiveUpdateMemory`), or undefined where hotplug stays off: a release
 * without LiveUpdate by default, a guest under 1 GiB or not 2 MiB-aligned. (The other reasons, realtime, NUMA
 * passthrough, encrypted guests, 1 GiB hugepages alignment, non-amd64, never apply to the test guest.)
 */
export function defaultMaxGuestBytes(release: KubevirtRelease, guestBytes: number): number | undefined {
  if (!liveUpdateByDefault(release)) return undefined;
  if (guestBytes < HOTPLUG_MIN_GUEST_BYTES || guestBytes % HOTPLUG_BLOCK_BYTES !== 0) return undefined;
  return guestBytes * MAX_HOTPLUG_RATIO;
}

/**
 * The memory request the webhook writes into the VMI of a VM that set none (guest memory `guestBytes`, cluster
 * `memoryOvercommit` percent), or undefined where the release leaves the VMI without one.
 */
export function defaultMemoryRequestBytes(release: KubevirtRelease, guestBytes: number, memoryOvercommitPercent = 100): number | undefined {
  if (release !== 'v1.5') return undefined;
  return memoryOvercommitPercent === 100 ? guestBytes : Math.floor((guestBytes * 100) / memoryOvercommitPercent);
}

const BINARY_SUFFIXES = ['Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

/**
 * A byte count as Kubernetes' resource.Quantity writes a BinarySI value to JSON (apimachinery
 * pkg/api/resource/quantity.go): the largest power-of-1024 suffix that divides it exactly, else plain digits.
 */
export function binarySiQuantity(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`${bytes} is not a byte count`);
  let value = bytes;
  let suffix = -1;
  while (value !== 0 && value % 1024 === 0 && suffix < BINARY_SUFFIXES.length - 1) {
    value /= 1024;
    suffix += 1;
  }
  return suffix < 0 ? String(bytes) : `${value}${BINARY_SUFFIXES[suffix]}`;
}
