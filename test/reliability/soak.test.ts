/**
 * Invariants over long simulated runs: thousands of VMs coming and going, the real
 * policies, random faults in what they see (src/sim/soak.ts). Sized for the unit run (a few seconds: hundreds of
 * VMs, thousands of decisions and faults); `node dist/bench/soak.js` runs thousands of VMs for hours.
 */
import { expect } from 'chai';
import { resolveSimPolicy } from '../../src/sim/policies.js';
import { simulate } from '../../src/sim/simulator.js';
import { churnScenario, soakPolicy } from '../../src/sim/soak.js';

describe('reliability: invariants in long simulated runs with churn and faults', function () {
  this.timeout(120_000);

  for (const [policyName, vms, seconds] of [
    ['default', 600, 1200],
    ['mom', 400, 900],
  ] as const) {
    it(`${policyName}: ${vms} VMs, ${seconds / 60} simulated minutes — no target outside [guaranteed, guest memory], bounded state, no stuck cycle`, () => {
      const scenario = churnScenario(vms, seconds, 11);
      const { sim, report } = soakPolicy(resolveSimPolicy(policyName), 7, { clock: () => performance.now() });
      const heapBefore = process.memoryUsage().heapUsed;
      const started = performance.now();
      const result = simulate(scenario, sim, { timeline: true });
      const wallS = (performance.now() - started) / 1000;
      const heapGrowthMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
      console.log(
        `    ${policyName}: ${result.guests} VMs, ${report.evaluations} cycles, ${report.decisions} decisions, ${report.faultsInjected} faults; ` +
          `eval max ${report.maxEvaluationMs.toFixed(1)} ms, mean ${(report.totalEvaluationMs / report.evaluations).toFixed(2)} ms; ` +
          `state max ${report.maxStateChars} chars (${report.maxStateCharsPerGuest.toFixed(0)}/guest); wall ${wallS.toFixed(1)} s; heap +${heapGrowthMiB.toFixed(0)} MiB; incidents ${JSON.stringify(result.failures)}`,
      );
      expect(report.violations, `${report.violationCount} violations`).to.deep.equal([]);
      expect(report.decisions, 'the policy acted').to.be.greaterThan(1000);
      expect(report.faultsInjected).to.be.greaterThan(1000);
      // Ran to the end: no cycle got stuck (cycle times are printed above; bench/policy-cycle measures them).
      expect(result.simulatedSeconds).to.equal(seconds);
      // State proportional to the guests, not to the run's length or the churn.
      expect(report.maxStateCharsPerGuest).to.be.below(2000);
      // What the guests actually held: never over their memory, never under their guaranteed memory.
      for (const g of result.timeline!.guests) {
        const guaranteed = scenario.groups.find((x) => g.id.includes(`/${x.name}-`))!.guaranteedBytes;
        for (const a of g.actualBytes) {
          if (a === 0) continue; // not running at that moment
          expect(a).to.be.at.most(g.memoryBytes);
          expect(a, g.id).to.be.at.least(guaranteed);
        }
      }
    });
  }
});
