/**
 * One node, three virt-launcher pods, real TCG guests under a real shim:
 * - a VM as KubeVirt v1.9 lays out its hooks (hook-sidecar-0/, CONTAINER_NAME),
 * - a VM as KubeVirt v1.5 does (every sidecar in the whole emptyDir, no CONTAINER_NAME),
 * - a v1.9 VM with a network-binding-like sidecar chained after KubeMom, which
 *   re-marshals the domain and drops KubeMom's QMP side monitor.
 * The shim finds both layouts and reclaims from both VMs when the node runs short; the
 * third VM still boots, and its agent, the shim's metrics and the alert's series say
 * that KubeMom lost it.
 */
import { expect } from 'chai';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { AgentClient } from '../../src/api/client.js';
import { MiB } from '../agent/support.js';
import { waitFor } from '../shim/kubelet-tree.js';
import { GiB, startPodVm, startShimOverPods, writeNodeMeminfo, type PodVm, type ShimOverPods } from './support.js';

describe('real-kubevirt-releases: both hook layouts end to end, and a side monitor a later sidecar dropped', function () {
  this.timeout(420_000);
  const vms: PodVm[] = [];
  let node: ShimOverPods | undefined;
  const annotations = { 'kubemom.io/stats-period': '1' };

  before(async () => {
    vms.push(await startPodVm({ name: 'v19', memoryMiB: 512, requestMiB: 256, annotations, kubevirt: 'v1.9' }, '22222222-0000-4000-8000-000000000019'));
    vms.push(await startPodVm({ name: 'v15', memoryMiB: 512, requestMiB: 256, annotations, kubevirt: 'v1.5' }, '22222222-0000-4000-8000-000000000015'));
    vms.push(
      await startPodVm({ name: 'chained', memoryMiB: 512, requestMiB: 256, annotations, chainRemarshallingSidecar: true }, '22222222-0000-4000-8000-0000000000cc', {
        timings: { sideMonitorGraceMs: 5000 },
      }),
    );
    node = await startShimOverPods(vms);
  });

  after(async () => {
    await node?.close();
    for (const vm of vms) await vm.close();
  });

  it('the v1.5 sidecar serves in the shared directory with only its socket and its own kubemom/ directory there', () => {
    const v15 = vms[1]!.vm;
    expect(v15.hooksDir).to.equal(v15.hooksRoot);
    expect(readdirSync(v15.hooksRoot).sort()).to.deep.equal(['kubemom', 'kubemom.sock']);
    expect(v15.qmpSocketPath).to.equal(path.join(v15.hooksRoot, 'kubemom', 'qmp', `${v15.vmi.uid}.sock`));
    expect(existsSync(v15.qmpSocketPath)).to.equal(true);
    const v19 = vms[0]!.vm;
    expect(v19.qmpSocketPath).to.equal(path.join(v19.hooksRoot, 'hook-sidecar-0', 'kubemom', 'qmp', `${v19.vmi.uid}.sock`));
  });

  it('the shim finds the sidecar in both layouts and reclaims from both VMs when the node runs short, and gives back when they need it', async () => {
    const { shim, meminfo } = node!;
    const live = (vm: PodVm) => shim.registry.all().find((s) => s.found.podUid === vm.podUid && s.state === 'live' && s.latest?.guest != null);
    expect(await waitFor(() => live(vms[0]!) !== undefined && live(vms[1]!) !== undefined, 60_000)).to.equal(true);
    expect(live(vms[0]!)!.found.container).to.equal('hook-sidecar-0');
    expect(live(vms[1]!)!.found.container).to.equal('hook-sidecar-sockets');
    writeNodeMeminfo(meminfo, 4 * GiB, 300 * MiB);
    const squeezedTo = new Map<PodVm, number>();
    for (const vm of vms.slice(0, 2)) {
      const squeezed = await vm.watcher.waitFor('balloon inflated by the shim', (s) => Number(s.balloon_actual_bytes) <= 448 * MiB);
      expect(Number(squeezed.balloon_actual_bytes)).to.be.at.least(256 * MiB);
      squeezedTo.set(vm, Number(squeezed.balloon_actual_bytes));
    }
    // The node recovers and the guests start using memory: the shim gives it back (an idle guest keeps what it
    // uses plus headroom and a step under the default policy, so the give-back needs guests that need it).
    writeNodeMeminfo(meminfo, 4 * GiB, 3.5 * GiB);
    for (const vm of vms.slice(0, 2)) expect(await vm.vm.console.alloc(200)).to.equal(200);
    for (const vm of vms.slice(0, 2)) {
      await vm.watcher.waitFor('balloon deflated by the shim', (s) => Number(s.balloon_actual_bytes) >= squeezedTo.get(vm)! + 64 * MiB);
    }
  });

  it('a chained re-marshalling sidecar drops the side monitor: the VM runs, and the agent and the shim say KubeMom lost it', async () => {
    const chained = vms[2]!;
    expect(chained.vm.chained?.calls).to.be.greaterThan(0);
    expect(chained.vm.domainXml).to.not.contain('qemu:commandline');
    // The guest runs all the same.
    expect((await chained.vm.console.meminfo()).MemTotal).to.be.greaterThan(400 * MiB);
    const lost = await chained.watcher.waitFor('side monitor lost', (s) => s['unmanaged_kind'] === 'side-monitor-lost', true);
    expect(String(lost['unmanaged_reason'])).to.contain('qemu:commandline');
    const client = new AgentClient(chained.vm.sidecar.server.socketPath);
    try {
      const d = await client.describe({ client_api_revision: 1, client_version: 'test' });
      expect(d['unmanaged_kind']).to.equal('side-monitor-lost');
    } finally {
      client.close();
    }
    const { shim } = node!;
    const name = chained.vm.vmi.name;
    const series = new RegExp(`kubemom_vm_unmanaged\\{namespace="testbed",name="${name}",reason="side-monitor-lost"\\} 1`);
    let metrics = '';
    expect(
      await waitFor(() => {
        void shim.metrics.scrape().then((m) => (metrics = m));
        return series.test(metrics);
      }, 200),
      metrics.split('\n').filter((l) => l.startsWith('kubemom_vm_unmanaged') || l.startsWith('kubemom_vm_session_state')).join('\n'),
    ).to.equal(true);
    // The healthy VMs carry no such series.
    for (const vm of vms.slice(0, 2)) expect(metrics).to.not.contain(`kubemom_vm_unmanaged{namespace="testbed",name="${vm.vm.vmi.name}"`);
  });
});
