/**
 * The sidecar SIGKILLed in the middle of a balloon move on a real TCG guest (test bed:
 * libvirt, QEMU, the sidecar's own domain), then restarted as virt-launcher's container
 * restart would: the VM keeps running at a safe size, and the restarted sidecar resumes
 * from its saved VM config without moving the balloon by itself.
 */
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { AgentClient } from '../../src/api/client.js';
import { sharedTestbed } from '../../testbed/testbed.js';
import type { TestVm } from '../../testbed/test-vm.js';
import { SampleWatcher, type Sample, MiB } from '../agent/support.js';
import { startSidecarProcess, type SidecarProcess } from '../support/sidecar-process.js';

type TargetReply = { applied_bytes: number; goal_bytes: number; clamp: string; actual_bytes: number };

describe('reliability: sidecar SIGKILLed during a balloon move on a real guest', function () {
  this.timeout(240_000);
  let vm: TestVm | undefined;
  let sidecar: SidecarProcess | undefined;
  let client: AgentClient | undefined;
  let watcher: SampleWatcher | undefined;
  const podUid = randomUUID();

  async function startAgentProcess(): Promise<void> {
    sidecar = await startSidecarProcess(vm!.hooksDir, {}, ['--pod-uid', podUid]);
    client = new AgentClient(sidecar.socketPath);
    watcher = new SampleWatcher(client);
  }

  function closeClient(): void {
    watcher?.close();
    client?.close();
    watcher = undefined;
    client = undefined;
  }

  after(async () => {
    closeClient();
    if (sidecar && sidecar.child.exitCode === null && sidecar.child.signalCode === null) {
      sidecar.child.kill('SIGKILL');
      await sidecar.exited;
    }
    await vm?.destroy();
  });

  it('the VM keeps running at a safe size; the restarted sidecar resumes its VM without a jump in target', async function () {
    this.timeout(600_000);
    const bed = await sharedTestbed();
    // 512 MiB guest, 256 MiB guaranteed, stats every second, no autodeflate (over-inflation would kill it).
    vm = await bed.startVm({ name: 'killed', memoryMiB: 512, requestMiB: 256, annotations: { 'kubemom.io/stats-period': '1', 'kubemom.io/autodeflate': 'false' } });
    // The in-process sidecar did OnDefineDomain and saved the VM config; hand the VM over to a
    // real sidecar process (the one that will be killed), as a restarted container would find it.
    await vm.sidecar.stop('handing over to a sidecar process');
    await startAgentProcess();
    await watcher!.waitFor('running with guest stats', (s) => s.phase === 'PHASE_RUNNING' && s.guest !== null, true);
    expect(sidecar!.stderr()).to.include('resuming with the VM config saved by an earlier run');

    // A move of 256 MiB: the guard takes it in 128 MiB steps. Kill the sidecar once QEMU is under way.
    const reply = await client!.setTarget({ target_bytes: 256 * MiB, reason: 'test inflate' });
    expect(reply.goal_bytes).to.equal(256 * MiB);
    const moving = await watcher!.waitFor('the balloon moving', (s) => (s['balloon_actual_bytes'] as number) < 500 * MiB);
    const stepTarget = moving['balloon_target_bytes'] as number;
    sidecar!.child.kill('SIGKILL');
    expect(await sidecar!.exited).to.equal('SIGKILL');
    closeClient();

    // The guest runs on, with no agent: it reaches at most the step QEMU was told, never less.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await vm.console.send('ping')).to.deep.include({ status: 0 });
    const meminfo = await vm.console.meminfo();
    expect(meminfo['MemTotal']!, 'safe size: not under the guaranteed memory').to.be.greaterThan(200 * MiB);

    // Restarted: the same hook directory, the saved config, the same QMP socket.
    const restartedAt = Date.now();
    await startAgentProcess();
    const first = await watcher!.waitFor('running with guest stats', (s) => s.phase === 'PHASE_RUNNING' && s.guest !== null && (s['balloon_actual_bytes'] as number) > 0, true);
    expect(sidecar!.stderr()).to.include('resuming with the VM config saved by an earlier run');
    const d = await client!.describe({ client_api_revision: 1 });
    expect(d['vm']).to.include({ uid: vm.vmi.uid, pod_uid: podUid });
    // It found the guest already running: running since at most its first look, which is all it can tell.
    expect(first['phase_began_earlier']).to.equal(true);
    expect(first['phase_since_unix_ms']).to.be.within(restartedAt, first['sampled_at_unix_ms'] as number);
    expect(d).to.include({ phase: 'PHASE_RUNNING', phase_since_unix_ms: first['phase_since_unix_ms'], phase_began_earlier: true });
    const actualAtRestart = first['balloon_actual_bytes'] as number;
    // For several periods with no SetTarget: the balloon does not move by itself (no jump to
    // full memory, no further inflation), and stays within [guaranteed, guest memory].
    await new Promise((r) => setTimeout(r, 4000));
    const since = watcher!.samples.filter((s: Sample) => (s['balloon_actual_bytes'] as number) > 0);
    for (const s of since) {
      const actual = s['balloon_actual_bytes'] as number;
      expect(actual, 'never under guaranteed').to.be.at.least(256 * MiB);
      expect(Math.abs(actual - actualAtRestart), `actual ${actual / MiB} MiB vs ${actualAtRestart / MiB} MiB at restart (step target ${stepTarget / MiB} MiB)`).to.be.at.most(8 * MiB);
    }
    console.log(`    killed at actual ${(moving['balloon_actual_bytes'] as number) / MiB} MiB (step target ${stepTarget / MiB} MiB); restarted at ${actualAtRestart / MiB} MiB; guest MemTotal ${(meminfo['MemTotal']! / MiB).toFixed(0)} MiB`);
    // And it serves again: giving the memory back works.
    const back = await client!.setTarget({ target_bytes: 512 * MiB, reason: 'test deflate' });
    expect(back.applied_bytes).to.equal(512 * MiB);
    await watcher!.waitFor('memory given back', (s) => (s['balloon_actual_bytes'] as number) >= 510 * MiB);
  });
});
