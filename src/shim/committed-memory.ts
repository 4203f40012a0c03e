/**
 * The node's committed memory, for the descheduler: what the node would hold if every VM
 * took back what the default policy lets it keep (its floor: max(guaranteed, need +
 * margin)), plus what runs outside the VMs. Ballooning raises MemAvailable, so a node
 * under KubeMom looks cooler than it is; committed memory does not hide what was lent.
 */
import { guestFloorBytes } from '../balloon/default-policy.js';
import type { PolicyInput } from '../policy/types.js';

export interface CommittedMemory {
  /** Non-VM working set plus, over the VMs, max(floor, need + margin). */
  committedBytes: number;
  /** MemTotal minus committed memory minus the kubelet's eviction threshold (hard, or soft when larger). */
  headroomBytes: number;
}

/**
 * From the policy's own input. A VM's host footprint is taken as its balloon less its
 * free memory (free pages are reported back to the host, or were never touched); what
 * the host uses beyond its VMs' footprints is the non-VM working set. A VM without
 * balloon statistics commits what it has (its balloon, else its whole memory).
 */
export function committedMemory(input: PolicyInput): CommittedMemory | undefined {
  const host = input.host.history[input.host.history.length - 1];
  if (!host) return undefined;
  let vmFootprint = 0;
  let vmCommitted = 0;
  for (const g of input.guests) {
    const has = g.balloonActualBytes ?? g.guestMemoryBytes;
    const free = g.history[g.history.length - 1]?.freeBytes ?? 0;
    vmFootprint += Math.max(0, has - free);
    vmCommitted += guestFloorBytes(g) ?? has;
  }
  const nonVm = Math.max(0, host.memTotalBytes - host.memAvailableBytes - vmFootprint);
  const committed = nonVm + vmCommitted;
  const threshold = Math.max(input.host.evictionHardBytes, input.host.evictionSoftBytes ?? 0);
  return { committedBytes: committed, headroomBytes: host.memTotalBytes - committed - threshold };
}
