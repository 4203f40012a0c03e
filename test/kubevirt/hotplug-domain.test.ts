/**
 * KubeVirt v1.6+ domains of hotplug-eligible VMIs: `<maxMemory slots="0">` and, after a
 * memory hotplug, a virtio-mem device (pkg/virt-launcher/virtwrap/converter/compute/memory.go).
 * The sidecar accepts them and hands both back untouched; the guest memory it keeps for
 * the guard is the boot memory (`<memory>`), which is what QEMU's balloon counts.
 */
import { expect } from 'chai';
import { defineDomain } from '../../src/hook-sidecar/callbacks.js';
import { parseDomain } from '../../src/hook-sidecar/domain-rewrite.js';
import { fixtureDomainXml, fixtureVmiJson } from '../support/fixtures.js';

const MAX_MEMORY = '\t<maxMemory slots="0" unit="b">8589934592</maxMemory>';
const VIRTIO_MEM = [
  '\t\t<memory model="virtio-mem">',
  '\t\t\t<target>',
  '\t\t\t\t<size unit="b">6442450944</size>',
  '\t\t\t\t<node>0</node>',
  '\t\t\t\t<block unit="b">2097152</block>',
  '\t\t\t\t<requested unit="b">1073741824</requested>',
  '\t\t\t</target>',
  '\t\t\t<alias name="ua-virtio-mem"></alias>',
  '\t\t</memory>',
].join('\n');

function hotplugDomain(): string {
  const withMax = fixtureDomainXml.replace(/(<memory unit="b">[0-9]+<\/memory>)/, `$1\n${MAX_MEMORY}`);
  return withMax.replace('</devices>', `${VIRTIO_MEM}\n\t</devices>`);
}

describe('hotplug-eligible domains (maxMemory, virtio-mem)', () => {
  it('are accepted, and maxMemory and the virtio-mem device come back as they went in', () => {
    const input = hotplugDomain();
    expect(input).to.contain('<maxMemory').and.contain('virtio-mem');
    const { xml, config } = defineDomain(input, fixtureVmiJson, { hooksDir: '/h', qemuHooksDir: '/h' });
    expect(xml).to.contain(MAX_MEMORY.trim());
    expect(xml).to.contain(VIRTIO_MEM.trim());
    expect(() => parseDomain(xml)).to.not.throw();
    // The boot memory, not maxMemory nor boot + virtio-mem: what the balloon's numbers are relative to.
    expect(config.guestMemoryBytes).to.equal(Number(/<memory unit="b">([0-9]+)<\/memory>/.exec(fixtureDomainXml)![1]));
  });

  it('a second call with its own output returns it byte for byte (virt-launcher may call up to 3 times)', () => {
    const once = defineDomain(hotplugDomain(), fixtureVmiJson, { hooksDir: '/h', qemuHooksDir: '/h' }).xml;
    expect(defineDomain(once, fixtureVmiJson, { hooksDir: '/h', qemuHooksDir: '/h' }).xml).to.equal(once);
  });
});
