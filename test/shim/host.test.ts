/**
 * Host signal readers: Prometheus text, node-exporter failure modes, /proc parsers, eviction flags, ksmd.
 * A real node-exporter's scrape: real-node-exporter.test.ts.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { InputError } from '../../src/common/errors.js';
import { logger } from '../../src/common/log.js';
import { parseEvictionThreshold, thresholdBytes } from '../../src/shim/host/eviction.js';
import { HostMonitor } from '../../src/shim/host/host-monitor.js';
import { cpuSecondsFromStat, findKernelThread, KsmdCpuMeter } from '../../src/shim/host/ksmd-cpu.js';
import { hostSampleFromMeminfo, parseMeminfo, parsePsi, readMeminfo } from '../../src/shim/host/meminfo.js';
import { ScrapeError, scrapeNodeExporter, snapshotFromSamples } from '../../src/shim/host/node-exporter.js';
import { parsePromText, PromTextError } from '../../src/shim/host/prom-text.js';
import { freePort } from './support.js';

const GOOD = [
  '# HELP node_memory_MemTotal_bytes Memory information field MemTotal_bytes.',
  '# TYPE node_memory_MemTotal_bytes gauge',
  'node_memory_MemTotal_bytes 2.5276502016e+10',
  'node_memory_MemFree_bytes 1e9',
  'node_memory_MemAvailable_bytes 2e9',
  'node_memory_Buffers_bytes 1000',
  'node_memory_Cached_bytes 5000',
  'node_memory_AnonPages_bytes 7000',
  'node_memory_SwapTotal_bytes 0',
  'node_memory_SwapFree_bytes 0',
  'node_ksmd_run 1',
  'node_ksmd_sleep_seconds 0.02',
  'node_ksmd_full_scans_total 3',
  'node_cpu_seconds_total{cpu="0",mode="idle"} 123.5 1700000000000',
  'weird{a="x\\"y\\\\z\\n",b=""} NaN',
  'infinite +Inf',
  '',
].join('\n');

async function serve(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/metrics`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('shim host signals', function () {
  describe('Prometheus text parser', () => {
    it('parses samples, labels with escapes, special values and timestamps, skipping comments', () => {
      const samples = parsePromText(GOOD);
      expect(samples).to.have.length(14);
      expect(samples[0]).to.deep.include({ name: 'node_memory_MemTotal_bytes', value: 25276502016 });
      const cpu = samples.find((s) => s.name === 'node_cpu_seconds_total')!;
      expect({ ...cpu.labels }).to.deep.equal({ cpu: '0', mode: 'idle' });
      expect(cpu.timestampMs).to.equal(1700000000000);
      const weird = samples.find((s) => s.name === 'weird')!;
      expect(weird.labels.a).to.equal('x"y\\z\n');
      expect(weird.value).to.be.NaN;
      expect(samples.find((s) => s.name === 'infinite')!.value).to.equal(Infinity);
    });

    it('names the line and the problem for malformed input', () => {
      const cases: Array<[string, RegExp]> = [
        ['ok 1\nbad{a="x} 1', /line 2: unterminated value for label a/],
        ['m{a="1",a="2"} 1', /duplicate label a/],
        ['m{a="\\q"} 1', /invalid escape/],
        ['m 12abc', /value "12abc" of m is not a number/],
        ['m', /no value for m/],
        ['m 1 2 3', /trailing text/],
        ['m 1 1.5', /timestamp "1.5" of m is not an integer/],
        ['9m 1', /expected a metric name/],
        ['m{=1} 1', /expected a label name/],
        ['m{a=1} 1', /expected a quoted value/],
        ['m{a="1" b="2"} 1', /expected "," or "}"/],
        [`m{${Array.from({ length: 70 }, (_, i) => `l${i}="v"`).join(',')}} 1`, /more than 64 labels/],
        [`m{a="${'x'.repeat(70_000)}"} 1`, /longer than/],
      ];
      for (const [text, problem] of cases) {
        expect(() => parsePromText(text), text.slice(0, 40)).to.throw(PromTextError, problem);
      }
    });

    it('is safe with hostile label names and never throws anything but PromTextError on arbitrary input', () => {
      const s = parsePromText('m{__proto__="x",constructor="y"} 1')[0]!;
      expect(s.labels.__proto__).to.equal('x');
      expect(({} as Record<string, unknown>).x).to.equal(undefined);
      fc.assert(
        fc.property(fc.string({ maxLength: 300 }), (text) => {
          try {
            parsePromText(text);
          } catch (error) {
            return error instanceof PromTextError;
          }
          return true;
        }),
        { numRuns: 3000 },
      );
      // Mutations of a valid exposition: parse or a precise error, never a crash.
      fc.assert(
        fc.property(fc.integer({ min: 0, max: GOOD.length - 1 }), fc.string({ minLength: 1, maxLength: 5 }), (at, insert) => {
          try {
            parsePromText(GOOD.slice(0, at) + insert + GOOD.slice(at));
          } catch (error) {
            return error instanceof PromTextError;
          }
          return true;
        }),
        { numRuns: 3000 },
      );
    });

  });

  describe('node-exporter failures', () => {
    it('refuses snapshots with missing or impossible memory values', () => {
      const samples = parsePromText(GOOD);
      expect(() => snapshotFromSamples(samples.filter((s) => s.name !== 'node_memory_MemAvailable_bytes'), 0)).to.throw(ScrapeError, /no node_memory_MemAvailable_bytes/);
      const impossible = parsePromText(GOOD.replace('node_memory_MemAvailable_bytes 2e9', 'node_memory_MemAvailable_bytes 9e99'));
      expect(() => snapshotFromSamples(impossible, 0)).to.throw(ScrapeError, /impossible/);
      const negative = parsePromText(GOOD.replace('node_memory_MemFree_bytes 1e9', 'node_memory_MemFree_bytes -5'));
      expect(() => snapshotFromSamples(negative, 0)).to.throw(ScrapeError, /MemFree_bytes is -5/);
    });

    it('classifies garbage, slowness, HTTP errors, oversize bodies and no listener', async () => {
      const garbage = await serve((_q, r) => r.end('<html>this is not prometheus</html>'));
      const slow = await serve(() => {
        /* never answers */
      });
      const error = await serve((_q, r) => {
        r.statusCode = 503;
        r.end('down');
      });
      const huge = await serve((_q, r) => {
        r.write('x'.repeat(2 ** 20));
        r.end('x'.repeat(2 ** 20));
      });
      const nobody = `http://127.0.0.1:${await freePort()}/metrics`;
      // A timeout no answer of a loaded machine reaches; the slow server never answers, so it still times out.
      const reason = async (url: string, extra: { maxBytes?: number } = {}): Promise<string> => {
        try {
          await scrapeNodeExporter({ url, timeoutMs: 3000, ...extra });
          return 'ok';
        } catch (e) {
          return (e as ScrapeError).reason;
        }
      };
      try {
        expect(await reason(garbage.url)).to.equal('garbage');
        expect(await reason(slow.url)).to.equal('timeout');
        expect(await reason(error.url)).to.equal('http-status');
        expect(await reason(huge.url, { maxBytes: 2 ** 20 })).to.equal('too-large');
        expect(await reason(nobody)).to.equal('unreachable');
      } finally {
        await Promise.all([garbage.close(), slow.close(), error.close(), huge.close()]);
      }
    });

    it('the host monitor falls back to /proc on garbage, with a reason, and never throws', async () => {
      let body = GOOD;
      const server = await serve((_q, r) => r.end(body));
      const fallbacks: string[] = [];
      const monitor = new HostMonitor(
        { meminfoFile: '/proc/meminfo', psiFile: '/proc/pressure/memory', vmstatFile: '/proc/vmstat', nodeExporterUrl: server.url, scrapePeriodMs: 60_000, scrapeTimeoutMs: 500 },
        logger('test'),
        { onScrape: (ok, _d, failure) => !ok && fallbacks.push(failure!) },
      );
      try {
        await monitor.start();
        expect(monitor.sample(Date.now(), false).memTotalBytes).to.equal(25276502016);
        expect(monitor.source).to.equal('node-exporter');
        // A pressure wake-up reads /proc even while node-exporter is fine.
        monitor.sample(Date.now(), true);
        expect(monitor.source).to.equal('proc');
        expect(monitor.fallbackReason).to.equal('pressure-fast-path');
        body = 'node_memory_MemTotal_bytes {{{';
        await monitor.scrape();
        const sample = monitor.sample(Date.now(), false);
        expect(monitor.source).to.equal('proc');
        expect(monitor.fallbackReason).to.equal('node-exporter-garbage');
        expect(sample.memTotalBytes).to.equal(parseMeminfo(readFileSync('/proc/meminfo', 'utf8')).get('MemTotal'));
        expect(fallbacks).to.deep.equal(['garbage']);
      } finally {
        monitor.stop();
        await server.close();
      }
    });
  });

  describe('/proc readers', () => {
    it('reads the real /proc/meminfo and /proc/pressure/memory', () => {
      const sample = readMeminfo('/proc/meminfo', 1);
      expect(sample.memTotalBytes).to.be.greaterThan(sample.memAvailableBytes);
      expect(sample.memTotalBytes % 1024).to.equal(0);
      const psi = parsePsi(readFileSync('/proc/pressure/memory', 'utf8'));
      expect(psi.someTotalUs).to.be.a('number');
      expect(psi.someTotalUs).to.be.at.least(psi.fullTotalUs);
      expect(() => hostSampleFromMeminfo(parseMeminfo('MemTotal: 1 kB\n'), 0)).to.throw(/no MemFree/);
      expect(() => parsePsi('garbage')).to.throw(/no "some/);
      // A kernel without the "full" line for the system still parses.
      expect(parsePsi('some avg10=1.50 avg60=0.00 avg300=0.00 total=42').fullTotalUs).to.equal(0);
    });

    it('finds the ksmd kernel thread and measures its CPU use', () => {
      const pid = findKernelThread('/proc', 'ksmd');
      expect(pid).to.be.a('number');
      expect(cpuSecondsFromStat('12 (we ird) comm) S 2 0 0 0 -1 0 0 0 0 0 150 50 0 0')).to.equal(2);
      const meter = new KsmdCpuMeter('/proc');
      expect(meter.sample(1000)).to.equal(undefined);
      const second = meter.sample(2000);
      expect(second).to.be.a('number');
      expect(second).to.be.at.least(0);
    });
  });

  describe('kubelet eviction thresholds', () => {
    it('accepts quantities and percentages, ignores other signals', () => {
      expect(parseEvictionThreshold('--eviction-hard', 'memory.available<100Mi')).to.deep.equal({ kind: 'bytes', bytes: 100 * 2 ** 20 });
      expect(parseEvictionThreshold('--eviction-hard', 'nodefs.available<10%, memory.available<5%')).to.deep.equal({ kind: 'percent', percent: 5 });
      expect(parseEvictionThreshold('--eviction-hard', 'nodefs.available<10%')).to.equal(undefined);
      expect(thresholdBytes({ kind: 'percent', percent: 5 }, 1000)).to.equal(50);
      expect(thresholdBytes(undefined, 1000)).to.equal(0);
    });

    it('names the flag and what is accepted', () => {
      for (const [text, problem] of [
        ['memory.available>100Mi', /use signal<quantity/],
        ['memory.available<5Gx', /"5Gx" is not accepted.*percentage/],
        ['memory.available<150%', /between 0% and 100%/],
        ['memory.available<%', /between 0% and 100%/],
      ] as const) {
        expect(() => parseEvictionThreshold('--eviction-hard', text)).to.throw(InputError, problem).with.property('field', '--eviction-hard');
      }
    });
  });
});
