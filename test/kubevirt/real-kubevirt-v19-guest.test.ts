/**
 * A hotplug-eligible guest as KubeVirt v1.9 starts it, through the test bed's default virt-launcher: the VMI carries
 * `memory.maxGuest` (4 x guest) and no memory request, the domain `<maxMemory slots="0">`; the sidecar keeps it,
 * libvirt defines and starts it, and the agent reports the guest as QEMU runs it (boot memory = guest memory,
 * nothing plugged) and moves the balloon relative to it.
 */
import { expect } from 'chai';
import { AgentClient } from '../../src/api/client.js';
import * as virsh from '../../testbed/virsh.js';
import { MiB } from '../agent/support.js';
import { GiB, startPodVm, type PodVm } from './support.js';

describe('real-kubevirt-v19-guest: a hotplug-eligible guest as KubeVirt v1.9 starts it', function () {
  this.timeout(300_000);
  let pod: PodVm | undefined;

  before(async () => {
    pod = await startPodVm(
      { name: 'v19-hotplug', memoryMiB: 1024, annotations: { 'kubemom.io/stats-period': '1', 'kubemom.io/guaranteed-memory': '512Mi' } },
      '33333333-0000-4000-8000-000000000019',
    );
  });

  after(async () => pod?.close());

  it('the VMI has maxGuest and no memory request; <maxMemory slots="0"> survives the sidecar and libvirt', async () => {
    const vm = pod!.vm;
    expect(vm.kubevirt).to.equal('v1.9');
    const vmi = JSON.parse(vm.vmi.json);
    expect(vmi.spec.domain.memory).to.deep.equal({ guest: '1024Mi', maxGuest: '4Gi' });
    expect(vmi.spec.domain.resources.requests).to.equal(undefined);
    expect(vm.domainXml).to.contain(`<maxMemory unit="b" slots="0">${4 * GiB}</maxMemory>`);
    const live = await virsh.dumpXml(vm.domainName);
    // Defined with one slot and one NUMA cell: this machine's libvirt 9.0 takes no <maxMemory> without (definableHere).
    expect(live).to.match(new RegExp(`<maxMemory slots='1' unit='KiB'>${(4 * GiB) / 1024}</maxMemory>`));
    expect(live).to.match(new RegExp(`<memory unit='KiB'>${GiB / 1024}</memory>`));
    // KubeMom's side monitor is still there.
    expect(live).to.contain(vm.qmpSocketPath);
  });

  it('the agent reports 1 GiB of boot memory and nothing plugged, and the balloon moves relative to it', async () => {
    const { watcher, vm } = pod!;
    const first = await watcher.waitFor('a sample with the memory layout', (s) => s['memory'] != null && s['balloon_actual_bytes'] != null, true);
    const memory = first.memory!;
    expect(Number(memory.boot_memory_bytes)).to.equal(GiB);
    expect(Number(memory.guest_memory_bytes)).to.equal(GiB);
    expect(Number(memory.plugged_memory_bytes ?? 0)).to.equal(0);
    expect(memory.virtio_mem ?? []).to.deep.equal([]);
    expect(Number(first['balloon_actual_bytes'])).to.equal(GiB);

    // The agent takes memory only from a running guest with fresh stats (it answers "not-running" before).
    await watcher.waitFor('guest stats from the running guest', (s) => s.guest != null && s.phase === 'PHASE_RUNNING', true);
    const near = (bytes: number) => (s: { balloon_actual_bytes?: unknown }) => Math.abs(Number(s.balloon_actual_bytes) - bytes) <= 2 * MiB;
    const agent = new AgentClient(vm.sidecar.server.socketPath);
    try {
      const before = await vm.console.meminfo();
      const inflate = await agent.setTarget({ target_bytes: 768 * MiB, reason: 'test inflate' });
      expect(Number(inflate['goal_bytes']), JSON.stringify(inflate)).to.equal(768 * MiB);
      await watcher.waitFor('actual 768 MiB', near(768 * MiB));
      // autodeflate is on (the default): Linux then counts ballooned pages as used, not as gone, so MemTotal stays
      // and MemFree falls by what the balloon holds (drivers/virtio/virtio_balloon.c skips the managed-page
      // adjustment under VIRTIO_BALLOON_F_DEFLATE_ON_OOM).
      const inflated = await vm.console.meminfo();
      expect(inflated.MemTotal).to.equal(before.MemTotal);
      expect(Math.abs(before.MemFree! - inflated.MemFree! - 256 * MiB)).to.be.at.most(16 * MiB);
      const deflate = await agent.setTarget({ target_bytes: GiB, reason: 'test deflate' });
      expect(Number(deflate['applied_bytes']), JSON.stringify(deflate)).to.equal(GiB);
      await watcher.waitFor('actual 1 GiB', near(GiB));
    } finally {
      agent.close();
    }
  });
});
