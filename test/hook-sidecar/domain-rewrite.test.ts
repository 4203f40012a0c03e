import { expect } from 'chai';
import fc from 'fast-check';
import { defineDomain } from '../../src/hook-sidecar/callbacks.js';
import { InputError } from '../../src/common/errors.js';
import { QEMU_NAMESPACE } from '../../src/hook-sidecar/domain-rewrite.js';
import { domainXml, fixtureDomainXml, fixtureVmiJson, vmiWith } from '../support/fixtures.js';

const paths = { hooksDir: '/hooks', qemuHooksDir: '/var/run/kubevirt-hooks/hook-sidecar-0' };
const SOCKET = '/var/run/kubevirt-hooks/hook-sidecar-0/kubemom/qmp/e4686d2c-6e8d-4335-b8fd-81bee22f4814.sock';
const BIG_VMI = vmiWith({}, (vmi) => {
  vmi.spec.domain.resources.requests.memory = '256Mi';
  vmi.spec.domain.memory.guest = '512Mi';
});

function rewrite(xml: string, vmi: string = BIG_VMI): string {
  return defineDomain(xml, vmi, paths).xml;
}

function expectInputError(fn: () => unknown, field: RegExp, problem?: RegExp): InputError {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(InputError);
    const e = error as InputError;
    expect(e.field).to.match(field);
    if (problem) expect(e.problem).to.match(problem);
    return e;
  }
  throw new Error('expected an InputError');
}

function qemuArgs(xml: string, prefix = 'qemu'): string[] {
  return [...xml.matchAll(new RegExp(`<${prefix}:arg value="([^"]*)"`, 'g'))].map((m) => m[1]!);
}

