import { expect } from 'chai';
import { resolveSimPolicy } from '../../src/sim/policies.js';
import { simulate } from '../../src/sim/simulator.js';
import { fixedTargetPolicy, testScenario } from './helpers.js';

const GiB = 2 ** 30;

describe('simulator incidents', () => {
  it('counts no incident when everything fits', () => {
    const r = simulate(testScenario(), resolveSimPolicy('static'));
    expect(r.survived).to.equal(true);
    expect(r.failures).to.deep.equal({ guestOom: 0, hostOom: 0, evictions: 0 });
    expect(r.reaction.episodes).to.have.length(0);
  });

  it('detects a host OOM when the guests hold more than the node has, and kills the biggest', () => {
    const s = testScenario({
      node: { memory: '4Gi', system: '512Mi', hostCache: '0', evictionHard: '0', reserve: '0' },
      guests: [
        { name: 'small', count: 1, memory: '2Gi', workload: { model: 'steady', level: 0.5, noise: 0 } },
        { name: 'big', count: 1, memory: '4Gi', workload: { model: 'leak', start: 0.2, perHour: 10, max: 0.9, noise: 0 } },
      ],
    });
    const r = simulate(s, resolveSimPolicy('static'));
    expect(r.survived).to.equal(false);
    expect(r.failures.hostOom).to.equal(1);
    expect(r.incidents.find((i) => i.kind === 'host-oom')?.guest).to.equal('default/big-0');
  });

  it('detects a kubelet eviction under the hard threshold, lowest priority first', () => {
    const s = testScenario({
      node: { memory: '8Gi', system: '512Mi', hostCache: '0', evictionHard: '4Gi', evictionCheckSeconds: 10 },
      guests: [
        { name: 'low', count: 1, memory: '2Gi', priority: 10, workload: { model: 'steady', level: 0.9, noise: 0 } },
        { name: 'high', count: 1, memory: '2Gi', priority: 90, workload: { model: 'steady', level: 0.9, noise: 0 } },
      ],
    });
    const r = simulate(s, resolveSimPolicy('static'));
    expect(r.failures.evictions).to.equal(1);
    expect(r.failures.hostOom).to.equal(0);
    expect(r.incidents[0]).to.deep.include({ kind: 'eviction', guest: 'default/low-0' });
    // Found at the kubelet's first check once the guests' working sets are up (30 s warm-up).
    expect(r.incidents[0]!.atSeconds).to.be.at.most(40);
  });

  it('OOM-kills inside a guest ballooned under a need that jumps, without autodeflate or swap', () => {
    const s = testScenario({
      guestDefaults: { autodeflate: false, swap: '0' },
      guests: [{ name: 'vm', count: 1, memory: '4Gi', guaranteed: '256Mi', workload: { model: 'bursty', base: 0.1, burst: 0.6, burstSeconds: 10, meanGapSeconds: 60, noise: 0 } }],
    });
    const r = simulate(s, fixedTargetPolicy(0));
    expect(r.failures.guestOom).to.be.above(0);
    expect(r.incidents.some((i) => i.kind === 'guest-oom')).to.equal(true);
  });

  it('lets an autodeflate guest take memory back instead of OOM-killing, and counts the harm', () => {
    const s = testScenario({
      guestDefaults: { autodeflate: true, swap: '256Mi' },
      guests: [{ name: 'vm', count: 1, memory: '4Gi', guaranteed: '256Mi', workload: { model: 'bursty', base: 0.1, burst: 0.6, burstSeconds: 10, meanGapSeconds: 60, noise: 0 } }],
    });
    const r = simulate(s, fixedTargetPolicy(0));
    expect(r.failures.guestOom).to.equal(0);
    expect(r.harm.autodeflates).to.be.above(0);
    expect(r.harm.swapInBytes).to.be.above(0);
    expect(r.harm.underNeedSeconds).to.be.above(0);
  });

  it('never lets the guard take a guest under its guaranteed memory or its need plus margin', () => {
    const s = testScenario({ guests: [{ name: 'vm', count: 2, memory: '2Gi', guaranteed: '1Gi', workload: { model: 'idle', level: 0.1 } }] });
    const r = simulate(s, fixedTargetPolicy(0));
    for (const g of r.timeline!.guests) expect(Math.min(...g.actualBytes.filter((v) => v > 0))).to.be.at.least(1 * GiB);
    const s2 = testScenario({ guests: [{ name: 'vm', count: 1, memory: '2Gi', guaranteed: '0', margin: '64Mi', workload: { model: 'steady', level: 0.5, noise: 0, shmem: 0 } }] });
    const r2 = simulate(s2, fixedTargetPolicy(0));
    const g = r2.timeline!.guests[0]!;
    expect(g.actualBytes[g.actualBytes.length - 1]!).to.be.closeTo(1 * GiB + 64 * 2 ** 20, 4096 * 2);
    // Ballooned under need only while the need grows during boot, never once the guard caught up.
    const longer = simulate({ ...s2, durationMs: 2 * s2.durationMs }, fixedTargetPolicy(0));
    expect(longer.harm.underNeedSeconds).to.equal(r2.harm.underNeedSeconds);
    expect(r2.harm.underNeedSeconds).to.be.below(60);
  });

  it('measures the reaction: from pressure under the reserve until back above it', () => {
    // Guests boot at full memory over a node that cannot hold them all; autoballoon takes memory back.
    const s = testScenario({
      node: { memory: '8Gi', system: '512Mi', hostCache: '0', reserve: '1Gi' },
      guests: [{ name: 'vm', count: 4, memory: '2Gi', guaranteed: '256Mi', workload: { model: 'page-cache', anon: 0.1, cacheMax: 1, fillSeconds: 60 } }],
    });
    const stat = simulate(s, resolveSimPolicy('static'));
    const auto = simulate(s, resolveSimPolicy('autoballoon'));
    expect(stat.reaction.unresolved).to.equal(1);
    expect(auto.reaction.episodes.length).to.be.above(0);
    expect(auto.reaction.unresolved).to.equal(0);
    expect(auto.reaction.worstSeconds).to.be.above(0).and.below(stat.reaction.worstSeconds);
  });
});
