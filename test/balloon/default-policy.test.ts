/** KubeMom's default policy: host signal, reserve, sharing, distress, steps, hysteresis, KSM. */
import { expect } from 'chai';
import { defaultPolicy, shareByWeight, type DefaultPolicyState } from '../../src/balloon/default-policy.js';
import { momPolicy } from '../../src/balloon/mom-policy.js';
import type { GuestState, HostState, PolicyDecisions, PolicyInput } from '../../src/balloon/types.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const NOW = 10_000_000;

interface GuestOpts { id: string; memory?: number; cur?: number; available?: number; priority?: number; swapIn?: [number, number]; faults?: [number, number]; guaranteed?: number; phase?: GuestState['phase'] }

function guest(o: GuestOpts): GuestState {
  const cur = o.cur ?? 8 * GiB;
  const avail = o.available ?? 4 * GiB;
  const sample = (k: 0 | 1) => ({ atMs: NOW - (1 - k) * 10_000, freeBytes: avail, availableBytes: avail, totalBytes: cur, swapInBytes: o.swapIn?.[k] ?? 0, majorFaults: o.faults?.[k] ?? 0, balloonActualBytes: cur });
  return {
    id: o.id, namespace: 'ns', name: o.id, uid: o.id, guestMemoryBytes: o.memory ?? 8 * GiB, guaranteedMemoryBytes: o.guaranteed ?? 1 * GiB,
    marginBytes: 0, priority: o.priority ?? 50, policy: 'default', phase: o.phase ?? 'running', phaseSinceMs: 0, balloonActualBytes: cur,
    history: [sample(0), sample(1)],
  };
}

/** A 64 GiB host with the given MemAvailable (and MemFree + cache of 20 GiB, which MOM reads). */
function input(available: number, guests: GuestState[], extra: Partial<HostState> = {}, psi?: { some: number; full: number }): PolicyInput {
  const h = { atMs: NOW, memTotalBytes: 64 * GiB, memFreeBytes: 4 * GiB, memAvailableBytes: available, buffersBytes: 0, cachedBytes: 16 * GiB, anonPagesBytes: 0, swapTotalBytes: 0, swapFreeBytes: 0 };
  const sample = psi ? { ...h, psi: { someAvg10: psi.some, someAvg60: psi.some, fullAvg10: psi.full, fullAvg60: psi.full, someTotalUs: 0, fullTotalUs: 0 } } : h;
  return { nowMs: NOW, host: { history: [sample], cpuCount: 8, evictionHardBytes: 100 * MiB, ...extra }, guests };
}

function run(inp: PolicyInput, state?: DefaultPolicyState, params = {}): { d: PolicyDecisions; s: DefaultPolicyState; by: Record<string, number> } {
  const p = defaultPolicy(params);
  const { decisions, state: s } = p.evaluate(inp, state ?? p.initialState());
  return { d: decisions, s, by: Object.fromEntries(decisions.balloons.map((b) => [b.guestId, b.targetBytes])) };
}

// 64 GiB host: reserve = 100Mi + max(512Mi, 5 % = 3.2 GiB); band = 3 % = 1.92 GiB.
const RESERVE = 100 * MiB + 0.05 * 64 * GiB;
const BAND = 0.03 * 64 * GiB;

