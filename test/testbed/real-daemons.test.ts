import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { acquireLibvirt } from '../../testbed/daemons.js';
import { run } from '../../testbed/exec.js';

describe('test bed: libvirt daemon leases', function () {
  this.timeout(120_000);

  it('counts leases, not processes: releasing one of two leases in one process leaves libvirtd serving', async () => {
    const first = await acquireLibvirt();
    const second = await acquireLibvirt();
    await first.release();
    expect(existsSync('/run/libvirt/libvirt-sock')).to.equal(true);
    const version = await run('virsh', ['-q', '-c', 'qemu:///system', 'version']);
    expect(version.stdout).to.match(/libvirt/i);
    await second.release();
  });
});
