/** decodeMessage: every QMP shape, and untrusted input that must never throw. */
import { expect } from 'chai';
import fc from 'fast-check';
import { decodeMessage, encodeCommand } from '../../src/qmp/protocol.js';

describe('QMP message decoding', () => {
  it('decodes a greeting', () => {
    const m = decodeMessage('{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian"}, "capabilities": ["oob"]}}');
    expect(m).to.deep.equal({ kind: 'greeting', greeting: { version: { major: 7, minor: 2, micro: 22, package: 'Debian' }, capabilities: ['oob'] } });
  });

  it('decodes returns and errors with their ids', () => {
    expect(decodeMessage('{"return": {}, "id": 3}')).to.deep.equal({ kind: 'return', id: 3, value: {} });
    expect(decodeMessage('{"return": null}')).to.deep.equal({ kind: 'return', id: undefined, value: null });
    expect(decodeMessage('{"error": {"class": "GenericError", "desc": "no"}, "id": 4}')).to.deep.equal({
      kind: 'error', id: 4, errorClass: 'GenericError', desc: 'no',
    });
  });

  it('types known events and keeps unknown or malformed ones generic', () => {
    const ts = '"timestamp": {"seconds": 5, "microseconds": 6}';
    expect(decodeMessage(`{${ts}, "event": "BALLOON_CHANGE", "data": {"actual": 42}}`)).to.deep.equal({
      kind: 'event', event: { event: 'BALLOON_CHANGE', data: { actual: 42 }, timestamp: { seconds: 5, microseconds: 6 } },
    });
    expect(decodeMessage(`{${ts}, "event": "SHUTDOWN", "data": {"guest": 1}}`)).to.deep.equal({
      kind: 'event', event: { event: 'SHUTDOWN', data: { guest: 1 }, timestamp: { seconds: 5, microseconds: 6 }, generic: true },
    });
    expect(decodeMessage('{"event": "NIC_RX_FILTER_CHANGED"}')).to.deep.equal({
      kind: 'event', event: { event: 'NIC_RX_FILTER_CHANGED', data: undefined, timestamp: { seconds: 0, microseconds: 0 }, generic: true },
    });
    expect(decodeMessage('{"event": "X", "data": 7}')).to.deep.equal({ kind: 'invalid', reason: 'event X: "data" is not an object' });
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (line) => {
        const m = decodeMessage(line);
        expect(['greeting', 'return', 'error', 'event', 'invalid']).to.include(m.kind);
      }),
      { numRuns: 2000 },
    );
  });

  it('encodes a command as one JSON line with its id', () => {
    expect(encodeCommand(7, 'balloon', { value: 1024 })).to.equal('{"execute":"balloon","arguments":{"value":1024},"id":7}\n');
    expect(encodeCommand(8, 'query-status')).to.equal('{"execute":"query-status","id":8}\n');
  });
});
