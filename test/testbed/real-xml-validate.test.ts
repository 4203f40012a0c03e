/**
 * libvirt's own schema check (virt-xml-validate, from libvirt-clients) on the tiny guest's domain before and after
 * the sidecar's rewrite. No daemon, but libvirt installed: a real part.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defineDomain } from '../../src/hook-sidecar/callbacks.js';
import { parseVmi } from '../../src/hook-sidecar/vmi.js';
import { launcherDomainXml, testVmi } from '../../testbed/launcher-domain.js';
import { validateDomainXml } from '../../testbed/virsh.js';

const UID = '0b6c2f1e-3d4a-4e5f-8a9b-0c1d2e3f4a5b';

describe("test bed: libvirt's schema for the tiny guest domain", () => {
  let dir: string;
  before(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'kubemom-launcher-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("passes virt-xml-validate before and after the sidecar's rewrite", async () => {
    const vmiJson = JSON.stringify(testVmi({ name: 'b', uid: UID, memoryMiB: 512, requestMiB: 256, annotations: { 'kubemom.io/autodeflate': 'false' } }));
    const input = launcherDomainXml({
      vmi: parseVmi(vmiJson),
      kernelPath: '/tmp/km-x/boot/vmlinuz',
      initrdPath: '/tmp/km-x/boot/initrd',
      cmdline: 'console=ttyS0',
      serialSocketPath: '/tmp/km-x/console/serial0',
      serialLogPath: '/tmp/km-x/console/serial0.log',
    });
    const file = path.join(dir, 'domain.xml');
    writeFileSync(file, input);
    await validateDomainXml(file);
    const { xml } = defineDomain(input, vmiJson, { hooksDir: '/tmp/km-x/hooks/hook-sidecar-0', qemuHooksDir: '/tmp/km-x/hooks/hook-sidecar-0' });
    expect(xml).to.include('autodeflate="off"');
    writeFileSync(file, xml);
    await validateDomainXml(file);
  });
});
