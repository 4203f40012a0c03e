/**
 * startVm with `externalSidecar`: the test bed boots a real guest through a sidecar
 * that runs as its own process (the real `kubemom sidecar` CLI), as in a real pod, and
 * ends it with Shutdown on destroy, as virt-launcher does.
 */
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { AgentClient } from '../../src/api/client.js';
import { sharedTestbed, type Testbed } from '../../testbed/testbed.js';
import { sidecarHooksDir, type ExternalSidecarTestVm, type StartTestVmOptions } from '../../testbed/test-vm.js';
import { qemuUser } from '../../testbed/users.js';
import * as virsh from '../../testbed/virsh.js';
import { startSidecarProcess, type SidecarProcess } from '../support/sidecar-process.js';

describe('test bed: a VM whose sidecar is its own process', function () {
  this.timeout(120_000);
  let bed: Testbed;
  let dir: { root: string; hooksDir: string };
  let sidecar: SidecarProcess;
  let vm: ExternalSidecarTestVm | undefined;
  const podUid = randomUUID();

  before(async function () {
    this.timeout(600_000);
    bed = await sharedTestbed();
    dir = sidecarHooksDir();
    const qemu = qemuUser();
    sidecar = await startSidecarProcess(dir.hooksDir, {}, ['--qemu-hooks-dir', dir.hooksDir, '--qmp-dir-owner', `${qemu.uid}:${qemu.gid}`, '--pod-uid', podUid]);
    vm = await bed.startVm({ name: 'external', memoryMiB: 256, externalSidecar: { hooksDir: dir.hooksDir } });
  });

  after(async () => {
    await vm?.destroy();
    if (sidecar && sidecar.child.exitCode === null && sidecar.child.signalCode === null) sidecar.child.kill('SIGTERM');
    if (dir) rmSync(dir.root, { recursive: true, force: true });
  });

  it('boots the guest from the external sidecar\'s OnDefineDomain, with its QMP socket in that sidecar\'s directory', async () => {
    expect(vm!).to.not.have.property('sidecar');
    expect(vm!.hooksDir).to.equal(dir.hooksDir);
    expect(vm!.qmpSocketPath.startsWith(`${dir.hooksDir}/kubemom/qmp/`)).to.equal(true);
    expect(existsSync(vm!.qmpSocketPath)).to.equal(true);
    expect((await vm!.console.send('ping')).lines).to.deep.equal(['pong']);
  });

  it('serves kubemom.v1 from the external process on sidecarSocketPath', async () => {
    const client = new AgentClient(vm!.sidecarSocketPath);
    try {
      const described = await client.describe({});
      expect(described.vm?.uid).to.equal(vm!.vmi.uid);
      expect(described.vm?.pod_uid).to.equal(podUid);
    } finally {
      client.close();
    }
  });

  it('destroy() removes the domain and ends the sidecar process with Shutdown (exit 0)', async () => {
    const domain = vm!.domainName;
    await vm!.destroy();
    vm = undefined;
    expect(await sidecar.exited).to.equal(0);
    expect(sidecar.stderr()).to.include('"reason":"Shutdown"');
    expect(await virsh.domainExists(domain)).to.equal(false);
  });

  it('refuses `sidecar` options together with `externalSidecar`', async () => {
    const options = { name: 'both', sidecar: {}, externalSidecar: { hooksDir: dir.hooksDir } } as unknown as StartTestVmOptions;
    let error: unknown;
    await bed.startVm(options).catch((e: unknown) => (error = e));
    expect(String(error)).to.include('cannot be combined with `externalSidecar`');
  });
});
