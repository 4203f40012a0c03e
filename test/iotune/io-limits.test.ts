import { expect } from 'chai';
import fc from 'fast-check';
import { checkIoLimits, combineIoLimits, IO_RATE_FIELDS, parseIoLimits, qmpThrottleArguments, type IoLimits } from '../../src/common/io-limits.js';
import { readSettings } from '../../src/hook-sidecar/annotations.js';
import { domainDisks } from '../../src/hook-sidecar/domain-facts.js';
import { parseDomain } from '../../src/hook-sidecar/domain-rewrite.js';
import { matchDisks, qdevMatches } from '../../src/agent/io-tune.js';
import { parseCpuMillicores } from '../../src/hook-sidecar/vmi.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/common/paths.js';

const Mi = 2 ** 20;

describe('IO limits: the kubemom.io/io-limits.<disk> syntax', () => {
  it('parses rates, bursts, burst lengths and the IOPS size, in bytes and operations per second', () => {
    const r = parseIoLimits('total_bytes_sec=10Mi, read_iops_sec=200,write_iops_sec=2k,write_iops_sec_max=4k,write_iops_sec_max_length=10s,size_iops_sec=4Ki');
    expect(r).to.deep.equal({
      value: { total_bytes_sec: 10 * Mi, read_iops_sec: 200, write_iops_sec: 2000, write_iops_sec_max: 4000, write_iops_sec_max_length: 10, size_iops_sec: 4096 },
    });
    expect(parseIoLimits('write_bytes_sec=5M')).to.deep.equal({ value: { write_bytes_sec: 5_000_000 } });
  });

  const bad: Array<[string, RegExp]> = [
    ['', /is empty; use comma-separated name=value pairs/],
    ['total_bytes_sec', /"total_bytes_sec" is not name=value/],
    ['bps=10Mi', /"bps" is not a limit; accepted names: total_bytes_sec, read_bytes_sec/],
    ['total_bytes_sec=fast', /total_bytes_sec: "fast" is not accepted; use a quantity of bytes per second such as "10Mi"/],
    ['read_iops_sec=1.5', /read_iops_sec: "1.5" is not accepted; IOPS are whole numbers/],
    ['read_iops_sec=2Ki', /read_iops_sec: "2Ki" is not accepted; IOPS are whole numbers/],
    ['total_iops_sec=10,total_iops_sec=20', /total_iops_sec is given twice/],
    ['total_iops_sec=10,read_iops_sec=5', /total_iops_sec cannot be combined with read_iops_sec or write_iops_sec/],
    ['read_bytes_sec_max=10Mi', /read_bytes_sec_max needs read_bytes_sec/],
    ['read_bytes_sec=10Mi,read_bytes_sec_max=5Mi', /read_bytes_sec_max \(5242880\) is lower than read_bytes_sec \(10485760\)/],
    ['read_bytes_sec=1Mi,read_bytes_sec_max_length=5', /read_bytes_sec_max_length needs read_bytes_sec_max/],
    ['read_bytes_sec=1Mi,read_bytes_sec_max=2Mi,read_bytes_sec_max_length=0', /read_bytes_sec_max_length: "0" is not accepted; use whole seconds >= 1/],
    ['total_bytes_sec=2P', /total_bytes_sec: 2000000000000000 is over QEMU's maximum of 1000000000000000/],
  ];
  for (const [text, message] of bad) {
    it(`rejects ${JSON.stringify(text)} saying what is accepted`, () => {
      const r = parseIoLimits(text);
      expect(r).to.have.property('error').that.matches(message);
    });
  }

  it('annotation errors name the annotation; unknown disks list the VM\'s disks', () => {
    const read = (a: Record<string, string>) => () => readSettings(a, 512 * Mi, undefined, ['data', 'rootdisk']);
    expect(read({ 'kubemom.io/io-limits.data': 'total_iops_sec=x' })).to.throw('vmi.metadata.annotations["kubemom.io/io-limits.data"]: total_iops_sec: "x" is not accepted');
    expect(read({ 'kubemom.io/io-limits.other': 'total_iops_sec=10' })).to.throw('vmi.metadata.annotations["kubemom.io/io-limits.other"]: the VM has no disk "other"; its disks are: data, rootdisk');
    expect(read({ 'kubemom.io/io-limits.': 'total_iops_sec=10' })).to.throw(/"" is not a disk name/);
    expect(read({ 'kubemom.io/io-throttle': '1' })).to.throw('vmi.metadata.annotations["kubemom.io/io-throttle"]: "1" is not accepted; use "true" or "false"');
    expect(read({ 'kubemom.io/iolimits': 'x' })).to.throw(/is not a KubeMom annotation; accepted keys: .*kubemom\.io\/io-limits\.<disk>, kubemom\.io\/io-throttle/);
    const s = readSettings({ 'kubemom.io/io-limits.data': 'total_iops_sec=10', 'kubemom.io/io-throttle': 'true' }, 512 * Mi, undefined, ['data']);
    expect(s.ioLimits).to.deep.equal({ data: { total_iops_sec: 10 } });
    expect(s.ioThrottle).to.equal(true);
    expect(readSettings({}, 512 * Mi, undefined).ioThrottle).to.equal(false);
  });
});

describe('IO limits: owner and policy combined', () => {
  it('takes the lower of each rate; a policy never lifts an owner limit', () => {
    expect(combineIoLimits({ total_bytes_sec: 10 * Mi }, { total_bytes_sec: 2 * Mi })).to.deep.equal({ total_bytes_sec: 2 * Mi });
    expect(combineIoLimits({ total_bytes_sec: 1 * Mi }, { total_bytes_sec: 2 * Mi })).to.deep.equal({ total_bytes_sec: 1 * Mi });
    expect(combineIoLimits({ total_bytes_sec: 1 * Mi }, {})).to.deep.equal({ total_bytes_sec: 1 * Mi });
    expect(combineIoLimits({}, { read_iops_sec: 100 })).to.deep.equal({ read_iops_sec: 100 });
  });
  it('a total meeting per-direction rates caps each direction; bursts survive only on rates the policy did not lower', () => {
    const owner: IoLimits = { read_iops_sec: 5000, write_iops_sec: 300, write_iops_sec_max: 800, write_iops_sec_max_length: 5, read_iops_sec_max: 9000 };
    expect(combineIoLimits(owner, { total_iops_sec: 1000 })).to.deep.equal({ read_iops_sec: 1000, write_iops_sec: 300, write_iops_sec_max: 800, write_iops_sec_max_length: 5 });
    expect(combineIoLimits({ total_bytes_sec: 4 * Mi }, { write_bytes_sec: Mi })).to.deep.equal({ read_bytes_sec: 4 * Mi, write_bytes_sec: Mi });
  });
  it('property: the combination is always a configuration QEMU accepts, and never looser than either side', () => {
    const rate = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1e9 }));
    const policy = fc.record({ total_bytes_sec: rate, total_iops_sec: rate }).chain((t) =>
      fc.record({ read_bytes_sec: t.total_bytes_sec ? fc.constant(0) : rate, write_bytes_sec: t.total_bytes_sec ? fc.constant(0) : rate, read_iops_sec: t.total_iops_sec ? fc.constant(0) : rate, write_iops_sec: t.total_iops_sec ? fc.constant(0) : rate }).map((rw) => ({ ...t, ...rw })),
    );
    const owner = policy.chain((base) => fc.record({ burst: fc.integer({ min: 0, max: 3 }) }).map(({ burst }) => {
      const o: IoLimits = { ...base };
      for (const f of IO_RATE_FIELDS) if (o[f]) { o[`${f}_max`] = o[f]! * (1 + burst); if (burst) o[`${f}_max_length`] = burst; }
      return o;
    }));
    fc.assert(
      fc.property(owner, policy, (o, p) => {
        const c = combineIoLimits(o, p);
        expect(checkIoLimits(c)).to.equal(undefined);
        for (const kind of ['bytes', 'iops'] as const) {
          // Whatever each side allowed in one direction, the result allows no more.
          for (const dir of ['read', 'write'] as const) {
            const allowed = (l: IoLimits) => Math.min(l[`${dir}_${kind}_sec`] || Infinity, l[`total_${kind}_sec`] || Infinity);
            expect(allowed(c)).to.be.at.most(Math.min(allowed(o), allowed(p)));
          }
        }
      }),
    );
  });
  it('QMP arguments carry all six rates, and bursts only when set', () => {
    expect(qmpThrottleArguments('/machine/peripheral/ua-data/virtio-backend', { total_bytes_sec: Mi, read_iops_sec: 5, read_iops_sec_max: 10, read_iops_sec_max_length: 3 })).to.deep.equal({
      id: '/machine/peripheral/ua-data/virtio-backend', bps: Mi, bps_rd: 0, bps_wr: 0, iops: 0, iops_rd: 5, iops_wr: 0, iops_rd_max: 10, iops_rd_max_length: 3,
    });
  });
});

