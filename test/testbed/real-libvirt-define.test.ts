/**
 * Issue 2's system test: the sidecar's OnDefineDomain output for the KubeVirt
 * fixture, obtained over gRPC as virt-launcher obtains it, is valid for libvirt's
 * schema and accepted by a real libvirtd, and the QMP side monitor survives.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/common/paths.js';
import { runSidecar, type RunningSidecar } from '../../src/hook-sidecar/sidecar.js';
import { discoverHooks, onDefineDomain, shutdownHooks, type DiscoveredHook } from '../../src/kubevirt-sim/hook-manager.js';
import { sharedTestbed } from '../../testbed/testbed.js';
import { qmpSocketInDomain, SIDECAR_CONTAINER } from '../../src/kubevirt-sim/launcher.js';
import { VM_DIR_PREFIX } from '../../testbed/test-vm.js';
import * as virsh from '../../testbed/virsh.js';

const fixture = (name: string) => readFileSync(path.join(packageRoot, 'fixtures', name), 'utf8');
/** QEMU's view of the sidecar's directory inside KubeVirt's compute container. */
const QEMU_HOOKS_DIR = `/var/run/kubevirt-hooks/${SIDECAR_CONTAINER}`;

/**
 * KubeVirt's own output has two deviations from libvirt's schema that libvirt
 * tolerates at define time (virt-launcher defines without validation): empty
 * <sysinfo> sections and a `name` attribute on block disk sources. They are removed
 * from the INPUT, so that any schema error left in the output is the sidecar's.
 */
function withoutKubevirtSchemaDeviations(xml: string): string {
  return xml.replace(/\s*<(bios|baseBoard|chassis)><\/\1>/g, '').replace(/(<source dev="[^"]*") name="[^"]*"/g, '$1');
}

describe('sidecar output in a real libvirtd (issue 2 system test)', function () {
  let dir: string;
  let sidecar: RunningSidecar;
  let hooks: DiscoveredHook[];
  const vmi = fixture('kubevirt-vmi.json');

  before(async function () {
    this.timeout(600_000);
    await sharedTestbed();
    dir = mkdtempSync(VM_DIR_PREFIX);
    const hooksRoot = path.join(dir, 'hooks');
    sidecar = await runSidecar({ hooksDir: path.join(hooksRoot, SIDECAR_CONTAINER), qemuHooksDir: QEMU_HOOKS_DIR });
    hooks = await discoverHooks(hooksRoot, 1);
  });

  after(async () => {
    if (hooks) await shutdownHooks(hooks);
    await sidecar?.stop('test done');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('passes virt-xml-validate for the fixture domain', async () => {
    const input = withoutKubevirtSchemaDeviations(fixture('kubevirt-domain.xml'));
    const file = path.join(dir, 'input.xml');
    writeFileSync(file, input);
    await virsh.validateDomainXml(file); // the input is valid, so the output's errors would be the sidecar's
    const output = await onDefineDomain(hooks, input, vmi);
    expect(output).to.not.equal(input);
    writeFileSync(file, output);
    await virsh.validateDomainXml(file);
  });

  it('is accepted by virsh define as virt-launcher sends it, and the QMP monitor survives dumpxml', async () => {
    const output = await onDefineDomain(hooks, fixture('kubevirt-domain.xml'), vmi);
    const name = /<name>([^<]+)<\/name>/.exec(output)![1]!;
    await virsh.defineDomain(output, path.join(dir, 'define.xml'));
    try {
      // libvirt writes attributes in single quotes.
      const defined = (await virsh.dumpXml(name)).replace(/'/g, '"');
      const expected = `${QEMU_HOOKS_DIR}/kubemom/qmp/e4686d2c-6e8d-4335-b8fd-81bee22f4814.sock`;
      expect(qmpSocketInDomain(output)).to.equal(expected);
      expect(qmpSocketInDomain(defined)).to.equal(expected);
      expect(defined).to.include('<qemu:arg value="-mon"/>');
      expect(defined).to.include('<qemu:arg value="chardev=kubemom-qmp,mode=control"/>');
      expect(defined).to.match(/<memballoon model="virtio-non-transitional" autodeflate="on" freePageReporting="on">/);
      expect(defined).to.match(/<stats period="\d+"\/>/);
    } finally {
      await virsh.removeDomain(name);
    }
    expect(await virsh.domainExists(name)).to.equal(false);
  });
});
