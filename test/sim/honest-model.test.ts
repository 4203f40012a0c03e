/** The simulator's honest parts (issue 16, item 1): one test per model feature. */
import { expect } from 'chai';
import { MEASURED_BALLOON_TIMINGS } from '../../src/sim/balloon-dynamics.js';
import { nodeMemory, PsiModel, type NodeConfig } from '../../src/sim/node-model.js';
import { resolveSimPolicy } from '../../src/sim/policies.js';
import { Prng } from '../../src/sim/prng.js';
import { Reversals } from '../../src/sim/reversals.js';
import { guardTarget } from '../../src/sim/simulated-guard.js';
import { SimulatedGuest, type GuestConfig } from '../../src/sim/simulated-guest.js';
import { decisionDelayMs, simulate } from '../../src/sim/simulator.js';
import { StatsFeed } from '../../src/sim/stats-feed.js';
import { WORKLOAD_DEFAULTS } from '../../src/sim/workloads.js';
import type { GuestSample } from '../../src/policy/types.js';
import { fixedTargetPolicy, testScenario } from './helpers.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

function guest(over: Partial<GuestConfig> = {}, workload: Record<string, number> = {}): SimulatedGuest {
  const config: GuestConfig = {
    name: 'g', namespace: 'default', memoryBytes: 4 * GiB, guaranteedBytes: 512 * MiB, marginBytes: 64 * MiB, priority: 50,
    swapBytes: 512 * MiB, autodeflate: true, freePageReporting: true, startAtMs: 0,
    workload: { ...WORKLOAD_DEFAULTS.steady, model: 'steady', level: 0.3, cache: 0.3, noise: 0, shmem: 0.05, hot: 0.5, ...workload },
    ...over,
  };
  return new SimulatedGuest(config, 1, 3_600_000, MEASURED_BALLOON_TIMINGS);
}

function run(g: SimulatedGuest, untilMs: number, fromMs = 0): void {
  for (let t = fromMs; t <= untilMs; t += 100) g.step(t, 100);
}

const NODE: NodeConfig = { memoryBytes: 8 * GiB, systemBytes: 512 * MiB, vmOverheadBytes: 100 * MiB, hostCacheBytes: 1 * GiB, activeCacheFraction: 0.5, evictionHardBytes: 100 * MiB, evictionCheckMs: 10_000, reserveBytes: 1 * GiB, cpuCount: 4 };

