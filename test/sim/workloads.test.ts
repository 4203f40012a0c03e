import { expect } from 'chai';
import { createWorkload, GUEST_FLOOR_FRACTION, WORKLOAD_DEFAULTS, WORKLOAD_MODELS, type WorkloadSpec } from '../../src/sim/workloads.js';

const GiB = 2 ** 30;
const MEM = 4 * GiB;

function spec(model: WorkloadSpec['model'], over: Record<string, number> = {}): WorkloadSpec {
  return { model, ...WORKLOAD_DEFAULTS[model], noise: 0, ...over } as WorkloadSpec;
}

/** The programs' need (without the shmem/tmpfs/slab share), fraction of the guest memory. */
function needAt(s: WorkloadSpec, seconds: number, seed = 1): number {
  const d = createWorkload(s, MEM, seed, 'g', 7_200_000).at(seconds * 1000);
  return (d.needBytes - d.shmemBytes) / MEM;
}

describe('workload models', () => {
  it('adds unreclaimable shmem/tmpfs/slab to the need, and marks a hot share of the page cache', () => {
    const d = createWorkload(spec('steady', { level: 0.4, cache: 0.2, shmem: 0.05, hot: 0.5 }), MEM, 1, 'g', 3_600_000).at(60_000);
    expect(d.shmemBytes).to.equal(Math.round(0.05 * MEM));
    expect(d.needBytes).to.equal(Math.round(0.4 * MEM) + d.shmemBytes);
    expect(d.hotCacheBytes).to.equal(Math.round(0.5 * d.cacheBytes));
  });

  it('periodic: high for its duty of every period, ramping, the same for every guest on one phase', () => {
    const s = spec('periodic', { low: 0.1, high: 0.6, periodSeconds: 600, dutySeconds: 120, rampSeconds: 10, phase: 0 });
    expect(needAt(s, 60)).to.be.closeTo(0.6, 1e-6);
    expect(needAt(s, 5)).to.be.closeTo(0.35, 1e-6);
    expect(needAt(s, 300)).to.be.closeTo(0.1, 1e-6);
    expect(needAt(s, 660)).to.be.closeTo(0.6, 1e-6);
    expect(needAt(s, 60, 1)).to.equal(needAt(s, 60, 2));
  });

  it('idle stays at its low level', () => {
    for (const t of [0, 100, 1000, 3000]) expect(needAt(spec('idle'), t)).to.be.closeTo(0.1, 1e-6);
  });

  it('steady holds its level within its noise', () => {
    const s = spec('steady', { level: 0.5, noise: 0.05 });
    for (let t = 0; t < 3600; t += 37) expect(needAt(s, t)).to.be.within(0.5 * 0.95 - 1e-9, 0.5 * 1.05 + 1e-9);
  });

  it('diurnal starts low, peaks half a period later and comes back', () => {
    const s = spec('diurnal', { low: 0.2, high: 0.6, periodSeconds: 1000 });
    expect(needAt(s, 0)).to.be.closeTo(0.2, 1e-6);
    expect(needAt(s, 500)).to.be.closeTo(0.6, 1e-6);
    expect(needAt(s, 1000)).to.be.closeTo(0.2, 1e-6);
    expect(needAt(s, 250)).to.be.closeTo(0.4, 1e-6);
  });

  it('bursty sits at its base with seeded bursts that reach base + burst', () => {
    const s = spec('bursty', { base: 0.2, burst: 0.5, burstSeconds: 60, meanGapSeconds: 300 });
    const samples = Array.from({ length: 7200 }, (_, t) => needAt(s, t));
    expect(Math.min(...samples)).to.be.closeTo(0.2, 1e-6);
    expect(Math.max(...samples)).to.be.closeTo(0.7, 0.01);
    const inBurst = samples.filter((v) => v > 0.25).length / samples.length;
    expect(inBurst).to.be.within(0.05, 0.4);
    const other = Array.from({ length: 7200 }, (_, t) => needAt(s, t, 2));
    expect(other).to.not.deep.equal(samples);
  });

  it('leak grows linearly until its maximum', () => {
    const s = spec('leak', { start: 0.2, perHour: 0.4, max: 0.5 });
    expect(needAt(s, 0)).to.be.closeTo(0.2, 1e-6);
    expect(needAt(s, 1800)).to.be.closeTo(0.4, 1e-6);
    expect(needAt(s, 7200)).to.be.closeTo(0.5, 1e-6);
  });

  it('boot-storm climbs to its peak during boot and settles', () => {
    const s = spec('boot-storm', { peak: 0.8, bootSeconds: 60, settle: 0.3 });
    expect(needAt(s, 20)).to.be.closeTo(0.8, 1e-6);
    expect(needAt(s, 10)).to.be.below(0.8);
    expect(needAt(s, 40)).to.be.within(0.3, 0.8);
    expect(needAt(s, 300)).to.be.closeTo(0.3, 1e-6);
  });

  it('page-cache keeps little anonymous memory and fills its cache over time', () => {
    const s = spec('page-cache', { anon: 0.1, cacheMax: 1, fillSeconds: 600, shmem: 0 });
    const w = createWorkload(s, MEM, 1, 'g', 3_600_000);
    expect(w.at(0).cacheBytes).to.equal(0);
    expect(w.at(300_000).cacheBytes / MEM).to.be.closeTo(0.5, 1e-6);
    expect(w.at(900_000).cacheBytes).to.equal(MEM);
    expect(w.at(900_000).needBytes / MEM).to.be.closeTo(0.1, 1e-6);
  });

  it('script replays its points: held before the first and after the last, straight lines between, steps', () => {
    const s = { model: 'script', points: [[10, 0.1, 0], [20, 0.5, 0.4], [30, 0.5, 0.4], [30, 0.2, 0]], cache: 0, noise: 0, shmem: 0, hot: 0 } as WorkloadSpec;
    const w = createWorkload(s, MEM, 1, 'g', 3_600_000);
    // Rounded: the model rounds to whole bytes.
    const at = (sec: number): [number, number] => [Number((w.at(sec * 1000).needBytes / MEM).toFixed(6)), Number((w.at(sec * 1000).cacheBytes / MEM).toFixed(6))];
    expect(at(0)).to.deep.equal([0.1, 0]);
    expect(at(15)[0]).to.be.closeTo(0.3, 1e-6);
    expect(at(15)[1]).to.be.closeTo(0.2, 1e-6);
    expect(at(30)[0]).to.be.closeTo(0.5, 1e-6);
    expect(at(30.1)).to.deep.equal([0.2, 0]);
    expect(at(1000)).to.deep.equal([0.2, 0]);
  });

  it('never needs less than the guest floor nor more than the guest has', () => {
    for (const model of WORKLOAD_MODELS) {
      const s = spec(model, { noise: 0.5 });
      for (let t = 0; t < 3600; t += 11) {
        const v = needAt(s, t);
        expect(v, model).to.be.within(GUEST_FLOOR_FRACTION - 1e-9, 1 - GUEST_FLOOR_FRACTION + 1e-9);
      }
    }
  });
});
