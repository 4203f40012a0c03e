/** LineSplitter: any chunking of a stream yields the same lines; over-long lines are refused. */
import { expect } from 'chai';
import fc from 'fast-check';
import { LineSplitter } from '../../src/qmp/framing.js';
import { QmpLimitError } from '../../src/qmp/errors.js';

/** Cuts `bytes` at the given (sorted, deduplicated) offsets. */
function cut(bytes: Buffer, offsets: number[]): Buffer[] {
  const points = [...new Set(offsets.map((o) => o % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(prev, p));
    prev = p;
  }
  return chunks;
}

describe('QMP line framing', () => {
  it('yields the same lines however the stream is chunked (CRLF or LF, multi-byte UTF-8)', () => {
    const line = fc.string({ unit: fc.constantFrom('a', '{', '"', 'é', '€', '😀', ' ', '\r'), minLength: 1, maxLength: 40 })
      .filter((s) => !s.endsWith('\r') && s.length > 0);
    fc.assert(
      fc.property(fc.array(line, { maxLength: 10 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 30 }), (lines, crlf, offsets) => {
        const stream = Buffer.from(lines.map((l) => l + (crlf ? '\r\n' : '\n')).join(''));
        const s = new LineSplitter(1000);
        const out = cut(stream, offsets).flatMap((c) => s.push(c));
        expect(out).to.deep.equal(lines);
        expect(s.bufferedBytes).to.equal(0);
      }),
    );
  });

  it('keeps an unfinished line until its newline arrives, and skips empty lines', () => {
    const s = new LineSplitter(100);
    expect(s.push(Buffer.from('{"a":'))).to.deep.equal([]);
    expect(s.bufferedBytes).to.equal(5);
    expect(s.push(Buffer.from('1}\r\n\r\n\n{"b":2}\n{"c"'))).to.deep.equal(['{"a":1}', '{"b":2}']);
    expect(s.bufferedBytes).to.equal(4);
  });

  it('accepts a line of exactly maxLineBytes (plus CRLF, even split between chunks)', () => {
    const s = new LineSplitter(10);
    expect(s.push(Buffer.from('0123456789\r'))).to.deep.equal([]);
    expect(s.push(Buffer.from('\n'))).to.deep.equal(['0123456789']);
    expect(s.push(Buffer.from('0123456789\r\n'))).to.deep.equal(['0123456789']);
  });

  it('throws QmpLimitError as soon as an unfinished line exceeds maxLineBytes, holding no more than that', () => {
    const s = new LineSplitter(10);
    s.push(Buffer.from('01234'));
    expect(() => s.push(Buffer.from('567890'))).to.throw(QmpLimitError, 'maxLineBytes (10 bytes)');
    expect(s.bufferedBytes).to.equal(0);
    const t = new LineSplitter(10);
    expect(() => t.push(Buffer.from('0123456789A\n'))).to.throw(QmpLimitError);
  });

  it('refuses a nonsensical bound', () => {
    expect(() => new LineSplitter(0)).to.throw(RangeError, 'maxLineBytes: must be a positive integer, got 0');
  });
});
