/** Sets the per-cycle gauges: host memory as the policy saw it, KSM, and each VM. */
import os from 'node:os';
import type { PolicyInput } from '../policy/types.js';
import { vmCpuTune } from '../policy/mom/cputune.js';
import type { HostSource } from './host/host-monitor.js';
import { ShimMetrics } from './metrics.js';
import { committedMemory } from './committed-memory.js';
import { SESSION_STATES, type SidecarSession } from './session.js';
import type { PodBoundsState } from './pod-bounds.js';
import type { PodFacts } from './kube/pod-watch.js';

const PAGE_SIZE = 4096;

/** namespace/name labels of a session whose sidecar has described its VM. */
export function vmLabels(session: SidecarSession): { namespace: string; name: string } | undefined {
  const vm = session.describe?.vm;
  return vm && vm.name ? { namespace: vm.namespace, name: vm.name } : undefined;
}

export function updateCycleMetrics(
  m: ShimMetrics,
  input: PolicyInput,
  sessions: readonly SidecarSession[],
  source: HostSource,
  extra: { ksm?: Record<string, number>; ksmdCpu?: number },
): void {
  const host = input.host.history[input.host.history.length - 1];
  if (host) {
    m.hostMemTotal.set(host.memTotalBytes);
    m.hostMemAvailable.set(host.memAvailableBytes);
    m.hostMemFree.set(host.memFreeBytes);
    m.hostCached.set(host.cachedBytes + host.buffersBytes);
    m.hostAnon.set(host.anonPagesBytes);
    m.hostSwapUsed.set(host.swapTotalBytes - host.swapFreeBytes);
    m.evictionHeadroom.set(host.memAvailableBytes - input.host.evictionHardBytes);
    if (host.psi) {
      m.psiAvg10.set({ kind: 'some' }, host.psi.someAvg10 / 100);
      m.psiAvg10.set({ kind: 'full' }, host.psi.fullAvg10 / 100);
      m.psiAvg60.set({ kind: 'some' }, host.psi.someAvg60 / 100);
      m.psiAvg60.set({ kind: 'full' }, host.psi.fullAvg60 / 100);
      m.psiStall.set({ kind: 'some' }, host.psi.someTotalUs / 1e6);
      m.psiStall.set({ kind: 'full' }, host.psi.fullTotalUs / 1e6);
    }
    const guestTotal = input.guests.reduce((sum, g) => sum + g.guestMemoryBytes, 0);
    m.overcommit.set(host.memTotalBytes > 0 ? guestTotal / host.memTotalBytes : 0);
    const committed = committedMemory(input);
    if (committed) {
      m.nodeCommitted.set(committed.committedBytes);
      m.nodeCommittedHeadroom.set(committed.headroomBytes);
    }
  }
  ShimMetrics.oneHot(m.hostSource, 'source', ['node-exporter', 'proc'], source);
  m.evictionHard.set(input.host.evictionHardBytes);
  m.evictionSoft.set(input.host.evictionSoftBytes ?? 0);
  if (extra.ksm) {
    for (const [file, value] of Object.entries(extra.ksm)) m.ksmValue.set({ file }, value);
    if (extra.ksm.pages_sharing !== undefined) m.ksmSaved.set(extra.ksm.pages_sharing * PAGE_SIZE);
  }
  if (extra.ksmdCpu !== undefined) m.ksmdCpu.set(extra.ksmdCpu);

  const counts = new Map<string, number>();
  let reclaimed = 0;
  for (const session of sessions) {
    counts.set(session.state, (counts.get(session.state) ?? 0) + 1);
    const actual = session.latest?.balloonActualBytes ?? 0;
    const guestMemory = session.latest?.memory?.guestBytes || session.describe?.guestMemoryBytes || 0;
    if (session.state === 'live' && actual > 0 && session.describe) reclaimed += Math.max(0, guestMemory - actual);
  }
  m.nodeReclaimed.set(reclaimed);
  for (const state of SESSION_STATES) m.sidecars.set({ state }, counts.get(state) ?? 0);
}