describe('default policy', () => {
  it('shares water-filling by weight, within caps', () => {
    expect(shareByWeight(100, [{ weight: 1, cap: 1000 }, { weight: 3, cap: 1000 }])).to.deep.equal([25, 75]);
    const capped = shareByWeight(100, [{ weight: 1, cap: 1000 }, { weight: 3, cap: 30 }]);
    expect(capped[1]).to.equal(30);
    expect(capped[0]).to.be.closeTo(70, 1e-9);
    expect(shareByWeight(100, [{ weight: 1, cap: 10 }])).to.deep.equal([10]);
  });

  it('reads MemAvailable, not MemFree + page cache: reclaims where MOM sees 31 % free and grows', () => {
    const inp = input(RESERVE - 1 * GiB, [guest({ id: 'a' })]);
    expect(run(inp).d.balloons[0]).to.deep.include({ guestId: 'a', reason: 'host-pressure' });
    expect(run(inp).by.a).to.be.below(8 * GiB);
    const mom = momPolicy({ balloonEnabled: true });
    expect(mom.evaluate(inp, mom.initialState()).decisions.balloons).to.deep.equal([]);
  });

  it('reclaims what the node needs (to the reserve plus a band), not a fixed 5 % of everyone', () => {
    const ids = ['a', 'b', 'c', 'd'];
    const { by } = run(input(RESERVE - 0.2 * GiB, ids.map((id) => guest({ id }))));
    const taken = ids.reduce((sum, id) => sum + 8 * GiB - by[id]!, 0);
    expect(taken).to.be.closeTo(0.2 * GiB + BAND, 4 * 1024);
  });

  it('lower priority gives first (a larger share)', () => {
    const big = { memory: 32 * GiB, cur: 32 * GiB, available: 24 * GiB };
    const { by } = run(input(RESERVE - 0.1 * GiB, [guest({ id: 'low', priority: 0, ...big }), guest({ id: 'high', priority: 100, ...big })]));
    // Equal spare memory; priority 0 weighs 4, priority 100 a quarter: 16 times the share.
    expect(32 * GiB - by.low!).to.be.closeTo(16 * (32 * GiB - by.high!), 16 * 1024);
  });

  it('takes large steps under critical pressure, bounded steps otherwise', () => {
    const guests = [guest({ id: 'a', available: 7 * GiB })];
    const normal = run(input(RESERVE - 1 * GiB, guests)).by.a!;
    expect(8 * GiB - normal).to.be.closeTo(0.8 * GiB, 1 * MiB); // 10 % of the guest per 10 s
    const critical = run(input(500 * MiB, guests)).by.a!;
    expect(8 * GiB - critical).to.be.above(3.5 * GiB); // the whole need at once
    expect(run(input(30 * GiB, guests, {}, { some: 40, full: 10 })).d.balloons[0]!.reason).to.equal('host-critical');
  });

  it('keeps the guest floor: used memory plus 10 % free, and the guaranteed memory', () => {
    const { by } = run(input(500 * MiB, [guest({ id: 'a', available: 2 * GiB }), guest({ id: 'g', guaranteed: 7.5 * GiB, available: 6 * GiB })]));
    // critical: floor = used (6 GiB) + 4 % of 8 GiB.
    expect(by.a).to.be.at.least(6 * GiB + 0.04 * 8 * GiB - 1024);
    expect(by.g).to.be.at.least(7.5 * GiB);
  });

  it('never reclaims from a guest that swaps or faults, and gives back to it first', () => {
    const guests = [guest({ id: 'swapping', cur: 4 * GiB, swapIn: [0, 4096 * 50] }), guest({ id: 'faulting', cur: 4 * GiB, faults: [0, 50000] }), guest({ id: 'idle' })];
    const { d, by } = run(input(RESERVE + 2 * BAND, guests));
    expect(by.swapping).to.equal(4 * GiB + 2 * GiB); // 25 % of 8 GiB
    expect(by.faulting).to.equal(4 * GiB + 2 * GiB);
    expect(d.balloons.find((b) => b.guestId === 'swapping')!.reason).to.equal('guest-pressure');
    // Giving 4 GiB pushed the node under its reserve: the idle guest pays for it.
    expect(by.idle).to.be.below(8 * GiB);
  });

  it('remembers distress for a cooldown: no reclaim right after a guest swapped', () => {
    const swapping = guest({ id: 'a', swapIn: [0, 4096] });
    const first = run(input(30 * GiB, [swapping]));
    const calmAgain = guest({ id: 'a' });
    const later = { ...input(RESERVE - 1 * GiB, [calmAgain]), nowMs: NOW + 30_000 };
    expect(run(later, first.s).by.a).to.equal(undefined);
    expect(run(later).by.a).to.be.below(8 * GiB);
  });

  it('hysteresis: holds inside the band, grows back only well above the reserve', () => {
    const small = [guest({ id: 'a', cur: 4 * GiB })];
    expect(run(input(RESERVE + BAND, small)).d.balloons).to.deep.equal([]);
    expect(run(input(RESERVE + 3 * BAND, small)).d.balloons[0]).to.deep.include({ guestId: 'a', reason: 'grow' });
    // After reclaiming it goes on until reserve + band.
    const { s } = run(input(RESERVE - 100 * MiB, [guest({ id: 'a' })]));
    expect(s.mode).to.equal('reclaim');
    const later = { ...input(RESERVE + 0.5 * BAND, [guest({ id: 'a' })]), nowMs: NOW + 10_000 };
    expect(run(later, s).d.balloons[0]!.reason).to.equal('host-pressure');
    expect(run(input(RESERVE + 0.5 * BAND, [guest({ id: 'a' })])).d.balloons).to.deep.equal([]);
  });

  it('follows the lifecycle: nothing inflated while starting, hold while migrating', () => {
    const { by } = run(input(500 * MiB, [guest({ id: 's', phase: 'starting' }), guest({ id: 'm', phase: 'migrating' }), guest({ id: 'r' })]));
    expect(by).to.have.keys(['r']);
  });

  describe('KSM', () => {
    const ksm = { run: 0, pages_shared: 0, pages_sharing: 0, pages_to_scan: 100, sleep_millisecs: 20, merge_across_nodes: 1 };
    it('runs only when it pays: pressure and sharing potential', () => {
      // pages_to_scan is already at the budget: 5000 pages/s x 20 ms = 100.
      expect(run(input(RESERVE - 1 * GiB, [], { ksm, ksmShareableBytes: 20 * GiB })).d.ksm).to.deep.equal({ run: 1 });
      expect(run(input(RESERVE - 1 * GiB, [], { ksm: { ...ksm, pages_to_scan: 64 }, ksmShareableBytes: 20 * GiB })).d.ksm).to.deep.equal({ run: 1, pages_to_scan: 100 });
      expect(run(input(RESERVE - 1 * GiB, [], { ksm, ksmShareableBytes: 1 * GiB })).d.ksm).to.deep.equal({});
      expect(run(input(40 * GiB, [], { ksm: { ...ksm, run: 1 }, ksmShareableBytes: 20 * GiB })).d.ksm).to.deep.equal({ run: 0 });
    });
    it('keeps within its CPU budget', () => {
      // critical would scan at the budget's maximum: 5000 pages/s x 20 ms = 100 pages; ksmd at 40 % of a 10 % budget scales down.
      const d = run(input(500 * MiB, [], { ksm: { ...ksm, run: 1, pages_to_scan: 100 }, ksmShareableBytes: 20 * GiB, ksmdCpuPercent: 40 })).d;
      expect(d.ksm).to.deep.equal({ pages_to_scan: 64 });
      expect(run(input(500 * MiB, [], { ksm: { ...ksm, run: 1, pages_to_scan: 64 }, ksmShareableBytes: 20 * GiB }), undefined, { ksmMaxPagesPerSecond: 20000 }).d.ksm).to.deep.equal({ pages_to_scan: 400 });
    });
    it('uses the kernel KSM advisor when present', () => {
      const d = run(input(RESERVE - 1 * GiB, [], { ksm: { ...ksm, advisor_max_cpu: 70 }, ksmAdvisorMode: 'none', ksmShareableBytes: 20 * GiB })).d;
      expect(d.ksm).to.deep.equal({ run: 1, advisor_max_cpu: 10 });
      expect(d.ksmAdvisorMode).to.equal('scan-time');
    });
  });
});
