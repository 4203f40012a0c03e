import { expect } from 'chai';
import { formatBytes, parseMemoryQuantity } from '../../src/common/quantity.js';

describe('memory quantities', () => {
  const good: [string, number][] = [
    ['512Mi', 512 * 2 ** 20],
    ['2Gi', 2 * 2 ** 30],
    ['1.5Gi', 1.5 * 2 ** 30],
    ['1500M', 1.5e9],
    ['1k', 1000],
    ['4096', 4096],
    ['2e9', 2e9],
    ['0.5Ki', 512],
    ['1.0001', 2],
  ];
  for (const [text, bytes] of good) {
    it(`reads "${text}" as ${bytes} bytes`, () => expect(parseMemoryQuantity(text)).to.deep.equal({ value: bytes }));
  }
  for (const text of ['', 'Mi', '1 Mi', '-1Gi', '1mi', '1Gb', '0x10', '1e400']) {
    it(`refuses "${text}" saying what is accepted`, () => {
      const result = parseMemoryQuantity(text);
      expect(result).to.have.property('error').that.matches(/Kubernetes quantity|too large/);
    });
  }
  it('formats exact binary sizes with their unit', () => {
    expect(formatBytes(512 * 2 ** 20)).to.equal('512Mi');
    expect(formatBytes(3 * 2 ** 30)).to.equal('3Gi');
    expect(formatBytes(1000)).to.equal('1000');
  });
});
