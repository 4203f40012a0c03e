/**
 * The shim's loop against this machine's real parts: KSM sysfs (root) and a real prometheus-node-exporter.
 * The loop with simulated sidecars alone: loop.test.ts.
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Policy } from '../../src/policy/types.js';
import { Shim, type ShimOptions } from '../../src/shim/shim.js';
import { KubeletTree, waitFor } from './kubelet-tree.js';
import { freePort, metricValue, NodeExporterProcess, shimGet as get, TestSqueezePolicy, testShimOptions } from './support.js';

describe('shim loop on the real KSM sysfs and a real node-exporter', function () {
  let tree: KubeletTree;
  let shim: Shim<unknown> | undefined;
  const cleanups: Array<() => Promise<void>> = [];

  beforeEach(() => {
    tree = new KubeletTree();
  });
  afterEach(async () => {
    await shim?.stop();
    shim = undefined;
    for (const c of cleanups.splice(0)) await c();
    await tree.close();
  });

  async function startShim(policy: Policy<unknown>, overrides: Partial<ShimOptions> = {}): Promise<Shim<unknown>> {
    shim = new Shim(testShimOptions(tree.root, { rescanMs: 500, ...overrides }), policy);
    await shim.start();
    return shim;
  }

  it('applies the policy KSM settings to the real sysfs, only when changed, and restores them on stop', async () => {
    const read = (f: string): number => Number(readFileSync(`/sys/kernel/mm/ksm/${f}`, 'utf8'));
    const saved = { pages_to_scan: read('pages_to_scan'), sleep_millisecs: read('sleep_millisecs'), run: read('run') };
    const want = saved.pages_to_scan + 7;
    /** Test policy: asks KSM for pages_to_scan = found + 7, every cycle. */
    const ksmTestPolicy: Policy<null> = {
      name: 'test-ksm',
      initialState: () => null,
      evaluate: () => ({ decisions: { balloons: [], ksm: { pages_to_scan: want, sleep_millisecs: saved.sleep_millisecs } }, state: null }),
    };
    try {
      const s = await startShim(ksmTestPolicy as Policy<unknown>, { ksmDir: '/sys/kernel/mm/ksm' });
      expect(await waitFor(() => s.loop.cycles > 4)).to.equal(true);
      expect(read('pages_to_scan')).to.equal(want);
      const text = (await get(s.httpPort!, '/metrics')).text;
      // Written once, though asked for every cycle; sleep_millisecs already had the value.
      expect(metricValue(text, 'kubemom_ksm_writes_total{file="pages_to_scan"}')).to.equal(1);
      expect(metricValue(text, 'kubemom_ksm_writes_total{file="sleep_millisecs"}')).to.equal(undefined);
      expect(metricValue(text, 'kubemom_ksm_value{file="pages_to_scan"}')).to.equal(want);
      await s.stop();
      shim = undefined;
      expect(read('pages_to_scan')).to.equal(saved.pages_to_scan);
    } finally {
      for (const [file, value] of Object.entries(saved)) if (read(file) !== value) writeFileSync(`/sys/kernel/mm/ksm/${file}`, String(value));
    }
  });

  it('reads host memory from a real node-exporter, falls back to /proc when it hangs or stops, and returns to it', async function () {
    const exporter = new NodeExporterProcess(await freePort());
    await exporter.start();
    cleanups.push(() => exporter.stop());
    await tree.addVm('vm');
    const s = await startShim(new TestSqueezePolicy(0) as Policy<unknown>, { nodeExporterUrl: exporter.url, scrapeTimeoutMs: 2000 });
    expect(await waitFor(() => s.host.source === 'node-exporter'), 'uses node-exporter').to.equal(true);
    const cycle = s.lastCycle!;
    const host = cycle.input.host.history[cycle.input.host.history.length - 1]!;
    const procTotal = Number(/MemTotal:\s+([0-9]+)/.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024;
    expect(host.memTotalBytes).to.equal(procTotal);
    // node-exporter's ksmd collector feeds the KSM values when sysfs is not given.
    expect(cycle.input.host.ksm).to.have.property('pages_to_scan');
    // Hung: the scrape times out, the loop goes on with /proc without waiting for it.
    exporter.freeze(true);
    expect(await waitFor(() => s.host.source === 'proc'), 'falls back to /proc when node-exporter hangs').to.equal(true);
    // The snapshot may go stale before the hung scrape times out: wait for the timeout itself to be the reason.
    expect(await waitFor(() => s.host.fallbackReason === 'node-exporter-timeout'), `reason ${s.host.fallbackReason}`).to.equal(true);
    const hungCycles = s.loop.cycles;
    expect(await waitFor(() => s.loop.cycles > hungCycles + 3), 'loop not stalled by the hung exporter').to.equal(true);
    exporter.freeze(false);
    expect(await waitFor(() => s.host.source === 'node-exporter'), 'back after the hang').to.equal(true);
    await exporter.stop();
    expect(await waitFor(() => s.host.source === 'proc'), 'falls back to /proc').to.equal(true);
    const cyclesAtFallback = s.loop.cycles;
    expect(await waitFor(() => s.loop.cycles > cyclesAtFallback + 3), 'loop keeps running').to.equal(true);
    const text = (await get(s.httpPort!, '/metrics')).text;
    expect(metricValue(text, 'kubemom_shim_node_exporter_up')).to.equal(0);
    expect(metricValue(text, 'kubemom_shim_node_exporter_fallbacks_total{reason="unreachable"}')).to.be.at.least(1);
    expect(metricValue(text, 'kubemom_shim_node_exporter_fallbacks_total{reason="timeout"}')).to.be.at.least(1);
    expect(metricValue(text, 'kubemom_host_memory_source{source="proc"}')).to.equal(1);
    expect(await waitFor(() => s.host.fallbackReason === 'node-exporter-unreachable'), `reason ${s.host.fallbackReason}`).to.equal(true);
    await exporter.start();
    expect(await waitFor(() => s.host.source === 'node-exporter'), 'back to node-exporter').to.equal(true);
  });
});
