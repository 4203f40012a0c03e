/** KubeMom's default policy: host signal, reserve, sharing, distress, steps, hysteresis, KSM. */
import { expect } from 'chai';
import { defaultPolicy, shareByWeight, type DefaultPolicyState } from '../../src/balloon/default-policy.js';
import { headroomBytes, type GuestNeed } from '../../src/balloon/guest-needs.js';
import { momPolicy } from '../../src/policy/mom/policy.js';
import type { GuestState, HostState, PolicyDecisions, PolicyInput } from '../../src/policy/types.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const NOW = 10_000_000;

interface GuestOpts { id: string; memory?: number; cur?: number; available?: number; free?: number; priority?: number; swapIn?: [number, number]; faults?: [number, number]; guaranteed?: number; phase?: GuestState['phase'] }

/** A guest with two reports 10 s apart; a quarter of its available memory is free, the rest page cache (unless `free`). */
function guest(o: GuestOpts): GuestState {
  const cur = o.cur ?? 8 * GiB;
  const avail = o.available ?? 4 * GiB;
  const free = o.free ?? avail / 4;
  const sample = (k: 0 | 1) => ({ atMs: NOW - (1 - k) * 10_000, freeBytes: free, availableBytes: avail, totalBytes: cur, swapInBytes: o.swapIn?.[k] ?? 0, majorFaults: o.faults?.[k] ?? 0, balloonActualBytes: cur });
  return {
    id: o.id, namespace: 'ns', name: o.id, uid: o.id, guestMemoryBytes: o.memory ?? 8 * GiB, guaranteedMemoryBytes: o.guaranteed ?? 1 * GiB,
    marginBytes: 0, priority: o.priority ?? 50, policy: 'default', phase: o.phase ?? 'running', phaseSinceMs: 0, balloonActualBytes: cur,
    history: [sample(0), sample(1)],
  };
}

/** A guest with reports every 5 s ending now, each [used, free] in bytes at balloon `cur` (the rest is page cache). */
function reporting(id: string, reports: Array<[number, number]>, extra: Partial<GuestState> = {}): GuestState {
  const cur = extra.balloonActualBytes ?? 8 * GiB;
  const history = reports.map(([used, free], i) => ({ atMs: NOW - (reports.length - 1 - i) * 5_000, freeBytes: free, availableBytes: cur - used, totalBytes: cur, swapInBytes: 0, majorFaults: 0, balloonActualBytes: cur }));
  return { id, namespace: 'ns', name: id, uid: id, guestMemoryBytes: 8 * GiB, guaranteedMemoryBytes: 1 * GiB, marginBytes: 0, priority: 50, policy: 'default', phase: 'running', phaseSinceMs: 0, balloonActualBytes: cur, history, ...extra };
}

/** A 64 GiB host with the given MemAvailable (and MemFree + cache of 20 GiB, which MOM reads). */
function input(available: number, guests: GuestState[], extra: Partial<HostState> = {}, psi?: { some: number; full: number }): PolicyInput {
  const h = { atMs: NOW, memTotalBytes: 64 * GiB, memFreeBytes: 4 * GiB, memAvailableBytes: available, buffersBytes: 0, cachedBytes: 16 * GiB, anonPagesBytes: 0, swapTotalBytes: 0, swapFreeBytes: 0 };
  const sample = psi ? { ...h, psi: { someAvg10: psi.some, someAvg60: psi.some, fullAvg10: psi.full, fullAvg60: psi.full, someTotalUs: 0, fullTotalUs: 0 } } : h;
  return { nowMs: NOW, host: { history: [sample], cpuCount: 8, evictionHardBytes: 100 * MiB, ...extra }, guests };
}

