/**
 * The demo's story in the simulator (deterministic, no wall clock): the node is calm
 * after the pressure. No host-critical round follows the policy's own give-back once
 * the noisy neighbour has left and the bursts are over (issue 16, item 5).
 */
import { expect } from 'chai';
import { simulateDemo } from '../../src/demo/sim-run.js';

describe('kubemom demo, simulated run', function () {
  this.timeout(60_000);
  for (const seconds of [60, 180]) {
    // Pending (issue 16 item 5 not done): after the neighbour leaves, the give-back to guests that
    // re-read their hot page cache drives MemAvailable down fast enough that its trend makes a
    // host-critical round (see the report of branch sim16b).
    it.skip(`shows a calm node after the pressure (${seconds} s, 8 VMs): no host-critical round caused by the grow-back`, () => {
      const { plan, result, offsetMs } = simulateDemo({ vms: 8, seconds, policy: 'default' });
      expect(result.survived).to.equal(true);
      const calmFrom = (offsetMs + Math.max(plan.timeline.neighbourEndMs, plan.timeline.burstEndMs)) / 1000;
      const after = result.decisions!.filter((d) => d.atSeconds >= calmFrom);
      // The pressure is over: any host-critical or host-pressure round now would be one the give-back caused.
      const pressureRounds = after.filter((d) => /^host-(critical|pressure)/.test(d.reason));
      expect(pressureRounds, JSON.stringify(pressureRounds.slice(0, 5))).to.deep.equal([]);
      // And the node stays above its reserve once the neighbour's memory is back (5 s).
      const tl = result.timeline!;
      const lowest = Math.min(...tl.tSeconds.map((t, i) => (t >= calmFrom + 5 ? tl.availableBytes[i]! : Infinity)));
      expect(lowest).to.be.at.least(plan.node.reserveBytes);
      // Memory does go back to the guests after the pressure.
      expect(after.some((d) => d.reason === 'grow' || d.reason === 'guest-headroom' || d.reason === 'guest-growth')).to.equal(true);
    });
  }
});
