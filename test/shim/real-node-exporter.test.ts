/** A real prometheus-node-exporter (with its ksmd collector) read by the shim's scraper. */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { parseMeminfo } from '../../src/shim/host/meminfo.js';
import { scrapeNodeExporter } from '../../src/shim/host/node-exporter.js';
import { freePort, NodeExporterProcess } from './support.js';

describe('node-exporter scrape (a real prometheus-node-exporter)', () => {
  it('parses a real node-exporter scrape into the host memory and KSM values', async function () {
    const exporter = new NodeExporterProcess(await freePort());
    await exporter.start();
    try {
      const snapshot = await scrapeNodeExporter({ url: exporter.url, timeoutMs: 10_000 });
      const proc = parseMeminfo(readFileSync('/proc/meminfo', 'utf8'));
      expect(snapshot.memory.memTotalBytes).to.equal(proc.get('MemTotal'));
      expect(snapshot.memory.memAvailableBytes).to.be.closeTo(proc.get('MemAvailable')!, 512 * 2 ** 20);
      expect(snapshot.ksm.run).to.equal(Number(readFileSync('/sys/kernel/mm/ksm/run', 'utf8')));
      expect(snapshot.ksm.sleep_millisecs).to.equal(Number(readFileSync('/sys/kernel/mm/ksm/sleep_millisecs', 'utf8')));
    } finally {
      await exporter.stop();
    }
  });
});
