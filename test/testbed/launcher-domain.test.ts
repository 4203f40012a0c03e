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
import { definableHere, launcherDomainName, launcherDomainXml, testVmi, vmiMaxGuestBytes } from '../../testbed/launcher-domain.js';
import { binarySiQuantity, defaultMaxGuestBytes } from '../../testbed/kubevirt-release.js';
import { TESTBED_PACKAGES } from '../../testbed/packages.js';
import { qmpSocketInDomain } from '../../src/kubevirt-sim/launcher.js';

const UID = '0b6c2f1e-3d4a-4e5f-8a9b-0c1d2e3f4a5b';

function tinyDomain(vmiJson: string): string {
  const maxGuestMemoryBytes = vmiMaxGuestBytes(JSON.parse(vmiJson));
  return launcherDomainXml({
    vmi: parseVmi(vmiJson),
    ...(maxGuestMemoryBytes !== undefined ? { maxGuestMemoryBytes } : {}),
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

describe('test bed: the VMI and domain of each KubeVirt release', () => {
  const GiB = 2 ** 30;
  const MiB = 2 ** 20;

  it('v1.9: a guest of 1 GiB gets maxGuest = 4 x guest and maxSockets, no memory request, and <maxMemory slots="0"> after <memory>', () => {
    const vmi = testVmi({ name: 'hp', uid: UID, memoryMiB: 1024 }) as any;
    expect(vmi.spec.domain.memory).to.deep.equal({ guest: '1024Mi', maxGuest: '4Gi' });
    expect(vmi.spec.domain.cpu).to.deep.include({ sockets: 1, maxSockets: 4, model: 'host-model' });
    expect(vmi.spec.domain.resources).to.deep.equal({});
    expect(vmi.spec.architecture).to.equal('amd64');
    expect(vmi.status.memory).to.deep.equal({ guestAtBoot: '1024Mi', guestCurrent: '1024Mi', guestRequested: '1024Mi' });
    const vmiJson = JSON.stringify(vmi);
    const facts = parseVmi(vmiJson);
    expect(facts.requestedMemoryBytes).to.equal(undefined);
    const xml = tinyDomain(vmiJson);
    expect(xml).to.contain(`\t<memory unit="b">${GiB}</memory>\n\t<maxMemory unit="b" slots="0">${4 * GiB}</maxMemory>\n`);
    // The sidecar takes it, keeps <maxMemory> as it came, and with no request guarantees the whole guest.
    const { xml: out, config } = defineDomain(xml, vmiJson, { hooksDir: '/tmp/km-x/hooks/hook-sidecar-0', qemuHooksDir: '/tmp/km-x/hooks/hook-sidecar-0' });
    expect(out).to.contain(`<maxMemory unit="b" slots="0">${4 * GiB}</maxMemory>`);
    expect(config.guestMemoryBytes).to.equal(GiB);
    expect(config.settings.guaranteedMemoryBytes).to.equal(GiB);
    // What this machine's libvirt 9.0 can define: one slot instead of none, and the NUMA cell a newer libvirt adds.
    expect(definableHere(out)).to.equal(
      out.replace('slots="0"', 'slots="1"').replace('</domain>', `\t<cpu><numa><cell id="0" cpus="0-0" memory="${GiB}" unit="b"></cell></numa></cpu>\n</domain>`),
    );
    expect(definableHere(tinyDomain(JSON.stringify(testVmi({ name: 's', uid: UID, memoryMiB: 512 }))))).to.not.contain('maxMemory');
  });

  it('v1.9: no hotplug below 1 GiB or off the 2 MiB block, and none in v1.5 at all', () => {
    expect(defaultMaxGuestBytes('v1.9', 512 * MiB)).to.equal(undefined);
    expect(defaultMaxGuestBytes('v1.9', 1025 * MiB)).to.equal(undefined);
    expect(defaultMaxGuestBytes('v1.9', 2 * GiB)).to.equal(8 * GiB);
    expect(defaultMaxGuestBytes('v1.5', 2 * GiB)).to.equal(undefined);
    const small = testVmi({ name: 's', uid: UID, memoryMiB: 512 }) as any;
    expect(small.spec.domain.memory).to.deep.equal({ guest: '512Mi' });
    expect(tinyDomain(JSON.stringify(small))).to.not.contain('maxMemory');
    const v15 = testVmi({ name: 'old', uid: UID, memoryMiB: 1024, kubevirt: 'v1.5' }) as any;
    expect(v15.spec.domain.memory).to.deep.equal({ guest: '1024Mi' });
    // v1.5's webhook still wrote the request into the VMI.
    expect(v15.spec.domain.resources).to.deep.equal({ requests: { memory: '1024Mi' } });
    expect(v15.spec.domain.cpu.maxSockets).to.equal(undefined);
    expect(tinyDomain(JSON.stringify(v15))).to.not.contain('maxMemory');
  });

  it('a request the VM sets is in the VMI; quantities are written as resource.Quantity writes them', () => {
    const vmi = testVmi({ name: 'r', uid: UID, memoryMiB: 2048, requestMiB: 1024 }) as any;
    expect(vmi.spec.domain.resources).to.deep.equal({ requests: { memory: '1024Mi' } });
    expect(vmi.spec.domain.memory.maxGuest).to.equal('8Gi');
    expect(vmiMaxGuestBytes(vmi)).to.equal(8 * GiB);
    // memoryOvercommit: v1.5 shows it in the VMI's request (the sidecar's default floor), v1.9 nowhere the sidecar looks.
    const v15 = testVmi({ name: 'o', uid: UID, memoryMiB: 1024, memoryOvercommitPercent: 150, kubevirt: 'v1.5' }) as any;
    expect(v15.spec.domain.resources.requests.memory).to.equal(String(Math.floor((GiB * 100) / 150)));
    expect(parseVmi(JSON.stringify(v15)).requestedMemoryBytes).to.equal(Math.floor((GiB * 100) / 150));
    const v19 = testVmi({ name: 'o', uid: UID, memoryMiB: 1024, memoryOvercommitPercent: 150 }) as any;
    expect(v19.spec.domain.resources).to.deep.equal({});
    expect([binarySiQuantity(4 * GiB), binarySiQuantity(2560 * MiB), binarySiQuantity(1536), binarySiQuantity(0)]).to.deep.equal(['4Gi', '2560Mi', '1536', '0']);
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
