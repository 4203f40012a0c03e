/**
 * Policy cycle cost: one replay of 1000 cycles with 100 guests through each shipped
 * policy, printed as time per cycle and as a ratio to `mom` measured in the same run.
 *
 * Usage: node dist/bench/policy-cycle.js
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../src/common/paths.js';
import { createPolicy } from '../src/policy/registry.js';
import { parseReplay, runReplay } from '../src/policy/replay.js';

const GUESTS = 100;
const CYCLES = 1000;
const guests: Record<string, object> = {};
for (let i = 0; i < GUESTS; i++) guests[`vm${i}`] = { balloon_cur: 4194304, balloon_max: 4194304, balloon_min: 1048576, mem_unused: 2000000 + i, mem_usable: 2500000 };
const steps: object[] = [{
  host: { mem_available: 268435456, mem_free: 40000000, mem_unused: 20000000, mem_usable: 30000000, ksm_run: 0, ksm_pages_shared: 0, ksm_pages_to_scan: 100, ksm_sleep_millisecs: 10, ksm_merge_across_nodes: 1, ksm_shareable: 400000000 },
  guests,
}];
for (let i = 1; i < CYCLES; i++) steps.push({ host: { mem_free: 40000000 + (i % 7) * 1000000, mem_usable: 10000000 + (i % 13) * 1000000 } });
const replay = parseReplay({ parameters: { balloonEnabled: true }, feedback: true, steps });
const read = (f: string): string => readFileSync(path.join(packageRoot, f), 'utf8');

const results: Array<[string, number]> = [];
for (const spec of ['mom', 'policies/mom.yaml', 'default', 'examples/lifecycle.yaml']) {
  const policy = createPolicy(spec, spec === 'examples/lifecycle.yaml' ? {} : { balloonEnabled: true }, read);
  runReplay(replay, policy); // warm-up
  const start = process.hrtime.bigint();
  runReplay(replay, policy);
  results.push([spec, Number(process.hrtime.bigint() - start) / 1e6 / CYCLES]);
}
const base = results[0]![1];
for (const [spec, ms] of results) console.log(`${spec.padEnd(26)} ${ms.toFixed(3)} ms/cycle (${GUESTS} guests)  ${(ms / base).toFixed(2)}x mom`);
