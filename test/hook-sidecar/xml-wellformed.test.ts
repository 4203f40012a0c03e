import { expect } from 'chai';
import fc from 'fast-check';
import { XMLValidator } from 'fast-xml-parser';
import { isPlainWellFormed } from '../../src/hook-sidecar/xml-wellformed.js';
import { domainXml, fixtureDomainXml } from '../support/fixtures.js';

const SAMPLE = `<?xml version="1.0"?>
<!-- c --><domain type="kvm" xmlns:qemu="urn:q"><name>a &amp; b&#38;&#x26;</name><x:e xmlns:x="urn:x" a='1' b = "2"/>
<devices><disk device="disk"><alias name="ua-d"></alias></disk><![CDATA[<raw>]]><?pi data?></devices></domain>
<!-- after -->`;

const validatorAccepts = (text: string): boolean => XMLValidator.validate(text, { allowBooleanAttributes: false }) === true;

describe('fast well-formedness check (xml-wellformed)', () => {
  it('vouches for the KubeVirt fixture, generated domains and a sample with every construct it knows', () => {
    for (const text of [fixtureDomainXml, domainXml(), SAMPLE]) expect(isPlainWellFormed(text), text.slice(0, 60)).to.equal(true);
  });

  it('is unsure about what the validator rejects and about what it does not know', () => {
    for (const text of [
      '<domain>\n<devices></domain>',
      '<a></a><b></b>',
      '<a x="1" x="2"></a>',
      '<a x></a>',
      '<a>&bad-ref;</a>',
      '<a></a>text',
      ' <?xml version="1.0"?><a></a>',
      '<a>',
      '',
      '<ä></ä>',
    ]) {
      expect(isPlainWellFormed(text), text).to.equal(false);
    }
  });

  it('never accepts what XMLValidator rejects (mutated documents)', () => {
    const alphabet = fc.constantFrom(...'<>/&;#x"\'= a:?!-[]\n'.split(''), 'CDATA', '<!--', '-->', '<?xml ', '?>', '&amp;', '</a>', '<a>');
    const mutation = fc.record({ at: fc.nat(), drop: fc.nat({ max: 3 }), insert: fc.array(alphabet, { maxLength: 3 }) });
    fc.assert(
      fc.property(fc.constantFrom(SAMPLE, fixtureDomainXml), fc.array(mutation, { minLength: 1, maxLength: 4 }), (base, mutations) => {
        let text = base;
        for (const m of mutations) {
          const at = m.at % (text.length + 1);
          text = text.slice(0, at) + m.insert.join('') + text.slice(at + m.drop);
        }
        if (isPlainWellFormed(text)) expect(validatorAccepts(text), text).to.equal(true);
      }),
      { numRuns: 3000 },
    );
  });
});