/** Makes the per-VM gauges read the sessions (and their pods' bounds) at scrape time. */
export function bindVmGauges(
  m: ShimMetrics,
  sessions: () => readonly SidecarSession[],
  pod: (podUid: string) => PodBoundsState | undefined = () => undefined,
  apiPod: (podUid: string) => PodFacts | undefined = () => undefined,
): void {
  m.bindVms((set) => {
    // One session per VM series: the first claimant, as in the loop, and refused sessions
    // last, so a sidecar lying about its identity can never overwrite another VM's series.
    const all = sessions();
    const ordered = [...all.filter((s) => s.state !== 'refused'), ...all.filter((s) => s.state === 'refused')];
    const seen = new Set<string>();
    for (const session of ordered) {
      const labels = vmLabels(session);
      if (!labels) continue;
      const key = `${labels.namespace}/${labels.name}`;
      if (seen.has(key)) continue;
      seen.add(key);
      for (const state of SESSION_STATES) set(m.vmSessionState, { ...labels, state }, state === session.state ? 1 : 0);
      const d = session.describe!;
      const unmanaged = session.unmanaged;
      if (unmanaged) set(m.vmUnmanaged, { ...labels, reason: unmanaged.kind }, 1);
      // After a memory hotplug the latest sample has the guest's memory (boot + plugged).
      const guestMemory = session.latest?.memory?.guestBytes || d.guestMemoryBytes;
      set(m.vmGuestMemory, labels, guestMemory);
      set(m.vmGuaranteed, labels, d.guaranteedMemoryBytes);
      set(m.vmPriority, labels, d.priority);
      const b = pod(session.found.podUid);
      if (b?.limitBytes !== undefined) set(m.vmPodLimit, labels, b.limitBytes);
      if (b?.overheadBytes !== undefined) set(m.vmPodOverhead, labels, b.overheadBytes);
      if (b?.ceilingBytes !== undefined) set(m.vmPodCeiling, labels, b.ceilingBytes);
      if (b?.floorBytes !== undefined) set(m.vmNodeFloor, { ...labels, source: b.floorSource ?? 'unknown' }, b.floorBytes);
      if (b) set(m.vmAutodeflatePastCeiling, labels, b.autodeflateCanCross ? 1 : 0);
      const facts = apiPod(session.found.podUid);
      if (facts) set(m.vmPodInfo, { ...labels, pod: facts.name, vmi_uid: facts.vmiUid ?? '' }, 1);
      if (d.vcpus) {
        const t = vmCpuTune('', d.vcpus, d.cpuLimitMillicores || undefined, os.availableParallelism());
        if (t.kubernetesLimitCores !== undefined) set(m.vmCpuLimit, { ...labels, source: 'kubernetes' }, t.kubernetesLimitCores);
        if (t.momLimitCores !== undefined) set(m.vmCpuLimit, { ...labels, source: 'mom' }, t.momLimitCores);
        set(m.vmMomVcpuQuota, labels, t.quota > 0 ? t.quota / 1e6 : -1);
        set(m.vmMomVcpuPeriod, labels, t.period / 1e6);
      }
      for (const disk of d.disks) {
        for (const [limit, value] of Object.entries(disk.applied)) if (value > 0) set(m.vmIoLimit, { ...labels, disk: disk.name, limit }, value);
      }
      const s = session.latest;
      if (!s) continue;
      const mig = s.migration;
      if (mig) {
        set(m.vmMigrationTotal, labels, mig.memoryTotalBytes);
        set(m.vmMigrationProcessed, labels, mig.memoryProcessedBytes);
        set(m.vmMigrationRemaining, labels, mig.memoryRemainingBytes);
        set(m.vmMigrationDirtyRate, labels, mig.dirtyRateBytesPerSecond);
        set(m.vmMigrationIteration, labels, mig.iteration);
        set(m.vmMigrationDowntime, labels, mig.downtimeSeconds);
      }
      if (s.balloonActualBytes !== undefined) {
        set(m.vmActual, labels, s.balloonActualBytes);
        set(m.vmReclaimed, labels, Math.max(0, guestMemory - s.balloonActualBytes));
      }
      const target = s.balloonTargetBytes || session.lastApplied?.appliedBytes || 0;
      if (target > 0) set(m.vmTarget, labels, target);
      const g = s.guest;
      if (g) {
        set(m.vmGuestTotal, labels, g.totalBytes);
        set(m.vmGuestFree, labels, g.freeBytes);
        set(m.vmGuestAvailable, labels, g.availableBytes);
        set(m.vmGuestCaches, labels, g.diskCachesBytes);
        set(m.vmGuestSwapIn, labels, g.swapInBytes);
        set(m.vmGuestSwapOut, labels, g.swapOutBytes);
        set(m.vmGuestMajorFaults, labels, g.majorFaults);
      }
    }
  });
}
