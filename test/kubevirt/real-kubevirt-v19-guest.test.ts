/**
 * A hotplug-eligible guest as KubeVirt v1.9 starts it, through the test bed's default virt-launcher: the VMI carries
 * `memory.maxGuest` (4 x guest) and no memory request, the domain `<maxMemory slots="0">`; the sidecar keeps it,
 * libvirt defines and starts it, and the agent reports the guest as QEMU runs it (boot memory = guest memory,
 * nothing plugged) and moves the balloon relative to it.
 */
import { expect } from 'chai';
import * as virsh from '../../testbed/virsh.js';
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
});
