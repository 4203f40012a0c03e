/**
 * A passthrough VM beside an ordinary one, both real TCG guests, under a real shim
 * on a node that runs short: the shim reclaims from the ordinary VM and never from
 * the passthrough one, whose sidecar still returned a domain libvirt ran; the reason
 * is in Describe, in SetTarget's clamp and in the shim's metrics.
 */
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { AgentClient } from '../../src/api/client.js';
import { testVmi } from '../../testbed/launcher-domain.js';
import { MiB } from '../agent/support.js';
import { waitFor } from '../shim/kubelet-tree.js';
import { GiB, startPodVm, startShimOverPods, writeNodeMeminfo, type PodVm, type ShimOverPods } from './support.js';

describe('real-passthrough: a VM with VFIO devices is observed, never inflated', function () {
  this.timeout(300_000);
  const vms: PodVm[] = [];
  let node: ShimOverPods | undefined;

  after(async () => {
    await node?.close();
    for (const vm of vms) await vm.close();
  });

  it('the shim reclaims from the ordinary VM only; Describe, SetTarget and the metrics say why', async () => {
    const annotations = { 'kubemom.io/stats-period': '1' };
    const passthroughVmi = testVmi({ name: `gpu-${randomUUID().slice(0, 6)}`, uid: randomUUID(), memoryMiB: 512, requestMiB: 256, annotations });
    const domain = (passthroughVmi['spec'] as { domain: Record<string, unknown> }).domain;
    domain['devices'] = { gpus: [{ name: 'gpu1', deviceName: 'nvidia.com/GA102GL_A10' }], interfaces: [{ name: 'fast', sriov: {} }] };
    vms.push(await startPodVm({ name: 'gpu', vmi: passthroughVmi }, '11111111-0000-4000-8000-000000000001'));
    vms.push(await startPodVm({ name: 'plain', memoryMiB: 512, requestMiB: 256, annotations }, '11111111-0000-4000-8000-000000000002'));
    const [gpu, plain] = vms as [PodVm, PodVm];

    // The sidecar returned a domain libvirt defined and QEMU runs: the guest answers.
    expect((await gpu.vm.console.meminfo()).MemTotal).to.be.greaterThan(400 * MiB);
    const client = new AgentClient(gpu.vm.sidecar.server.socketPath);
    try {
      const d = await client.describe({ client_api_revision: 1, client_version: 'test' });
      expect(d['unmanaged_kind']).to.equal('passthrough');
      expect(d['unmanaged_reason']).to.contain('gpus gpu1').and.contain('SR-IOV interfaces fast');
      await gpu.watcher.waitFor('guest stats', (s) => s.guest !== null, true);
      const r = await client.setTarget({ target_bytes: 300 * MiB, reason: 'test' });
      expect(r['clamp']).to.equal('CLAMP_OBSERVE_ONLY');
      expect(Number(r['applied_bytes'])).to.equal(512 * MiB);
    } finally {
      client.close();
    }

    node = await startShimOverPods(vms);
    const { shim, meminfo } = node;
    const live = () => shim.registry.all().filter((s) => s.state === 'live' && s.latest?.guest != null).length;
    expect(await waitFor(() => live() === 2, 60_000)).to.equal(true);

    // The node runs short: the ordinary VM gives memory back...
    const from = gpu.watcher.samples.length;
    writeNodeMeminfo(meminfo, 4 * GiB, 300 * MiB);
    await plain.watcher.waitFor('balloon inflated by the shim', (s) => Number(s.balloon_actual_bytes) <= 448 * MiB);
    // ...and a few more cycles pass under the same pressure.
    const cycles = shim.loop.cycles;
    expect(await waitFor(() => shim.loop.cycles >= cycles + 6, 60_000)).to.equal(true);
    const during = gpu.watcher.samples.slice(from);
    expect(during.length).to.be.greaterThan(0);
    for (const s of during) {
      expect(Number(s.balloon_actual_bytes)).to.equal(512 * MiB);
      expect(s['unmanaged_kind']).to.equal('passthrough');
    }

    const metrics = await shim.metrics.scrape();
    const gpuName = gpu.vm.vmi.name;
    expect(metrics).to.match(new RegExp(`kubemom_vm_unmanaged\\{namespace="testbed",name="${gpuName}",reason="passthrough"\\} 1`));
    expect(metrics).to.not.match(new RegExp(`kubemom_vm_unmanaged\\{namespace="testbed",name="${plain.vm.vmi.name}"`));
  });
});
