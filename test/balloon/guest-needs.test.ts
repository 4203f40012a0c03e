/** What the default policy reads from a guest's reports: here, how long a shortfall is remembered. */
import { expect } from 'chai';
import { assessGuest, type GuestMemory, type NeedParameters } from '../../src/balloon/guest-needs.js';
import type { GuestSample, GuestState } from '../../src/policy/types.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const HALF_LIFE = 1_800_000;
const params: NeedParameters = { peakHalfLifeMs: 600_000, jumpHalfLifeMs: HALF_LIFE, deadBandBytes: 64 * MiB, riseReports: 4, majorFaultRate: 100, guestMinAvailablePercent: 0.03, unseenJumpPercent: 0 };

/** A guest at a 2 GiB balloon with 1 GiB available; its last report pair faulted `faults` pages in 5 s. */
function guestAt(nowMs: number, faults: number): GuestState {
  const sample = (atMs: number, majorFaults: number): GuestSample => ({ atMs, availableBytes: 1 * GiB, freeBytes: 0, totalBytes: 2 * GiB, balloonActualBytes: 2 * GiB, swapInBytes: 0, majorFaults });
  return {
    id: 'g', namespace: 'ns', name: 'g', uid: 'g', guestMemoryBytes: 4 * GiB, guaranteedMemoryBytes: 1 * GiB, marginBytes: 0, priority: 50, policy: 'default',
    phase: 'running', phaseSinceMs: 0, balloonActualBytes: 2 * GiB, swapBytes: 1 * GiB, history: [sample(nowMs - 5_000, 0), sample(nowMs, faults)],
  };
}

describe('guest needs: a shortfall is remembered longer each time it comes back', () => {
  it('halves what it keeps for a re-read shortfall over the jump half-life the first time, twice as long the second', () => {
    const t0 = 1_000_000_000;
    // First episode: 100,000 pages re-read at a 2 GiB balloon (about 390 MiB short).
    const first = assessGuest(guestAt(t0, 100_000), t0, undefined, params, 0);
    expect(first.distressed).to.equal(true);
    const shortAt = first.next.shortAtBytes!;
    expect(shortAt).to.be.closeTo(2 * GiB + 100_000 * 4096, 1);
    expect(first.next.shortEpisodes).to.equal(1);
    const quiet = (at: number, memory: GuestMemory) => assessGuest(guestAt(at, 0), at, memory, params, 0).next;
    expect(quiet(t0 + HALF_LIFE, first.next).shortAtBytes).to.be.closeTo(shortAt / 2, 1);
    // A second episode a while later (more than a minute): the same shortfall now holds twice as long.
    const t1 = t0 + 120_000;
    const second = assessGuest(guestAt(t1, 100_000), t1, quiet(t1 - 5_000, first.next), params, 0).next;
    expect(second.shortEpisodes).to.equal(2);
    expect(quiet(t1 + HALF_LIFE, second).shortAtBytes).to.be.closeTo(second.shortAtBytes! * Math.SQRT1_2, 1e6);
    // Reports of one episode (seconds apart) count once.
    const same = assessGuest(guestAt(t1 + 5_000, 200_000), t1 + 5_000, second, params, 0).next;
    expect(same.shortEpisodes).to.equal(2);
  });
});
