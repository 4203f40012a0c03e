/** Sets the per-cycle gauges: host memory as the policy saw it, KSM, and each VM. */
import type { PolicyInput } from '../balloon/types.js';
import type { HostSource } from './host/host-monitor.js';
import { ShimMetrics } from './metrics.js';
import { SESSION_STATES, type SidecarSession } from './session.js';

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
    const labels = vmLabels(session);
    if (!labels) continue;
    ShimMetrics.oneHot(m.vmSessionState, 'state', SESSION_STATES, session.state, labels);
    const d = session.describe!;
    m.vmGuestMemory.set(labels, d.guest_memory_bytes);
    m.vmGuaranteed.set(labels, d.guaranteed_memory_bytes);
    m.vmPriority.set(labels, d.priority);
    const s = session.latest;
    if (!s) continue;
    if (s.balloon_actual_bytes > 0) {
      m.vmActual.set(labels, s.balloon_actual_bytes);
      const r = Math.max(0, d.guest_memory_bytes - s.balloon_actual_bytes);
      m.vmReclaimed.set(labels, r);
      if (session.state === 'live') reclaimed += r;
    }
    if (s.balloon_target_bytes > 0) m.vmTarget.set(labels, s.balloon_target_bytes);
    const g = s.guest;
    if (g) {
      m.vmGuestTotal.set(labels, g.total_bytes);
      m.vmGuestFree.set(labels, g.free_bytes);
      m.vmGuestAvailable.set(labels, g.available_bytes);
      m.vmGuestCaches.set(labels, g.disk_caches_bytes);
      m.vmGuestSwapIn.set(labels, g.swap_in_bytes);
      m.vmGuestSwapOut.set(labels, g.swap_out_bytes);
      m.vmGuestMajorFaults.set(labels, g.major_faults);
    }
  }
  m.nodeReclaimed.set(reclaimed);
  for (const state of SESSION_STATES) m.sidecars.set({ state }, counts.get(state) ?? 0);
}