describe('honest simulator', () => {
  it('shmem/tmpfs/slab: in the guest\'s Cached (disk caches) but not in its MemAvailable', () => {
    const g = guest();
    run(g, 120_000);
    const s = g.sample(120_000);
    expect(s.availableBytes).to.be.closeTo(g.freeBytes + g.cacheBytes, 1);
    expect(s.diskCachesBytes! - s.availableBytes! + g.freeBytes).to.be.closeTo(0.05 * 4 * GiB, 1);
    // What the guard sees as need (actual - available) includes it.
    expect(s.balloonActualBytes! - s.availableBytes!).to.be.closeTo(g.needBytes, 1);
  });

  it('hot page cache: taking it costs re-reads and major faults, leaving it costs none', () => {
    const kept = guest();
    run(kept, 120_000);
    expect(kept.counters.rereadBytes).to.equal(0);
    const squeezed = guest();
    squeezed.balloon.setTarget(0.3 * 4 * GiB + 0.05 * 4 * GiB + 64 * MiB); // need + 64 MiB: most of the hot cache gone
    run(squeezed, 120_000);
    expect(squeezed.counters.rereadBytes).to.be.above(100 * MiB);
    expect(squeezed.counters.majorFaults).to.be.above(squeezed.counters.rereadBytes / 4096 - 1);
    expect(squeezed.counters.swapInBytes).to.equal(0);
  });

  describe('stats feed', () => {
    const take = (at: number): GuestSample => ({ atMs: at, availableBytes: 1, freeBytes: 1, balloonActualBytes: 2 });
    const times = (feed: StatsFeed, untilMs: number) => {
      const out: Array<{ deliveredMs: number; s: GuestSample }> = [];
      for (let t = 0; t <= untilMs; t += 100) for (const s of feed.tick(t, take)) out.push({ deliveredMs: t, s });
      return out;
    };
    it('jitters: one report per period, each up to `jitter` of the period late', () => {
      const got = times(new StatsFeed(5000, { jitter: 0.2, delayMs: 0, none: false }, new Prng(1), 0), 60_000);
      expect(got.length).to.be.within(12, 13);
      for (const r of got) expect(r.s.atMs % 5000).to.be.at.most(1000 + 100);
      expect(new Set(got.map((r) => r.s.atMs % 5000)).size).to.be.above(3);
    });
    it('arrives late: delivered `delay` after it was taken, carrying the time it was taken', () => {
      const got = times(new StatsFeed(5000, { jitter: 0, delayMs: 7000, none: false }, new Prng(1), 0), 60_000);
      for (const r of got) expect(r.deliveredMs - r.s.atMs).to.equal(7000);
    });
    it('stops: after stopAfter the reports carry only the balloon size; never: none ever has stats', () => {
      const stopped = times(new StatsFeed(5000, { jitter: 0, delayMs: 0, none: false, stopAfterMs: 20_000 }, new Prng(1), 0), 60_000);
      for (const r of stopped) expect(r.s.availableBytes === undefined).to.equal(r.s.atMs >= 20_000);
      expect(stopped.every((r) => r.s.balloonActualBytes === 2)).to.equal(true);
      const never = times(new StatsFeed(5000, { jitter: 0, delayMs: 0, none: true }, new Prng(1), 0), 60_000);
      expect(never.length).to.be.above(10);
      expect(never.some((r) => r.s.availableBytes !== undefined)).to.equal(false);
    });
    it('the guard takes nothing without a fresh report, and still gives memory back', () => {
      const limits = { memoryBytes: 4 * GiB, guaranteedBytes: 512 * MiB, marginBytes: 64 * MiB };
      const fresh: GuestSample = { atMs: 100_000, availableBytes: 3 * GiB, balloonActualBytes: 4 * GiB };
      expect(guardTarget(limits, 2 * GiB, 4 * GiB, fresh, 5000, 101_000)).to.be.below(4 * GiB);
      expect(guardTarget(limits, 2 * GiB, 4 * GiB, fresh, 5000, 130_000)).to.equal(4 * GiB); // stale: over 3 periods + 1 s
      expect(guardTarget(limits, 2 * GiB, 4 * GiB, { atMs: 100_000, balloonActualBytes: 4 * GiB }, 5000, 101_000)).to.equal(4 * GiB);
      expect(guardTarget(limits, 3 * GiB, 2 * GiB, { atMs: 100_000, balloonActualBytes: 2 * GiB }, 5000, 101_000)).to.equal(3 * GiB);
    });
  });

  it('decision to balloon: 50 to 800 ms, median about a quarter second (the shim-scale measurement)', () => {
    const rng = new Prng(7);
    const d = Array.from({ length: 2001 }, () => decisionDelayMs(rng.next())).sort((a, b) => a - b);
    expect(d[0]!).to.be.at.least(50);
    expect(d[d.length - 1]!).to.be.at.most(800);
    expect(d[1000]!).to.be.within(180, 300);
  });

  it('the kubelet\'s memory.available counts active page cache as used; MemAvailable does not', () => {
    const m = nodeMemory(NODE, 5 * GiB);
    expect(m.cacheBytes).to.equal(1 * GiB);
    expect(m.availableBytes - m.kubeletAvailableBytes).to.equal(0.5 * GiB);
    expect(m.allocatableAvailableBytes).to.equal(8 * GiB - 512 * MiB - 5 * GiB);
  });

  it('the kubelet evicts on its own signal while MemAvailable is still over the threshold', () => {
    const s = testScenario({
      node: { memory: '8Gi', system: '512Mi', hostCache: '2Gi', activeCache: 1, evictionHard: '1Gi', reserve: '1Gi' },
      guests: [{ name: 'vm', count: 2, memory: '3Gi', guaranteed: '3Gi', workload: { model: 'steady', level: 0.9, noise: 0 } }],
    });
    const r = simulate(s, resolveSimPolicy('static'), { timeline: true });
    expect(r.failures.evictions).to.be.above(0);
    expect(r.node.minAvailableBytes).to.be.above(1 * GiB);
  });

  it('non-VM pods: a pod over its request is evicted before any VM, and its memory counts', () => {
    const pods = [{ name: 'etl', memory: '4Gi', request: '1Gi', priority: 90, startAtSeconds: 60, workload: { model: 'steady', level: 0.75, noise: 0 } }];
    const s = testScenario({ node: { memory: '8Gi', system: '512Mi', hostCache: '0', evictionHard: '800Mi' }, pods, guests: [{ name: 'vm', count: 2, memory: '2Gi', priority: 10, workload: { model: 'steady', level: 0.8, noise: 0 } }] });
    const r = simulate(s, resolveSimPolicy('static'));
    expect(r.incidents.find((i) => i.kind === 'eviction')?.guest).to.equal('pod/etl-0');
    const quiet = simulate({ ...s, pods: [] }, resolveSimPolicy('static'));
    expect(quiet.failures.evictions).to.equal(0);
    expect(quiet.node.minAvailableBytes - r.node.minAvailableBytes).to.be.above(2.5 * GiB);
  });

  it('PSI rises with reclaim activity, not only near the cliff', () => {
    const psi = new PsiModel(NODE);
    const m = nodeMemory(NODE, 5 * GiB);
    expect(psi.stallShare(m, 0)).to.equal(0);
    expect(psi.stallShare(m, 256 * MiB)).to.be.above(0.2);
    // The node's cache dropped by 400 MiB/s for 5 s: memory far from the threshold, PSI up.
    const big = { ...NODE, memoryBytes: 16 * GiB, hostCacheBytes: 8 * GiB };
    const reclaiming = new PsiModel(big);
    for (let i = 0; i <= 50; i++) reclaiming.step(100, nodeMemory(big, 8 * GiB + i * 40 * MiB));
    expect(reclaiming.read().someAvg10).to.be.above(5);
  });

  it('evicted and OOM-killed VMs free their memory over time, and the OOM killer waits for its victim', () => {
    const g = guest({}, { level: 0.5 });
    run(g, 60_000);
    const held = g.hostResidentBytes + 100 * MiB;
    g.end('evicted', 60_000, 100 * MiB);
    expect(g.releasingBytes(60_500)).to.equal(held);
    expect(g.releasingBytes(61_500)).to.be.within(1, held - 1);
    expect(g.releasingBytes(70_000)).to.equal(0);
    const s = testScenario({
      node: { memory: '4Gi', system: '512Mi', hostCache: '0', evictionHard: '0', reserve: '0' },
      guests: [{ name: 'big', count: 3, memory: '4Gi', workload: { model: 'leak', start: 0.2, perHour: 10, max: 0.9, noise: 0 } }],
    });
    const r = simulate(s, resolveSimPolicy('static'));
    const kills = r.incidents.filter((i) => i.kind === 'host-oom').map((i) => i.atSeconds);
    expect(kills.length).to.be.above(1);
    for (let i = 1; i < kills.length; i++) expect(kills[i]! - kills[i - 1]!).to.be.above(0.1);
  });

  it('counts direction changes of 64 MiB or more, ignoring smaller wobbles', () => {
    const r = new Reversals(64 * MiB);
    for (const v of [1000, 1010, 990, 1005, 1100, 1200, 1150, 1100, 1120, 1300].map((x) => x * MiB)) r.observe(v);
    expect(r.count).to.equal(2); // up to 1200, down to 1100, up to 1300
  });

  it('records flaps and reclaimed memory in the result', () => {
    const r = simulate(testScenario(), fixedTargetPolicy(1 * GiB));
    expect(r.flaps.vmHours).to.be.closeTo((2 * 300) / 3600, 0.01);
    expect(r.reclaimed.meanBytes).to.be.above(0.5 * GiB);
  });
});
