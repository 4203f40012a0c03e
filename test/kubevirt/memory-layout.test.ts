/** Boot, plugged and virtio-mem memory from QEMU's replies (qapi/machine.json). */
import { expect } from 'chai';
import { memoryLayout } from '../../src/agent/memory-layout.js';

const MiB = 2 ** 20;

describe('memory layout (hotplug)', () => {
  it('counts virtio-mem outside the balloon and a DIMM inside it', () => {
    const layout = memoryLayout({ 'base-memory': 512 * MiB, 'plugged-memory': 384 * MiB }, [
      { type: 'virtio-mem', data: { id: 'ua-virtio-mem', size: 256 * MiB, 'requested-size': 256 * MiB, 'max-size': 1024 * MiB, memaddr: 0, node: 0, 'block-size': 2 * MiB, memdev: '/objects/vmem0' } },
      { type: 'dimm', data: { id: 'dimm0', size: 128 * MiB, addr: 0, slot: 0, node: 0, memdev: '/objects/m0', hotplugged: true, hotpluggable: true } },
    ]);
    expect(layout).to.deep.equal({
      bootBytes: 512 * MiB,
      pluggedBytes: 384 * MiB,
      guestBytes: 896 * MiB,
      outsideBalloonBytes: 256 * MiB,
      virtioMem: [{ id: 'ua-virtio-mem', sizeBytes: 256 * MiB, requestedSizeBytes: 256 * MiB, maxSizeBytes: 1024 * MiB }],
    });
  });

  it('without hotplug the guest is its boot memory; without a summary there is no layout', () => {
    expect(memoryLayout({ 'base-memory': 512 * MiB }, [])).to.include({ guestBytes: 512 * MiB, pluggedBytes: 0, outsideBalloonBytes: 0 });
    expect(memoryLayout(undefined, [])).to.equal(undefined);
    expect(memoryLayout({}, [])).to.equal(undefined);
  });
});
