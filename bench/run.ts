/**
 * Runs every bench in sequence (`npm run bench`). Each bench is also runnable alone:
 *   node dist/bench/xml-rewrite.js [--iterations N]
 *   node dist/bench/ondefinedomain-latency.js [--iterations N]
 *   node dist/bench/sidecar-memory.js [--calls N] [--only SUBSTRING]
 *
 * Figures are printed, with ratios against a baseline measured in the same run;
 * nothing is asserted (see docs/benchmarks.md for what to expect).
 */
import os from 'node:os';
import { runLatencyBench } from './ondefinedomain-latency.js';
import { runMemoryBench } from './sidecar-memory.js';
import { runXmlRewriteBench } from './xml-rewrite.js';

const benches: [string, () => Promise<void>][] = [
  ['xml-rewrite', async () => runXmlRewriteBench()],
  ['ondefinedomain-latency', () => runLatencyBench()],
  ['sidecar-memory', () => runMemoryBench()],
];

const cpus = os.cpus();
console.log(`# KubeMom benches: node ${process.version}, ${cpus.length} x ${cpus[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`);
for (const [name, run] of benches) {
  const started = Date.now();
  await run();
  console.log(`(${name}: ${((Date.now() - started) / 1000).toFixed(0)} s)`);
}
