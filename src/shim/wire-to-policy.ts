/**
 * What a sidecar reported (kubemom.v1 Describe and WatchStats, decoded by src/api/) turned into what the policy sees
 * (src/policy/types.ts): a guest sample per stats sample, and the guest's state for a cycle. Pure: the session keeps
 * the history and the clocks, this module only translates.
 */
import type { Description, StatsSample } from '../api/kubemom-v1.js';
import type { GuestSample, GuestState, IoRates, Phase } from '../policy/types.js';

/** One stats sample as a policy sample; `nowMs` dates a sample without its own time. */
export function guestSampleOf(sample: StatsSample, nowMs: number): GuestSample {
  const g = sample.guest;
  const entry: GuestSample = { atMs: sample.sampledAtMs || nowMs, balloonActualBytes: sample.balloonActualBytes ?? 0 };
  if (g) {
    entry.totalBytes = g.totalBytes;
    entry.freeBytes = g.freeBytes;
    entry.availableBytes = g.availableBytes;
    entry.diskCachesBytes = g.diskCachesBytes;
    entry.swapInBytes = g.swapInBytes;
    entry.swapOutBytes = g.swapOutBytes;
    entry.majorFaults = g.majorFaults;
    entry.minorFaults = g.minorFaults;
  }
  return entry;
}

/**
 * When the VM entered its phase, for the policy (its start grace, `phase_age`). The
 * agent's report wins: it survives a shim restart, where the shim's own observation
 * starts at discovery. When the agent says the phase began earlier than it could see
 * (a restarted sidecar), the older of its time and the shim's own is kept, still a time
 * the VM is known to have been in the phase. Sidecars without the field (0) leave the
 * shim's own observation: the previous value while the phase holds, else now.
 */
export function phaseSinceMs(input: {
  phase: Phase;
  previousPhase: Phase | undefined;
  previousSinceMs: number;
  agentSinceMs: number | undefined;
  agentBeganEarlier: boolean | undefined;
  nowMs: number;
}): number {
  const own = input.phase === input.previousPhase ? input.previousSinceMs : input.nowMs;
  const agent = input.agentSinceMs ?? 0;
  if (!(agent > 0)) return own;
  // Same clock on the node; a time in the future (a skewed or lying sidecar) counts as now.
  const reported = Math.min(agent, input.nowMs);
  return input.agentBeganEarlier ? Math.min(reported, own) : reported;
}

/** What the session knows of a VM beside the sidecar's own reports. */
export interface SessionFacts {
  /** The session's dating of the current phase (phaseSinceMs). */
  phaseSinceMs: number;
  /** The guest samples kept for the policy, oldest first. */
  history: GuestSample[];
  /** The policy IO limits the sidecar last accepted. */
  ioLimitsSent: IoRates;
  nowMs: number;
}

/** The VM as the policy sees it; undefined before the sidecar knows its VM. */
export function guestStateOf(d: Description, latest: StatsSample | undefined, facts: SessionFacts): GuestState | undefined {
  const vm = d.vm;
  if (!vm) return undefined;
  const unmanaged = (latest ?? d).unmanaged;
  const state: GuestState = {
    id: `${vm.namespace}/${vm.name}`,
    namespace: vm.namespace,
    name: vm.name,
    uid: vm.uid,
    // After a memory hotplug the latest sample knows the guest's memory better than Describe did.
    guestMemoryBytes: latest?.memory?.guestBytes || d.guestMemoryBytes,
    // An unmanaged VM is never inflated by its agent: the policy must not count on its memory.
    guaranteedMemoryBytes: unmanaged ? d.guestMemoryBytes : d.guaranteedMemoryBytes,
    // Sidecars before memory_margin_bytes report 0; their agent still applies its margin itself.
    marginBytes: d.memoryMarginBytes,
    priority: d.priority,
    policy: d.policy,
    phase: latest ? latest.phase : d.phase,
    // Before the first sample, Describe's report (if any) dates the phase.
    phaseSinceMs: latest || !d.phaseSinceMs ? facts.phaseSinceMs : Math.min(d.phaseSinceMs, facts.nowMs),
    history: facts.history,
    // The balloon undoes itself when the guest runs out of memory: the policy keeps more headroom for it. The
    // guest's swap size is not in QEMU's balloon stats, so swapBytes stays unknown (the policy takes it as none).
    autodeflate: d.autodeflate,
  };
  if (d.features.includes('io-limits')) {
    state.ioThrottle = d.ioThrottle;
    state.ioLimits = { ...facts.ioLimitsSent };
    state.disks = d.disks.map((disk) => ({ name: disk.name, ownerLimits: { ...disk.ownerLimits } }));
  }
  if (d.vcpus) state.vcpus = d.vcpus;
  if (d.cpuLimitMillicores) state.cpuLimitMillicores = d.cpuLimitMillicores;
  if (latest?.balloonActualBytes !== undefined) state.balloonActualBytes = latest.balloonActualBytes;
  if (latest?.balloonTargetBytes !== undefined) state.targetBytes = latest.balloonTargetBytes;
  return state;
}
