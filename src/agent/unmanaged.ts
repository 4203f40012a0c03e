/**
 * Why KubeMom does not balloon a VM it serves, in the words the agent reports
 * (Describe, every StatsSample) and the shim turns into a metric.
 *
 * - `passthrough`: the VMI has VFIO devices (hostDevices, gpus, SR-IOV); QEMU frees
 *   nothing on the node when the balloon inflates, so the VM is observed only.
 * - `side-monitor-lost`: the QMP side monitor the sidecar put in the domain never
 *   appeared. A sidecar that runs after KubeMom (KubeVirt's network-binding sidecars,
 *   the v1.9 Plugins path) re-marshalled the domain through KubeVirt's Go types and
 *   dropped `qemu:commandline`; the VM runs, unseen.
 *
 * Pure: facts and time in, a verdict out.
 */

export type UnmanagedKind = 'passthrough' | 'side-monitor-lost';
export const UNMANAGED_KINDS: readonly UnmanagedKind[] = ['passthrough', 'side-monitor-lost'];

export interface Unmanaged {
  kind: UnmanagedKind;
  reason: string;
}

/** Default wait for the side monitor after the agent learnt its VM (QEMU starts right after OnDefineDomain). */
export const DEFAULT_SIDE_MONITOR_GRACE_MS = 30_000;

export interface UnmanagedFacts {
  /** The VM config's observe-only reason (passthrough devices), if any. */
  observeOnlyReason: string | undefined;
  /** When the agent learnt its VM (OnDefineDomain, or a restarted sidecar's saved config). */
  definedAtMs: number;
  /** The QMP side monitor answered at least once since then. */
  everConnected: boolean;
  /** Whether the socket file exists now (QEMU creates it as it starts). */
  socketExists: boolean;
  nowMs: number;
  graceMs: number;
}

/**
 * The verdict. The side monitor counts as lost only while it never answered and its
 * socket does not exist past the grace: a QEMU that answered once and went away is a
 * VM that stopped (phase gone), not a lost monitor.
 */
export function unmanagedVerdict(f: UnmanagedFacts): Unmanaged | undefined {
  if (!f.everConnected && !f.socketExists && f.nowMs - f.definedAtMs >= f.graceMs) {
    return {
      kind: 'side-monitor-lost',
      reason:
        `the QMP side monitor did not appear within ${Math.round(f.graceMs / 1000)} s of the domain being defined: ` +
        'a sidecar after KubeMom (a network-binding sidecar such as passt or slirp, or the Plugins path) may have re-marshalled the domain and dropped qemu:commandline, ' +
        'or the VM did not start; the VM runs without KubeMom',
    };
  }
  if (f.observeOnlyReason !== undefined) return { kind: 'passthrough', reason: f.observeOnlyReason };
  return undefined;
}
