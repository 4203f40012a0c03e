/** How the simulator drives a policy: its clock for guest phases, and the shim's wake-ups. */
import { expect } from 'chai';
import { lifecycleGate } from '../../src/balloon/phase-rules.js';
import type { Policy, PolicyInput } from '../../src/policy/types.js';
import { SHIM_CADENCE, type Cadence } from '../../src/sim/cadence.js';
import { SIM_EPOCH_MS, simulate } from '../../src/sim/simulator.js';
import { testScenario } from './helpers.js';

/** A policy that decides nothing and records what it was given. */
function recorder(cadence: Cadence): { seen: PolicyInput[]; sp: { name: string; policy: Policy<unknown>; cadence: Cadence } } {
  const seen: PolicyInput[] = [];
  const policy: Policy<null> = { name: 'recorder', initialState: () => null, evaluate: (input, state) => (seen.push(input), { decisions: { balloons: [], ksm: {} }, state }) };
  return { seen, sp: { name: 'recorder', policy: policy as Policy<unknown>, cadence } };
}

describe('simulator cadence', () => {
  it('gives guest phase starts in the policy clock, so the start grace ends 60 s after boot', () => {
    const { seen, sp } = recorder(SHIM_CADENCE);
    simulate(testScenario({ durationSeconds: 120, guests: [{ name: 'vm', count: 1, memory: '2Gi', startAtSeconds: 10, workload: { model: 'steady', level: 0.3 } }] }), sp);
    const gate = (atS: number) => {
      const input = seen.find((x) => x.nowMs - SIM_EPOCH_MS >= atS * 1000 && x.guests.length > 0)!;
      expect(input.guests[0]!.phaseSinceMs).to.equal(SIM_EPOCH_MS + 10_000);
      return lifecycleGate(input.guests[0]!, input.nowMs, { startGraceMs: 60_000, holdDuringMigration: true });
    };
    expect(gate(30)).to.equal('no-inflate');
    expect(gate(75)).to.equal('free');
  });

  it('wakes the loop on the shim PSI trigger (150 ms of stall within 1 s), at most once a window', () => {
    // No periodic runs and no reserve wake-up: only the PSI trigger can run the policy.
    const cadence: Cadence = { ...SHIM_CADENCE, intervalMs: 10_000_000, minWakeGapMs: 10_000_000 };
    const squeezed = testScenario({
      durationSeconds: 20,
      // The guest takes 3.2 GiB at once: the node keeps only a fifth of its 1 GiB cache,
      // about 23 % stall (over the 15 % trigger), with MemAvailable still over the reserve.
      node: { memory: '4Gi', system: '512Mi', hostCache: '1Gi', vmOverhead: '0', reserve: '100Mi' },
      guests: [{ name: 'vm', count: 1, memory: '4Gi', workload: { model: 'boot-storm', peak: 0.8, settle: 0.8, bootSeconds: 3, cache: 0, noise: 0 } }],
    });
    const { seen, sp } = recorder(cadence);
    simulate(squeezed, sp);
    const times = seen.map((x) => x.nowMs - SIM_EPOCH_MS).filter((t) => t > 0);
    expect(times.length).to.be.greaterThan(5);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).to.be.at.least(1000);
    const calm = testScenario({ durationSeconds: 20 });
    const quiet = recorder(cadence);
    simulate(calm, quiet.sp);
    expect(quiet.seen.filter((x) => x.nowMs > SIM_EPOCH_MS)).to.have.length(0);
  });
});