/** The mechanics below are tested with the reserve and band uncapped, without the trim and without the unseen-jump prior (each tested on its own). */
function run(inp: PolicyInput, state?: DefaultPolicyState, params = {}): { d: PolicyDecisions; s: DefaultPolicyState; by: Record<string, number> } {
  const p = defaultPolicy({ reserveMaxBytes: 1e15, bandMaxBytes: 1e15, trimEnabled: false, unseenJumpPercent: 0, ...params });
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
    expect(run(inp).d.balloons[0]).to.deep.include({ guestId: 'a', reason: 'host-critical' });
    expect(run(inp).by.a).to.be.below(8 * GiB);
    const mom = momPolicy({ balloonEnabled: true });
    expect(mom.evaluate(inp, mom.initialState()).decisions.balloons).to.deep.equal([]);
  });

  it('starts reclaiming a band above the reserve, before the node reaches it', () => {
    expect(run(input(RESERVE + 0.5 * BAND, [guest({ id: 'a' })])).d.balloons[0]).to.deep.include({ guestId: 'a', reason: 'host-pressure' });
    expect(run(input(RESERVE + 0.5 * BAND, [guest({ id: 'a' })])).s.mode).to.equal('reclaim');
    expect(run(input(RESERVE - 1, [guest({ id: 'a' })])).s.mode).to.equal('critical');
  });

  it('sizes reclaim to the deficit: the page cache taken is what the node lacks to reach two bands over the reserve', () => {
    const ids = ['a', 'b', 'c', 'd'];
    // Reclaim mode; each guest: 8 GiB balloon, 4 GiB used, 1 GiB free, 3 GiB page cache.
    const { by } = run(input(RESERVE + 0.5 * BAND, ids.map((id) => guest({ id }))));
    const taken = ids.map((id) => 8 * GiB - by[id]!);
    // The balloon takes free pages first (they give the node nothing): relief = taken - free.
    const relief = taken.reduce((sum, t) => sum + Math.max(0, t - 1 * GiB), 0);
    expect(relief).to.be.closeTo(1.5 * BAND, 4 * 4096);
    // A deeper deficit takes more: sized to it, not a fixed step.
    const deeper = run(input(RESERVE + 0.1 * BAND, ids.map((id) => guest({ id })))).by;
    const deeperRelief = ids.reduce((sum, id) => sum + Math.max(0, 8 * GiB - deeper[id]! - 1 * GiB), 0);
    expect(deeperRelief).to.be.closeTo(1.9 * BAND, 4 * 4096);
  });

  it('counts moves under way: no second reclaim for a deficit a target already sent covers', () => {
    const moving = { ...guest({ id: 'a', available: 6 * GiB, free: 1 * GiB }), targetBytes: 8 * GiB - 1 * GiB - 1.6 * BAND };
    // The pending move takes 1 GiB of free memory and 1.6 bands of page cache: more than the 1.5 bands lacking.
    expect(run(input(RESERVE + 0.5 * BAND, [moving])).d.balloons).to.deep.equal([]);
    const notMoving = guest({ id: 'a', available: 6 * GiB, free: 1 * GiB });
    expect(run(input(RESERVE + 0.5 * BAND, [notMoving])).by.a).to.be.below(8 * GiB);
  });

  it('follows MemAvailable\'s trend: a fast fall is critical before the reserve is crossed', () => {
    const h = input(RESERVE + 2.5 * BAND, [guest({ id: 'a' })]);
    const last = h.host.history[0]!;
    // 2.5 bands lost in the last 2 s: at that rate the node is under its reserve within the loop period.
    const falling = { ...h, host: { ...h.host, history: [{ ...last, atMs: NOW - 2_000, memAvailableBytes: RESERVE + 5 * BAND }, last] } };
    const r = run(falling);
    expect(r.s.mode).to.equal('critical');
    expect(r.d.balloons[0]).to.deep.include({ guestId: 'a', reason: 'host-critical' });
    expect(run(h).d.balloons).to.deep.equal([]);
  });

  it('does not extrapolate a fall its own calm grants explain: memory it just gave is not taken back at the next round', () => {
    const h = input(RESERVE + 2.5 * BAND, []);
    const last = h.host.history[0]!;
    const fell = [{ ...last, atMs: NOW - 2_000, memAvailableBytes: RESERVE + 5 * BAND }, last];
    // The guest's balloon rose by the 2.5 bands the node lost, toward the target the shim set, and the
    // guest did not take them into use (its available memory rose as much): a grant.
    const granted = guest({ id: 'a', cur: 8 * GiB - 2.5 * BAND });
    const after = { ...granted.history[1]!, atMs: NOW, balloonActualBytes: 8 * GiB, totalBytes: 8 * GiB, availableBytes: 4 * GiB + 2.5 * BAND };
    const grown: GuestState = { ...granted, targetBytes: 8 * GiB, balloonActualBytes: 8 * GiB, history: [granted.history[0]!, after] };
    // The policy gave it as a calm grant 3 s ago.
    const gave: DefaultPolicyState = { distressUntil: {}, guests: { a: { peakBytes: 4 * GiB, jumpBytes: 0, atMs: NOW - 3_000, grownAtMs: NOW - 3_000 } } };
    const calm = run({ ...h, host: { ...h.host, history: fell }, guests: [grown] }, gave);
    expect(calm.s.mode).to.not.equal('critical');
    expect(calm.s.mode).to.not.equal('reclaim');
    expect(calm.d.balloons.filter((b) => b.reason.startsWith('host-'))).to.deep.equal([]);
    // The same fall with no balloon moving is the node's own trend: critical.
    expect(run({ ...h, host: { ...h.host, history: fell }, guests: [guest({ id: 'a' })] }, gave).s.mode).to.equal('critical');
    // So is the same deflation toward a target the policy set for a guest's need (not a calm grant).
    expect(run({ ...h, host: { ...h.host, history: fell }, guests: [grown] }).s.mode).to.equal('critical');
    // A balloon that deflated past its target (deflate-on-OOM) explains only the part up to the target.
    const pastTarget: GuestState = { ...grown, targetBytes: 8 * GiB - 2.5 * BAND + 0.1 * BAND };
    expect(run({ ...h, host: { ...h.host, history: fell }, guests: [pastTarget] }, gave).s.mode).to.equal('critical');
    // A grant the guest filled with its own use is the guest's growth: a trend the policy follows.
    const filled: GuestState = { ...grown, history: [granted.history[0]!, { ...after, availableBytes: 4 * GiB }] };
    expect(run({ ...h, host: { ...h.host, history: fell }, guests: [filled] }, gave).s.mode).to.equal('critical');
  });

  it('trims idle memory in calm only under MOM\'s 20 % pressure line, down to a step above what the guest keeps', () => {
    // Calm (over reserve + 3 bands) and under 20 % of MemTotal: a guest using 4 of its 8 GiB gives a step at a time.
    const calmLow = input(0.18 * 64 * GiB, [guest({ id: 'a' })]);
    expect(run(calmLow).s.mode).to.equal('calm');
    const trimmed = run(calmLow, undefined, { trimEnabled: true }).d.balloons;
    expect(trimmed).to.have.length(1);
    expect(trimmed[0]).to.deep.include({ guestId: 'a', reason: 'trim' });
    // At most reclaimStepPercent (25 %) of its memory at once, never under its use plus what it keeps free.
    expect(trimmed[0]!.targetBytes).to.be.at.least(6 * GiB).and.below(8 * GiB);
    // Over the line the guest keeps its idle memory as page cache; the parameter at 0 turns it off.
    expect(run(input(0.22 * 64 * GiB, [guest({ id: 'a' })]), undefined, { trimEnabled: true }).d.balloons).to.deep.equal([]);
    expect(run(calmLow, undefined, { trimEnabled: true, trimCalmBelowPercent: 0 }).d.balloons).to.deep.equal([]);
    // Never from a guest whose use is rising.
    const rising = reporting('a', [[3 * GiB, 1 * GiB], [3.2 * GiB, 1 * GiB], [3.4 * GiB, 1 * GiB], [3.6 * GiB, 1 * GiB], [4 * GiB, 1 * GiB]]);
    expect(run(input(0.18 * 64 * GiB, [rising]), undefined, { trimEnabled: true }).d.balloons.filter((b) => b.reason === 'trim')).to.deep.equal([]);
  });

  it('lower priority gives first (a larger share)', () => {
    const big = { memory: 32 * GiB, cur: 32 * GiB, available: 24 * GiB, free: 0 };
    const { by } = run(input(RESERVE - 0.1 * GiB, [guest({ id: 'low', priority: 0, ...big }), guest({ id: 'high', priority: 100, ...big })]));
    // Equal spare memory; priority 0 weighs 4, priority 100 a quarter: 16 times the share.
    expect(32 * GiB - by.low!).to.be.closeTo(16 * (32 * GiB - by.high!), 16 * 1024);
  });

  it('takes large steps under critical pressure, bounded steps otherwise', () => {
    const guests = [guest({ id: 'a', available: 7 * GiB })];
    const normal = run(input(RESERVE + 0.5 * BAND, guests)).by.a!;
    expect(8 * GiB - normal).to.be.closeTo(2 * GiB, 1 * MiB); // 25 % of the guest per cycle
    const critical = run(input(500 * MiB, guests)).by.a!;
    expect(8 * GiB - critical).to.be.above(3.5 * GiB); // the whole need at once
    expect(run(input(30 * GiB, guests, {}, { some: 40, full: 10 })).d.balloons[0]!.reason).to.equal('host-critical');
  });

  it('keeps the guest floor: used memory plus 4 % free under critical pressure, and the guaranteed memory', () => {
    const { by } = run(input(RESERVE - 500 * MiB, [guest({ id: 'a', available: 2 * GiB }), guest({ id: 'g', guaranteed: 7.5 * GiB, available: 6 * GiB })]));
    // critical: floor = used (6 GiB) + 4 % of 8 GiB.
    expect(by.a).to.be.at.least(6 * GiB + 0.04 * 8 * GiB - 1024);
    expect(by.g).to.be.at.least(7.5 * GiB);
  });

  it('when losses are unavoidable (under the floor line now), takes from the lowest priority first, down to use + margin', () => {
    // Each uses 7 GiB of 8: what they hold above use + 4 % does not lift the node over its floor line.
    const low = guest({ id: 'low', available: 1 * GiB, priority: 10 });
    const high = guest({ id: 'high', available: 1 * GiB, priority: 90 });
    const { d, by } = run(input(500 * MiB, [low, high]));
    expect(by.low).to.equal(7 * GiB); // used (7 GiB) + margin (0)
    expect(d.balloons.find((b) => b.guestId === 'low')!.reason).to.equal('host-critical-lowest-priority');
    expect(by.high).to.be.above(by.low!); // the higher priority gives only what is still short
  });

  it('when losses are unavoidable, a guest without swap or autodeflate keeps its growth (taken mid-burst it is OOM-killed)', () => {
    // Use climbs 1 GiB per 10 s (5 GiB to 6 GiB) in an 8 GiB balloon; the node is under its floor line.
    const climbing = (extra: Partial<GuestState>) => reporting('c', [[5 * GiB, 0], [5.5 * GiB, 0], [6 * GiB, 0]], { priority: 10, ...extra });
    const last = (extra: Partial<GuestState>) => run(input(500 * MiB, [climbing(extra)])).by.c!;
    // 6 GiB used + the growth horizon's 10 s of growth (1 GiB).
    expect(last({ swapBytes: 0, autodeflate: false })).to.equal(7 * GiB);
    // With swap or autodeflate the growth is a swap-in or a self-deflation: it gives what the node lacks
    // (about 1.2 GiB to its floor line), into its growth.
    const swapping = last({ swapBytes: 1 * GiB, autodeflate: false });
    expect(swapping).to.be.below(7 * GiB - 128 * MiB);
    expect(last({ swapBytes: 0, autodeflate: true })).to.equal(swapping);
  });

  it('never reclaims from a guest that swaps or faults, and gives back to it first', () => {
    const guests = [guest({ id: 'swapping', cur: 4 * GiB, swapIn: [0, 4096 * 50] }), guest({ id: 'faulting', cur: 4 * GiB, faults: [0, 50000] }), guest({ id: 'idle' })];
    const { d, by } = run(input(RESERVE + 2 * BAND, guests));
    // The shortfall the report measures: the 50 pages swapped in; 50,000 pages faulted in.
    expect(by.swapping).to.equal(4 * GiB + 4096 * 50);
    expect(by.faulting).to.equal(4 * GiB + 4096 * 50000);
    expect(d.balloons.find((b) => b.guestId === 'swapping')!.reason).to.equal('guest-pressure');
    // Once per report: the same report asks for the same target, which is not sent again.
    const given = guests.map((g) => ({ ...g, targetBytes: by[g.id] ?? g.targetBytes }));
    const again = run({ ...input(RESERVE + 2 * BAND, given), nowMs: NOW + 500 });
    expect(again.by.swapping).to.equal(undefined);
    expect(again.by.faulting).to.equal(undefined);
    // Nothing is taken from them.
    expect(run(input(RESERVE - 1 * GiB, guests)).by.swapping ?? 4 * GiB).to.be.at.least(4 * GiB);
  });

  it('sizes headroom from the largest jump, the same for any report up to a period old, more only for a late one', () => {
    const g = { ...reporting('h', [[1 * GiB, 0]]), swapBytes: 1 * GiB, autodeflate: false };
    const need = (ageMs: number): GuestNeed => ({ jumpBytes: 300 * MiB, periodMs: 5_000, ageMs, shortAtBytes: 0, cacheShortfallBytes: 0, rising: false, distressed: false, shortfallBytes: 0, blind: false, next: { peakBytes: 0, jumpBytes: 0, atMs: 0 } });
    const factors = { noSwap: 1.5, autodeflate: 1.25 };
    // Evaluations fall anywhere between two reports: the headroom must not follow their phase.
    for (const age of [0, 2_500, 5_000]) expect(headroomBytes(g, need(age), factors)).to.equal(300 * MiB);
    // Two periods late: the jump may have happened twice unseen.
    expect(headroomBytes(g, need(15_000), factors)).to.equal(900 * MiB);
    // At most five times.
    expect(headroomBytes(g, need(600_000), factors)).to.equal(1500 * MiB);
  });

  it('keeps a quarter of its memory (times the no-swap factor) as headroom for a swap-less guest without autodeflate it has not watched yet', () => {
    // Critical (under the reserve, above the floor line): a guest gives down to use + growth + headroom.
    const quiet: Array<[number, number]> = [[1 * GiB, 0], [1 * GiB, 0], [1 * GiB, 0], [1 * GiB, 0]];
    const taken = (extra: Partial<GuestState>) => {
      const r = run(input(RESERVE - 0.5 * GiB, [reporting('g', quiet, extra)]), undefined, { unseenJumpPercent: 0.25 });
      return { target: r.by.g!, jump: r.s.guests!.g!.jumpBytes };
    };
    // A burst beyond its headroom is an OOM kill: it keeps 1 GiB used + 25 % x 8 GiB x 1.5.
    const bare = taken({ swapBytes: 0, autodeflate: false });
    expect(bare.jump).to.equal(2 * GiB);
    expect(bare.target).to.be.closeTo(1 * GiB + 3 * GiB, 1 * MiB);
    // With swap or autodeflate a surprise costs a swap-in or undoes the balloon: no prior, it gives the node's whole
    // deficit (back to two bands over the reserve).
    for (const cushioned of [taken({ swapBytes: 1 * GiB, autodeflate: false }), taken({ swapBytes: 0, autodeflate: true })]) {
      expect(cushioned.jump).to.equal(0);
      expect(cushioned.target).to.be.closeTo(8 * GiB - (0.5 * GiB + 2 * BAND), 1 * MiB);
    }
  });

  it('gives ahead to a guest whose used memory climbs toward its balloon, and keeps its growth when reclaiming', () => {
    // Used climbs 100 MiB/s; 200 MiB left: it would swap within seconds.
    const climbing = reporting('c', [[2 * GiB, 1200 * MiB], [2 * GiB + 500 * MiB, 700 * MiB], [3 * GiB, 200 * MiB]], { balloonActualBytes: 3 * GiB + 200 * MiB });
    const r = run(input(RESERVE + 2.5 * BAND, [climbing]));
    expect(r.d.balloons[0]).to.deep.include({ guestId: 'c', reason: 'guest-growth' });
    expect(r.by.c).to.be.above(3 * GiB + 200 * MiB);
    // Under pressure a climbing guest keeps what it will use within the horizon (10 s): 1000 MiB more.
    const roomy = reporting('r', [[2 * GiB, 4 * GiB], [2 * GiB + 500 * MiB, 3.5 * GiB], [3 * GiB, 3 * GiB]]);
    const taken = run(input(RESERVE - 1 * GiB, [roomy])).by.r!;
    expect(taken).to.be.at.least(3 * GiB + 1000 * MiB);
  });

  it('extrapolates a guest\'s growth only until its next reports re-measure it (two periods, at most 10 s)', () => {
    // Use climbs 100 MiB per report toward a 2.3 GiB balloon: it gets its growth before it swaps.
    const climbing = (periodMs: number) => {
      const history = [[2 * GiB], [2 * GiB + 100 * MiB], [2 * GiB + 200 * MiB]].map(([used], i) => ({ atMs: NOW - (2 - i) * periodMs, freeBytes: 0, availableBytes: 2.3 * GiB - used!, totalBytes: 2.3 * GiB, swapInBytes: 0, majorFaults: 0, balloonActualBytes: 2.3 * GiB }));
      return { ...reporting('c', [[0, 0]]), balloonActualBytes: 2.3 * GiB, history };
    };
    // Reports every 5 s: 20 MiB/s over 10 s = 200 MiB of growth; every second: 100 MiB/s over 2 s = the same.
    const slow = run(input(RESERVE + 2.5 * BAND, [climbing(5_000)])).by.c!;
    const fast = run(input(RESERVE + 2.5 * BAND, [climbing(1_000)])).by.c!;
    expect(fast).to.be.closeTo(slow, 1 * MiB);
    // Without the bound the fast reporter would get 10 s of a burst's rate: 1000 MiB.
    const unbounded = run(input(RESERVE + 2.5 * BAND, [climbing(1_000)]), undefined, { growthHorizonReports: 1e9 }).by.c!;
    expect(unbounded - fast).to.be.closeTo(800 * MiB, 2 * MiB);
  });

  it('takes free memory only from a guest filling it with page cache (or under critical pressure)', () => {
    // Reclaim mode: the filler's free memory falls while its used memory stays; the sitter
    // holds free memory only (no page cache to give) and nothing fills it.
    const filler = reporting('f', [[1 * GiB, 5 * GiB], [1 * GiB, 4.5 * GiB], [1 * GiB, 4 * GiB]]);
    const sitter = reporting('s', [[1 * GiB, 7 * GiB], [1 * GiB, 7 * GiB], [1 * GiB, 7 * GiB]]);
    const { by } = run(input(RESERVE + 0.9 * BAND, [filler, sitter]), undefined, { reclaimStepPercent: 1 });
    // The filler: its free memory (down to used + 10 %) and page cache for the deficit.
    expect(8 * GiB - by.f!).to.be.closeTo(4 * GiB + 1.1 * BAND, 4 * 4096);
    expect(by.s).to.equal(undefined);
    // Under critical pressure the sitter gives its free memory too.
    expect(run(input(RESERVE - 1 * GiB, [filler, sitter])).by.s).to.be.below(8 * GiB);
  });

  it('gives a guest its headroom back only from above two bands over the reserve, where no reclaim starts', () => {
    // Used 3.8 GiB of a 4 GiB balloon: it keeps used + 10 % free = 4.2 GiB.
    const short = [guest({ id: 'a', cur: 4 * GiB, available: 0.2 * GiB })];
    const thin = run(input(RESERVE + 2.05 * BAND, short));
    expect(thin.d.balloons[0]).to.deep.include({ guestId: 'a', reason: 'guest-headroom' });
    expect(thin.by.a).to.be.closeTo(4 * GiB + 0.05 * BAND, 1 * MiB);
    // With room the whole headroom at once.
    expect(run(input(RESERVE + 2.5 * BAND, short)).by.a).to.be.closeTo(4.2 * GiB, 1 * MiB);
  });

  it('hands page cache back to a guest re-reading it only once the node has not been critical for a minute', () => {
    const guests = [guest({ id: 'swapping', cur: 4 * GiB, swapIn: [0, 4096 * 50] }), guest({ id: 'faulting', cur: 4 * GiB, faults: [0, 50000] })];
    const justCritical: DefaultPolicyState = { distressUntil: {}, criticalAtMs: NOW - 10_000 };
    const held = run(input(RESERVE + 2 * BAND, guests), justCritical).by;
    // Swapped-in memory is a loss: given at once; re-read cache is a cost: it waits.
    expect(held.swapping).to.equal(4 * GiB + 4096 * 50);
    expect(held.faulting).to.equal(undefined);
    const later = run(input(RESERVE + 2 * BAND, guests), { ...justCritical, criticalAtMs: NOW - 61_000 }).by;
    expect(later.faulting).to.equal(4 * GiB + 4096 * 50000);
  });

  it('hysteresis: holds inside the band, grows back only well above the reserve', () => {
    const small = [guest({ id: 'a', cur: 4 * GiB })];
    expect(run(input(RESERVE + 1.5 * BAND, small)).d.balloons).to.deep.equal([]);
    expect(run(input(RESERVE + 3 * BAND, small)).d.balloons).to.deep.equal([]);
    // Calm gives back only after the node has been calm a while (two minutes), one step per guest per minute.
    expect(run(input(RESERVE + 3.5 * BAND, small)).d.balloons).to.deep.equal([]);
    const calm: DefaultPolicyState = { distressUntil: {}, mode: 'calm', calmSinceMs: NOW - 130_000 };
    // A guest close to what it keeps (used 3.4 GiB + 10 % free) gets at most a step above it; one far above gets nothing.
    const near = [guest({ id: 'a', cur: 4 * GiB, available: 0.6 * GiB })];
    const grown = run(input(RESERVE + 3.5 * BAND, near), calm);
    expect(grown.d.balloons[0]).to.deep.include({ guestId: 'a', reason: 'grow' });
    expect(grown.by.a).to.be.above(4 * GiB).and.at.most(3.4 * GiB + 0.4 * GiB + 0.4 * GiB);
    expect(run(input(RESERVE + 3.5 * BAND, small), calm).d.balloons).to.deep.equal([]);
    expect(run({ ...input(RESERVE + 3.5 * BAND, near), nowMs: NOW + 30_000 }, grown.s).d.balloons).to.deep.equal([]);
    // After reclaiming it goes on until reserve + 2 bands.
    const { s } = run(input(RESERVE - 100 * MiB, [guest({ id: 'a' })]));
    expect(s.mode).to.equal('critical');
    const later = { ...input(RESERVE + 1.5 * BAND, [guest({ id: 'a' })]), nowMs: NOW + 10_000 };
    expect(run(later, s).d.balloons[0]!.reason).to.equal('host-pressure');
    expect(run(input(RESERVE + 1.5 * BAND, [guest({ id: 'a' })])).d.balloons).to.deep.equal([]);
  });

  describe('start grace', () => {
    const settled: Array<[number, number]> = [[2 * GiB, 2 * GiB], [2 * GiB, 2 * GiB], [2 * GiB, 2 * GiB]];
    const starting = (reports = settled) => reporting('new', reports, { phaseSinceMs: NOW - 20_000 });
    it('takes nothing from a guest in its start grace while the node is not critical', () => {
      expect(run(input(RESERVE + 0.5 * BAND, [starting()])).d.balloons).to.deep.equal([]);
    });
    it('under critical pressure takes its unused memory, keeping used + 5 % of its memory and its guaranteed memory', () => {
      const { d, by } = run(input(RESERVE - 1 * GiB, [starting()]));
      expect(d.balloons[0]).to.deep.include({ guestId: 'new', reason: 'host-critical' });
      expect(by.new).to.be.below(8 * GiB);
      expect(by.new).to.be.at.least(2 * GiB + 0.05 * 8 * GiB - 1024);
    });
    it('not before it has a trend (three reports), and keeps 10 s of its growth', () => {
      expect(run(input(RESERVE - 1 * GiB, [starting(settled.slice(1))])).d.balloons).to.deep.equal([]);
      // Climbing 100 MiB/s (1 GiB per 10 s): keeps used + 1 GiB of growth + its headroom, the larger of
      // 5 % and its largest jump between reports (0.5 GiB) x 1.5 (no swap known).
      const climbing = starting([[1 * GiB, 5 * GiB], [1.5 * GiB, 4.5 * GiB], [2 * GiB, 4 * GiB]]);
      const by = run(input(RESERVE - 1 * GiB, [climbing])).by;
      expect(by.new).to.be.closeTo(2 * GiB + 1 * GiB + 1.5 * 0.5 * GiB, 1024);
    });
  });

  it('follows the lifecycle: nothing inflated while starting, hold while migrating', () => {
    const { by } = run(input(500 * MiB, [guest({ id: 's', phase: 'starting' }), guest({ id: 'm', phase: 'migrating' }), guest({ id: 'r' })]));
    expect(by).to.have.keys(['r']);
  });

  it('never reclaims from a migrating VM, even under critical pressure and without the migration hold', () => {
    // Under the reserve, a guest with 4 GiB available would give a lot; a migrating one gives nothing.
    for (const holdDuringMigration of [true, false]) {
      const { by } = run(input(RESERVE - 2 * GiB, [guest({ id: 'm', phase: 'migrating' }), guest({ id: 'r' })]), undefined, { holdDuringMigration });
      expect(by['r'], `hold ${holdDuringMigration}`).to.be.below(8 * GiB);
      expect(by, `hold ${holdDuringMigration}`).to.not.have.property('m');
    }
    // Without the hold, a migrating VM below its guaranteed memory is still given memory back.
    const low = guest({ id: 'm', phase: 'migrating', cur: 512 * MiB, available: 256 * MiB, guaranteed: 1 * GiB });
    expect(run(input(RESERVE - 2 * GiB, [low]), undefined, { holdDuringMigration: false }).by['m']).to.equal(1 * GiB);
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
