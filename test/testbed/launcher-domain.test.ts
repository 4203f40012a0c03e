/**
 * The test bed's pure parts: the virt-launcher-style domain for the tiny guest, the
 * guest's meminfo parser, and the package list CI installs.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../../src/common/errors.js';
import { packageRoot } from '../../src/common/paths.js';
import { defineDomain } from '../../src/hook-sidecar/callbacks.js';
import { parseVmi } from '../../src/hook-sidecar/vmi.js';
import { parseMeminfo } from '../../testbed/guest-console.js';
import { launcherDomainName, launcherDomainXml, testVmi } from '../../testbed/launcher-domain.js';
import { TESTBED_PACKAGES } from '../../testbed/packages.js';
import { qmpSocketInDomain } from '../../src/kubevirt-sim/launcher.js';

const UID = '0b6c2f1e-3d4a-4e5f-8a9b-0c1d2e3f4a5b';

function tinyDomain(vmiJson: string): string {
  return launcherDomainXml({
    vmi: parseVmi(vmiJson),
    kernelPath: '/tmp/km-x/boot/vmlinuz',
    initrdPath: '/tmp/km-x/boot/initrd',
    cmdline: 'console=ttyS0',
    serialSocketPath: '/tmp/km-x/console/serial0',
    serialLogPath: '/tmp/km-x/console/serial0.log',
  });
}

describe('test bed: the tiny guest domain', () => {
  it('is virt-launcher-shaped: <namespace>_<name>, memory in bytes, KubeVirt balloon, qemu namespace', () => {
    const vmiJson = JSON.stringify(testVmi({ name: 'a', uid: UID, memoryMiB: 384 }));
    const xml = tinyDomain(vmiJson);
    expect(launcherDomainName(parseVmi(vmiJson))).to.equal('testbed_a');
    expect(xml).to.include('<name>testbed_a</name>');
    expect(xml).to.include(`<memory unit="b">${384 * 2 ** 20}</memory>`);
    expect(xml).to.include('<memballoon model="virtio-non-transitional" freePageReporting="on">');
    expect(xml).to.include('xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0"');
    expect(xml).to.include('<domain type="qemu"');
  });

  it("keeps the sidecar's rewrite KubeVirt-shaped: QMP socket in the hooks dir, guaranteed memory, autodeflate (libvirt's schema: real-xml-validate.test.ts)", () => {
    const vmiJson = JSON.stringify(testVmi({ name: 'b', uid: UID, memoryMiB: 512, requestMiB: 256, annotations: { 'kubemom.io/autodeflate': 'false' } }));
    const { xml, config } = defineDomain(tinyDomain(vmiJson), vmiJson, { hooksDir: '/tmp/km-x/hooks/hook-sidecar-0', qemuHooksDir: '/tmp/km-x/hooks/hook-sidecar-0' });
    expect(qmpSocketInDomain(xml)).to.equal(`/tmp/km-x/hooks/hook-sidecar-0/kubemom/qmp/${UID}.sock`);
    expect(config.settings.guaranteedMemoryBytes).to.equal(256 * 2 ** 20);
    expect(xml).to.include('autodeflate="off"');
  });

  it('names the missing field when the VMI has no memory size', () => {
    const vmi = parseVmi(JSON.stringify({ metadata: { name: 'c', namespace: 'n', uid: UID }, spec: { domain: {} } }));
    const build = () =>
      launcherDomainXml({ vmi, kernelPath: 'k', initrdPath: 'i', cmdline: '', serialSocketPath: 's', serialLogPath: 'l' });
    expect(build).to.throw(InputError, 'vmi.spec.domain.memory.guest');
  });
});

describe('test bed: guest meminfo parsing', () => {
  it('turns kB into bytes, keeps unitless counters, skips stray lines', () => {
    const info = parseMeminfo(['MemTotal:         503220 kB', '[    3.1] virtio_balloon: stray kernel line', 'HugePages_Total:       0', 'Active(anon):       2144 kB']);
    expect(info).to.deep.equal({ MemTotal: 503220 * 1024, HugePages_Total: 0, 'Active(anon)': 2144 * 1024 });
  });
});

describe('test bed: Debian packages', () => {
  it('lists every package the test bed installs in .ci/apt-packages.txt, which CI installs', () => {
    const ci = readFileSync(path.join(packageRoot, '.ci', 'apt-packages.txt'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    expect(ci).to.include.members(Object.keys(TESTBED_PACKAGES));
  });
});
