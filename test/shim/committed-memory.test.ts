/** The node's committed memory: the non-VM working set plus every VM's floor by the default policy's rule. */
import { expect } from 'chai';
import { committedMemory } from '../../src/shim/committed-memory.js';
import type { GuestState, PolicyInput } from '../../src/policy/types.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const NOW = 1_000_000;

function guest(id: string, o: { memory: number; actual?: number; available?: number; free?: number; guaranteed: number; margin?: number }): GuestState {
  const history = o.available === undefined ? [] : [{ atMs: NOW, availableBytes: o.available, freeBytes: o.free ?? 0, balloonActualBytes: o.actual ?? o.memory }];
  const g: GuestState = { id, namespace: 'ns', name: id, uid: id, guestMemoryBytes: o.memory, guaranteedMemoryBytes: o.guaranteed, marginBytes: o.margin ?? 0, priority: 50, policy: 'default', phase: 'running', phaseSinceMs: 0, history };
  if (o.actual !== undefined) g.balloonActualBytes = o.actual;
  return g;
}

function input(memTotal: number, memAvailable: number, guests: GuestState[], hard = 100 * MiB, soft?: number): PolicyInput {
  const host = { atMs: NOW, memTotalBytes: memTotal, memFreeBytes: 0, memAvailableBytes: memAvailable, buffersBytes: 0, cachedBytes: 0, anonPagesBytes: 0, swapTotalBytes: 0, swapFreeBytes: 0 };
  const h: PolicyInput['host'] = { history: [host], cpuCount: 4, evictionHardBytes: hard };
  if (soft !== undefined) h.evictionSoftBytes = soft;
  return { nowMs: NOW, host: h, guests };
}

describe('committed memory', () => {
  it('is the non-VM working set plus each VM\'s max(guaranteed, used + max(margin, 10 % of its balloon))', () => {
    // a: balloon 8 GiB, 5 GiB available (used 3 GiB), 1 GiB free: floor = max(2, 3 + 0.8) GiB, footprint 7 GiB.
    // b: balloon 4 GiB, 3.5 GiB available (used 0.5 GiB), margin 1 GiB: floor = max(1, 0.5 + 1) GiB, footprint 4 - 2 GiB.
    const a = guest('a', { memory: 8 * GiB, actual: 8 * GiB, available: 5 * GiB, free: 1 * GiB, guaranteed: 2 * GiB });
    const b = guest('b', { memory: 4 * GiB, actual: 4 * GiB, available: 3.5 * GiB, free: 2 * GiB, guaranteed: 1 * GiB, margin: 1 * GiB });
    // The host uses 64 - 50 = 14 GiB: 7 + 2 GiB are the VMs, 5 GiB the rest.
    const c = committedMemory(input(64 * GiB, 50 * GiB, [a, b]))!;
    expect(c.committedBytes).to.be.closeTo(5 * GiB + 3.8 * GiB + 1.5 * GiB, 1);
    expect(c.headroomBytes).to.be.closeTo(64 * GiB - c.committedBytes - 100 * MiB, 1);
  });

  it('counts a VM without statistics at what it has, never below its guaranteed memory, and the larger eviction threshold', () => {
    const noStats = guest('n', { memory: 4 * GiB, actual: 3 * GiB, guaranteed: 1 * GiB });
    const idle = guest('i', { memory: 8 * GiB, actual: 8 * GiB, available: 7.9 * GiB, free: 7 * GiB, guaranteed: 6 * GiB });
    // Footprints 3 + 1 GiB; the host uses 16 - 10 = 6 GiB: 2 GiB outside the VMs.
    const c = committedMemory(input(16 * GiB, 10 * GiB, [noStats, idle], 100 * MiB, 1 * GiB))!;
    expect(c.committedBytes).to.equal(2 * GiB + 3 * GiB + 6 * GiB);
    expect(c.headroomBytes).to.equal(16 * GiB - 11 * GiB - 1 * GiB);
  });

  it('goes negative in headroom when the VMs could take back more than the node has', () => {
    const big = guest('big', { memory: 32 * GiB, actual: 8 * GiB, available: 1 * GiB, free: 0, guaranteed: 30 * GiB });
    expect(committedMemory(input(16 * GiB, 8 * GiB, [big]))!.headroomBytes).to.be.below(0);
    expect(committedMemory({ nowMs: NOW, host: { history: [], cpuCount: 1, evictionHardBytes: 0 }, guests: [] })).to.equal(undefined);
  });
});