describe('domain rewrite (OnDefineDomain)', () => {
  describe('on the KubeVirt fixture', () => {
    const out = rewrite(fixtureDomainXml, fixtureVmiJson);

    it('adds a virtio-non-transitional memballoon with stats, autodeflate and free page reporting', () => {
      expect(out).to.contain('<memballoon model="virtio-non-transitional" autodeflate="on" freePageReporting="on"><stats period="5"></stats></memballoon>');
    });

    it('adds the QMP side monitor at QEMU\'s view of the sidecar directory', () => {
      expect(qemuArgs(out)).to.deep.equal([
        '-chardev',
        `socket,id=kubemom-qmp,path=${SOCKET},server=on,wait=off`,
        '-mon',
        'chardev=kubemom-qmp,mode=control',
      ]);
    });

    it('keeps every other byte of the input', () => {
      // Removing what we added gives back the input exactly.
      const stripped = out
        .replace(/<memballoon[^]*?<\/memballoon>/, '')
        .replace(/<qemu:commandline>[^]*<\/qemu:commandline>/, '');
      expect(stripped).to.equal(fixtureDomainXml);
    });

    it('is idempotent: its own output comes back byte for byte, three times over', () => {
      let again = out;
      for (let i = 0; i < 3; i++) again = rewrite(again, fixtureVmiJson);
      expect(again).to.equal(out);
    });

    it('returns the VM config for the agent', () => {
      const { config } = defineDomain(fixtureDomainXml, fixtureVmiJson, paths);
      expect(config.identity).to.deep.equal({ namespace: 'mynamespace', name: 'testvmi', uid: 'e4686d2c-6e8d-4335-b8fd-81bee22f4814' });
      expect(config.guestMemoryBytes).to.equal(8388608);
      expect(config.settings.guaranteedMemoryBytes).to.equal(4 * 2 ** 20);
      expect(config.qmpSocketPath).to.equal('/hooks/kubemom/qmp/e4686d2c-6e8d-4335-b8fd-81bee22f4814.sock');
    });
  });

  describe('variants', () => {
    for (const machine of ['q35', 'pc-i440fx-7.2', 'pc']) {
      it(`adds a balloon to a ${machine} domain without one`, () => {
        const out = rewrite(domainXml({ machine }));
        expect(out).to.contain('<memballoon model="virtio-non-transitional" autodeflate="on" freePageReporting="on"><stats period="5"></stats></memballoon>');
        expect(rewrite(out)).to.equal(out);
      });
    }

    it("keeps KubeVirt's balloon model, address and alias, and updates its stats period in place", () => {
      const devices =
        '\n\t\t<memballoon model="virtio-transitional" freePageReporting="on">\n\t\t\t<stats period="10"></stats>\n\t\t\t<address type="pci" domain="0x0000" bus="0x05" slot="0x00" function="0x0"></address>\n\t\t</memballoon>';
      const out = rewrite(domainXml({ devices }), vmiWith({ 'kubemom.io/stats-period': '2s', 'kubemom.io/autodeflate': 'false' }, (v) => {
        v.spec.domain.resources.requests.memory = '256Mi';
      }));
      expect(out).to.contain(
        '<memballoon model="virtio-transitional" freePageReporting="on" autodeflate="off">\n\t\t\t<stats period="2"></stats>\n\t\t\t<address type="pci" domain="0x0000" bus="0x05" slot="0x00" function="0x0"></address>\n\t\t</memballoon>',
      );
    });

    it('adds <stats> to a balloon that has none, before its other children', () => {
      const devices = '<memballoon model="virtio-non-transitional"><alias name="balloon0"></alias></memballoon>';
      const out = rewrite(domainXml({ devices }));
      expect(out).to.contain('<memballoon model="virtio-non-transitional" autodeflate="on" freePageReporting="on"><stats period="5"></stats><alias name="balloon0"></alias></memballoon>');
    });

    it("honours kubemom.io/free-page-reporting over KubeVirt's choice", () => {
      const devices = '<memballoon model="virtio-non-transitional" freePageReporting="on"></memballoon>';
      const out = rewrite(domainXml({ devices }), vmiWith({ 'kubemom.io/free-page-reporting': 'false' }, (v) => (v.spec.domain.resources.requests.memory = '1Mi')));
      expect(out).to.contain('freePageReporting="off"');
    });

    it('declares the qemu namespace when the root lacks it', () => {
      const out = rewrite(domainXml({ rootAttrs: '' }));
      expect(out).to.match(new RegExp(`^<domain type="qemu" xmlns:qemu="${QEMU_NAMESPACE}">`));
      expect(qemuArgs(out)).to.have.length(4);
    });

    it('uses whatever prefix the root binds to the qemu namespace', () => {
      const out = rewrite(domainXml({ rootAttrs: ` xmlns:q="${QEMU_NAMESPACE}"` }));
      expect(qemuArgs(out, 'q')).to.have.length(4);
      expect(out).not.to.contain('xmlns:qemu');
    });

    it("keeps other sidecars' qemu:commandline arguments and their order", () => {
      const other = '<qemu:commandline><qemu:arg value="-smbios"></qemu:arg><qemu:arg value="type=11,value=other"></qemu:arg><qemu:env name="X" value="1"></qemu:env></qemu:commandline>';
      const out = rewrite(domainXml({ tail: other }));
      expect(qemuArgs(out)).to.deep.equal(['-smbios', 'type=11,value=other', '-chardev', qemuArgs(out)[3], '-mon', 'chardev=kubemom-qmp,mode=control']);
      expect(out).to.contain('<qemu:env name="X" value="1"></qemu:env>');
      // Another sidecar appends after us; our block is replaced where it stands.
      const later = out.replace('</qemu:commandline>', '<qemu:arg value="-name"></qemu:arg><qemu:arg value="later"></qemu:arg></qemu:commandline>');
      const again = rewrite(later);
      expect(again).to.equal(later);
    });

    it('replaces a monitor left with another path instead of adding a second one', () => {
      const out = rewrite(domainXml());
      const moved = rewrite(out.replace('/var/run/kubevirt-hooks/hook-sidecar-0/', '/var/run/kubevirt-hooks/hook-sidecar-3/'));
      expect(qemuArgs(moved).filter((a) => a.startsWith('socket,id=kubemom-qmp'))).to.have.length(1);
      expect(moved).to.equal(out);
    });

    it('keeps comments, CDATA, processing instructions, unknown elements and attributes, and entity references', () => {
      const xml = `<?xml version="1.0"?>\n<!-- made by a test -->\n${domainXml({
        devices: '<x:custom xmlns:x="urn:x" a="1 &amp; 2"><![CDATA[<raw>]]></x:custom>',
        tail: '<description>a &lt; b</description>',
      }).replace('<domain type="qemu"', '<domain type="qemu" id="7"')}\n`;
      const out = rewrite(xml);
      for (const kept of ['<?xml version="1.0"?>', '<!-- made by a test -->', '<x:custom xmlns:x="urn:x" a="1 &amp; 2"><![CDATA[<raw>]]></x:custom>', '<description>a &lt; b</description>', 'id="7"']) {
        expect(out).to.contain(kept);
      }
      expect(out.endsWith('</domain>\n')).to.equal(true);
      expect(rewrite(out)).to.equal(out);
    });
  });

  describe('bad input', () => {
    it('rejects malformed XML with its line and column', () => {
      expectInputError(() => rewrite('<domain>\n<devices></domain>'), /^domainXML$/, /line 2/);
    });
    it('rejects "<!" markup that is neither a comment nor CDATA (found by fuzzing: it serialized to malformed XML)', () => {
      expectInputError(() => rewrite(domainXml({ devices: '<a><!</a>' })), /^domainXML$/, /line 8, column \d+: "<!" starts neither a comment nor a CDATA section/);
      expectInputError(() => rewrite(domainXml({ devices: '<!-- never closed' })), /^domainXML$/, /"<!" starts neither/);
      // Inside comments and CDATA "<!" is text and stays accepted.
      expect(rewrite(domainXml({ devices: '<!-- a <!x --><x:d xmlns:x="urn:x"><![CDATA[<!y]]></x:d>' }))).to.contain('<!-- a <!x -->');
    });
    it('rejects a root that is not <domain>', () => {
      expectInputError(() => rewrite('<network></network>'), /^domainXML$/, /<network>; only <domain>/);
    });
    it('rejects any DTD or entity declaration without expanding it', () => {
      const bomb = '<!DOCTYPE domain [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><domain>&b;</domain>';
      expectInputError(() => rewrite(bomb), /^domainXML$/, /DOCTYPE/);
      expectInputError(() => rewrite('<domain><!ENTITY x "y"></domain>'), /^domainXML$/, /ENTITY/);
    });
    it('rejects deep nesting before parsing', () => {
      expectInputError(() => rewrite('<domain>' + '<a>'.repeat(5000) + '</a>'.repeat(5000) + '</domain>'), /^domainXML$/, /nests elements/);
    });
    it('rejects a domain without <memory> or with a bad unit', () => {
      expectInputError(() => rewrite('<domain><devices></devices></domain>'), /<memory>/, /missing/);
      expectInputError(() => rewrite(domainXml().replace('unit="b"', 'unit="furlong"')), /<memory unit>/, /furlong/);
    });
    it('rejects a balloon disabled with model="none"', () => {
      expectInputError(() => rewrite(domainXml({ devices: '<memballoon model="none"></memballoon>' })), /memballoon model/, /autoattachMemBalloon/);
    });
    it('rejects guaranteed memory above the guest memory', () => {
      expectInputError(() => rewrite(domainXml(), vmiWith({ 'kubemom.io/guaranteed-memory': '1Gi' })), /guaranteed-memory/, /exceeds the guest memory/);
      expectInputError(() => rewrite(domainXml(), vmiWith({}, (v) => (v.spec.domain.resources.requests.memory = '2Gi'))), /requests\.memory/);
    });
    it('rejects malformed VMI JSON and VMIs without identity', () => {
      expectInputError(() => rewrite(domainXml(), '{"metadata":'), /^vmi$/, /not valid JSON/);
      expectInputError(() => rewrite(domainXml(), '[]'), /^vmi$/, /JSON object/);
      expectInputError(() => rewrite(domainXml(), vmiWith({}, (v) => delete v.metadata.uid)), /vmi\.metadata\.uid/, /missing/);
      expectInputError(() => rewrite(domainXml(), vmiWith({}, (v) => (v.kind = 'Pod'))), /vmi\.kind/);
    });
    it('rejects hugepage-backed guests', () => {
      expectInputError(() => rewrite(domainXml(), vmiWith({}, (v) => (v.spec.domain.memory.hugepages = { pageSize: '2Mi' }))), /hugepages/);
    });
    const badAnnotations: [string, string, RegExp][] = [
      ['kubemom.io/priority', '101', /0 to 100/],
      ['kubemom.io/priority', 'high', /0 to 100/],
      ['kubemom.io/stats-period', '0', /1 to 300/],
      ['kubemom.io/stats-period', '5m', /1 to 300/],
      ['kubemom.io/autodeflate', 'yes', /"true" or "false"/],
      ['kubemom.io/free-page-reporting', 'on', /"true" or "false"/],
      ['kubemom.io/policy', 'Bad_Name', /DNS label/],
      ['kubemom.io/guaranteed-memory', '12 apples', /Kubernetes quantity/],
      ['kubemom.io/guaranteed-memory', '0', /> 0/],
      ['kubemom.io/memory-margin', '1Gi', /< the guest memory/],
      ['kubemom.io/priorty', '5', /not a KubeMom annotation; accepted keys/],
    ];
    for (const [key, value, problem] of badAnnotations) {
      it(`rejects ${key}: "${value}" naming the annotation`, () => {
        expectInputError(() => rewrite(domainXml(), vmiWith({ [key]: value })), new RegExp(`annotations\\["${key.replace('.', '\\.')}"\\]`), problem);
      });
    }
    it('rejects a QMP socket path over the 108-byte unix limit', () => {
      expectInputError(() => defineDomain(domainXml(), BIG_VMI, { hooksDir: '/h', qemuHooksDir: '/' + 'x'.repeat(80) }), /QMP socket path/, /at most 107/);
    });
  });

  describe('properties', () => {
    const attrValue = fc.stringMatching(/^[a-zA-Z0-9 ._:/-]{0,12}$/);
    const extraDevice = fc.record({ tag: fc.constantFrom('disk', 'rng', 'x:thing', 'interface'), attr: attrValue, text: attrValue });
    const annotations = fc.record(
      {
        'kubemom.io/priority': fc.integer({ min: 0, max: 100 }).map(String),
        'kubemom.io/stats-period': fc.integer({ min: 1, max: 300 }).map((n) => `${n}${n % 2 ? 's' : ''}`),
        'kubemom.io/autodeflate': fc.constantFrom('true', 'false'),
        'kubemom.io/free-page-reporting': fc.constantFrom('true', 'false'),
        'kubemom.io/guaranteed-memory': fc.integer({ min: 1, max: 512 }).map((n) => `${n}Mi`),
      },
      { requiredKeys: [] },
    );

    it('is idempotent on generated domains and annotations', () => {
      fc.assert(
        fc.property(
          fc.array(extraDevice, { maxLength: 6 }),
          fc.constantFrom('', '<memballoon model="virtio-non-transitional"><stats period="10"></stats></memballoon>', '<memballoon model="virtio"></memballoon>'),
          fc.constantFrom('', '<qemu:commandline><qemu:arg value="-S"></qemu:arg></qemu:commandline>'),
          fc.constantFrom(' xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0"', ''),
          annotations,
          (devices, balloon, tail, rootAttrs, notes) => {
            const extra = devices.map((d) => `<${d.tag} a="${d.attr}">${d.text}</${d.tag}>`).join('\n\t\t');
            const xml = domainXml({ devices: extra + balloon, tail, rootAttrs: rootAttrs + (extra.includes('x:') ? ' xmlns:x="urn:x"' : '') });
            const vmi = vmiWith(notes, (v) => (v.spec.domain.resources.requests.memory = '128Mi'));
            const once = rewrite(xml, vmi);
            expect(rewrite(once, vmi)).to.equal(once);
            expect(once.match(/<memballoon/g)).to.have.length(1);
            expect(once.match(/id=kubemom-qmp,/g)).to.have.length(1);
          },
        ),
        { numRuns: 300 },
      );
    });
  });
});
