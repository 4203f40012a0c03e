/**
 * Issue 14 item 5: a real node in a real memory cgroup. The real-node script
 * (testbed/real-node/script.ts) runs on real TCG guests whose QEMU and sidecar sit in
 * pod cgroups under a limited `kubepods`, with a noisy non-VM pod beside them: once without
 * KubeMom (`static`), once with the real shim running the `default` policy. The run computes
 * the kubelet's allocatableMemory.available from the cgroup files itself.
 *
 * Asserted: the script squeezes the node without KubeMom (static falls under the kubelet's hard
 * threshold or gets an OOM kill: the premise), and with the default policy nothing is
 * OOM-killed, no guest runs out of memory, every VM still runs, the balloons took memory back
 * and the node never falls under the hard threshold. Figures: bench/real-node.ts.
 */
import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { sharedTestbed } from '../../testbed/testbed.js';
import { memoryMount, ownMemoryCgroup } from '../../testbed/real-node/cgroup-tree.js';
import { formatRealNodeReport, guestOoms } from '../../testbed/real-node/report.js';
import { runRealNode, type RealNodeResult } from '../../testbed/real-node/run.js';
import { REAL_NODE_SCRIPT } from '../../testbed/real-node/script.js';
import { shimCgroupFlags } from '../../testbed/real-node/shim-flags.js';

/** The run's cgroups live under this process's own memory cgroup, named kubemom-node-*. */
function leftoverCgroups(): string[] {
  const mount = memoryMount();
  const own = path.join(mount.memoryRoot, ownMemoryCgroup(mount.version));
  return readdirSync(own).filter((e) => e.startsWith('kubemom-node-'));
}

describe('real node: guests in a real memory cgroup, static against the default policy (issue 14)', function () {
  // Two runs of the script (160 s each) plus four TCG boots per run, on a 2-core machine.
  this.timeout(1_200_000);
  const results: RealNodeResult[] = [];
  const leftBefore: string[] = [];

  before(async () => {
    leftBefore.push(...leftoverCgroups());
    const bed = await sharedTestbed();
    const cgroupFlags = shimCgroupFlags();
    for (const policy of ['static', 'default'] as const) {
      results.push(await runRealNode(bed, REAL_NODE_SCRIPT, { policy, ...(cgroupFlags ? { cgroupFlags } : {}) }));
    }
    console.log(formatRealNodeReport(results, REAL_NODE_SCRIPT.noisy.releaseSeconds - REAL_NODE_SCRIPT.noisy.atSeconds));
  });

  it('without KubeMom the script squeezes the node: under the hard threshold or an OOM kill', () => {
    const s = results[0]!;
    expect(s.policy).to.equal('static');
    expect(s.figures.underThresholdSeconds > 0 || s.kubepodsOomKills > 0, 'static never reached the threshold: the script does not squeeze this node').to.equal(true);
    expect(s.figures.peakReclaimedBytes, 'no balloon moves without KubeMom').to.equal(0);
  });

  it('with the default policy: no OOM kill in the cgroups, no guest OOM, every VM running', () => {
    const d = results[1]!;
    expect(d.kubepodsOomKills, 'OOM kills under kubepods').to.equal(0);
    expect(guestOoms(d), 'guest OOM kills').to.equal(0);
    expect(d.guests.filter((g) => !g.running).map((g) => g.name)).to.deep.equal([]);
    expect(d.failedSteps, 'guest workload commands that failed').to.equal(0);
  });

  it('with the default policy the balloons take memory back and the node never falls under the hard threshold', () => {
    const d = results[1]!;
    expect(d.figures.peakReclaimedBytes).to.be.above(0);
    expect(d.figures.underThresholdSeconds, 'seconds with allocatableMemory.available under evictionHard').to.equal(0);
    expect(d.figures.minAvailableBytes).to.be.at.least(REAL_NODE_SCRIPT.evictionHardMiB * 2 ** 20);
  });

  it('leaves no cgroup behind', () => {
    expect(leftoverCgroups()).to.deep.equal(leftBefore);
  });
});