describe('IO limits: finding the disks', () => {
  it("reads the VMI's disks from the domain's ua- aliases", () => {
    const xml = readFileSync(path.join(packageRoot, 'fixtures', 'kubevirt-domain.xml'), 'utf8');
    const names = domainDisks(parseDomain(xml).domain).map((d) => d.name);
    expect(names).to.include.members(['myvolume', 'nocloud', 'cdrom_tray_open']);
  });
  it("matches QEMU's qdev (id or QOM path) to the alias, never a prefix of another disk's", () => {
    expect(qdevMatches('/machine/peripheral/ua-data/virtio-backend', 'ua-data')).to.equal(true);
    expect(qdevMatches('ua-data', 'ua-data')).to.equal(true);
    expect(qdevMatches('/machine/peripheral/ua-data2/virtio-backend', 'ua-data')).to.equal(false);
    expect(qdevMatches(undefined, 'ua-data')).to.equal(false);
    const m = matchDisks(
      [{ device: '', qdev: '/machine/peripheral/ua-data2/virtio-backend' }, { device: '', qdev: '/machine/peripheral/ua-data/virtio-backend', inserted: {} }],
      [{ name: 'data', alias: 'ua-data', device: 'disk' }, { name: 'gone', alias: 'ua-gone', device: 'disk' }],
    );
    expect(m.get('data')?.qdev).to.equal('/machine/peripheral/ua-data/virtio-backend');
    expect(m.has('gone')).to.equal(false);
  });
  it('reads CPU quantities as millicores', () => {
    expect(parseCpuMillicores('500m')).to.deep.equal({ value: 500 });
    expect(parseCpuMillicores('2')).to.deep.equal({ value: 2000 });
    expect(parseCpuMillicores('1.5')).to.deep.equal({ value: 1500 });
    expect(parseCpuMillicores('two')).to.deep.equal({ error: '"two" is not a CPU quantity such as "2", "1.5" or "500m"' });
  });
});
