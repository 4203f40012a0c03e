/**
 * The VM agent (src/agent/vm-agent.ts) against the simulated QEMU (a real QMP server over a guest model): the fast
 * counterpart of real-vm.test.ts, which runs the same agent against a real TCG guest. The agent's QMP client, guard
 * and sampling are all real; only the guest is a model.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VmAgent, type AgentSample } from '../../src/agent/vm-agent.js';
import { MiB } from '../../src/common/units.js';
import { ConstantGuestModel, SimulatedQemu } from '../../src/kubevirt-sim/simulated-qemu.js';
import { EVENT_DEADLINE_MS } from '../support/deadline.js';

describe('VmAgent against the simulated QEMU', function () {
  this.timeout(EVENT_DEADLINE_MS * 2);
  let dir: string;
  let qemu: SimulatedQemu;
  let guest: ConstantGuestModel;
  let agent: VmAgent;
  const samples: AgentSample[] = [];
  const waiters = new Set<() => void>();

  /** Resolves with the first sample (from now on) that satisfies `test`; fails after the event deadline. */
  function sampleWhere(what: string, test: (s: AgentSample) => boolean): Promise<AgentSample> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no sample ${what} within ${EVENT_DEADLINE_MS} ms; last: ${JSON.stringify(samples[samples.length - 1])}`));
      }, EVENT_DEADLINE_MS);
      const check = (): void => {
        const s = samples[samples.length - 1];
        if (s && test(s)) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(s);
        }
      };
      waiters.add(check);
    });
  }

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'km-vma-'));
    guest = new ConstantGuestModel(1024 * MiB, 300 * MiB, Date.now());
    qemu = new SimulatedQemu(path.join(dir, 'qmp.sock'), guest);
    await qemu.start();
    agent = new VmAgent({
      qmpSocketPath: qemu.socketPath,
      guestMemoryBytes: 1024 * MiB,
      guaranteedBytes: 256 * MiB,
      marginBytes: 64 * MiB,
      statsPeriodSeconds: 1,
      // One step for the whole move: the test is about the agent's wiring, the step rule has its own tests (guard.test.ts).
      guard: { maxInflateBytesPerSecond: 1024 * MiB },
      onSample: (s) => {
        samples.push(s);
        for (const w of [...waiters]) w();
      },
    });
    agent.start();
  });

  after(async () => {
    await agent.stop();
    await qemu.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the guest: running once the balloon driver reports, with its stats and balloon actual', async () => {
    const s = await sampleWhere('running with stats', (x) => x.phase === 'running' && x.guest !== undefined);
    expect(s.balloonActualBytes).to.equal(1024 * MiB);
    expect(s.guest!.availableBytes).to.equal(724 * MiB);
    expect(s.stale).to.equal(false);
  });

  it("clamps a target to the guest's need plus the margin and moves the balloon there", async () => {
    const r = await agent.setTarget(200 * MiB, 'test');
    expect(r.clamp).to.equal('guest-need');
    expect(r.goalBytes).to.equal(364 * MiB);
    const reached = await sampleWhere('at the goal', (x) => x.balloonActualBytes === 364 * MiB);
    expect(reached.balloonGoalBytes).to.equal(364 * MiB);
  });

  it('gives memory back at once and takes none while the guest is paused', async () => {
    const back = await agent.setTarget(1024 * MiB, 'test grow');
    expect(back.clamp).to.equal('none');
    expect(back.appliedBytes).to.equal(1024 * MiB);
    qemu.setPaused(true);
    await sampleWhere('paused', (x) => x.phase === 'paused');
    const held = await agent.setTarget(512 * MiB, 'test paused');
    expect(held.clamp).to.equal('not-running');
    qemu.setPaused(false);
    await sampleWhere('running again', (x) => x.phase === 'running');
  });
});
