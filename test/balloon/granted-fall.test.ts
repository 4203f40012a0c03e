/** The part of a fall in available memory that the policy's own grants explain. */
import { expect } from 'chai';
import { GRANT_DELIVERY_MS, grantedSinceBytes } from '../../src/balloon/granted-fall.js';
import { signalTrend } from '../../src/balloon/kubelet-headroom.js';
import type { GuestState, HostSample } from '../../src/policy/types.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/**
 * A guest whose balloon was at `before` at t=0 and `after` at t=4 s, with target `target`, using 1 GiB
 * then and `usedAfter` (default: still 1 GiB) at t=4 s.
 */
function guest(before: number, after: number, target: number | undefined, usedAfter = 1 * GiB): GuestState {
  const sample = (atMs: number, balloonActualBytes: number, used: number) => ({ atMs, availableBytes: balloonActualBytes - used, freeBytes: 0, totalBytes: balloonActualBytes, balloonActualBytes, swapInBytes: 0, majorFaults: 0 });
  return {
    id: 'g', namespace: 'ns', name: 'g', uid: 'g', guestMemoryBytes: 4 * GiB, guaranteedMemoryBytes: 1 * GiB, marginBytes: 0, priority: 50, policy: 'default',
    phase: 'running', phaseSinceMs: 0, balloonActualBytes: after, ...(target === undefined ? {} : { targetBytes: target }), history: [sample(0, before, 1 * GiB), sample(4_000, after, usedAfter)],
  };
}

/** Every guest got its calm grant at `atMs`. */
const grantedAt = (atMs: number | undefined) => () => atMs;

describe('granted fall: what the policy handed to guests since a moment', () => {
  it('counts a balloon deflated toward its target since its last report at or before the moment', () => {
    expect(grantedSinceBytes([guest(2 * GiB, 2.5 * GiB, 2.5 * GiB)], 0, grantedAt(0))).to.equal(0.5 * GiB);
    expect(grantedSinceBytes([guest(2 * GiB, 2.5 * GiB, 2.5 * GiB)], 1_000, grantedAt(0))).to.equal(0.5 * GiB);
    // Two guests add up.
    expect(grantedSinceBytes([guest(2 * GiB, 2.5 * GiB, 3 * GiB), guest(1 * GiB, 1.25 * GiB, 3 * GiB)], 0, grantedAt(0))).to.equal(0.75 * GiB);
  });

  it('counts only guests given a calm grant within the delivery time before the moment', () => {
    const g = [guest(2 * GiB, 2.5 * GiB, 2.5 * GiB)];
    expect(grantedSinceBytes(g, 0, grantedAt(undefined))).to.equal(0);
    expect(grantedSinceBytes(g, 0, grantedAt(-GRANT_DELIVERY_MS))).to.equal(0.5 * GiB);
    expect(grantedSinceBytes(g, 0, grantedAt(-GRANT_DELIVERY_MS - 1))).to.equal(0);
  });

  it('counts only what the guest did not take into use: a grant a growing guest fills is its growth', () => {
    expect(grantedSinceBytes([guest(2 * GiB, 2.5 * GiB, 2.5 * GiB, 1.25 * GiB)], 0, grantedAt(0))).to.equal(0.25 * GiB);
    expect(grantedSinceBytes([guest(2 * GiB, 2.5 * GiB, 2.5 * GiB, 1.75 * GiB)], 0, grantedAt(0))).to.equal(0);
  });

  it('counts nothing past the target (deflate-on-OOM), for a guest without a target, for an inflation, or without a report that old', () => {
    expect(grantedSinceBytes([guest(2 * GiB, 2.5 * GiB, 2.25 * GiB)], 0, grantedAt(0))).to.equal(0.25 * GiB);
    expect(grantedSinceBytes([guest(2 * GiB, 2.5 * GiB, undefined)], 0, grantedAt(0))).to.equal(0);
    expect(grantedSinceBytes([guest(2.5 * GiB, 2 * GiB, 2 * GiB)], 0, grantedAt(0))).to.equal(0);
    expect(grantedSinceBytes([guest(2 * GiB, 2.5 * GiB, 2.5 * GiB)], -1, grantedAt(0))).to.equal(0);
  });

  it('takes the granted part out of a falling trend, never turning a fall into a rise, and leaves a rise alone', () => {
    const host = (fromBytes: number, toBytes: number): HostSample[] => [0, 2_000].map((atMs, i) => ({ atMs, memTotalBytes: 8 * GiB, memFreeBytes: 0, memAvailableBytes: i ? toBytes : fromBytes, buffersBytes: 0, cachedBytes: 0, anonPagesBytes: 0, swapTotalBytes: 0, swapFreeBytes: 0 }));
    const pick = (s: HostSample) => s.memAvailableBytes;
    const fell = host(3 * GiB, 2 * GiB);
    expect(signalTrend(fell, pick)).to.equal(-GiB / 2_000);
    expect(signalTrend(fell, pick, () => 256 * MiB)).to.equal(-768 * MiB / 2_000);
    expect(signalTrend(fell, pick, () => 2 * GiB)).to.equal(0);
    expect(signalTrend(host(2 * GiB, 3 * GiB), pick, () => 2 * GiB)).to.equal(GiB / 2_000);
  });
});
