/**
 * The long version of test/reliability/soak.test.ts: thousands of VMs with churn and
 * random faults for hours of simulated time under the real policies, invariants checked
 * on every decision. Prints the figures beside the `static` policy (no ballooning) run on
 * the same scenario as the baseline; asserts nothing.
 *
 *   node dist/bench/soak.js [--vms 3000] [--minutes 240] [--policies default,mom]
 */
import { resolveSimPolicy } from '../src/sim/policies.js';
import { simulate } from '../src/sim/simulator.js';
import { churnScenario, soakPolicy } from '../src/sim/soak.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const vms = Number(arg('vms', '3000'));
const minutes = Number(arg('minutes', '240'));
const policies = arg('policies', 'default,mom').split(',');

function run(name: string): { wallS: number; heapMiB: number; line: string; evalMean: number } {
  const scenario = churnScenario(vms, minutes * 60, 11);
  const { sim, report } = soakPolicy(resolveSimPolicy(name), 7, { clock: () => performance.now() });
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  const result = simulate(scenario, sim, { timeline: false });
  const wallS = (performance.now() - started) / 1000;
  const heapMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
  const evalMean = report.totalEvaluationMs / Math.max(1, report.evaluations);
  const line =
    `${name}: ${result.guests} VMs, ${report.evaluations} cycles, ${report.decisions} decisions, ${report.faultsInjected} faults, ` +
    `violations ${report.violationCount}; eval mean ${evalMean.toFixed(2)} ms, max ${report.maxEvaluationMs.toFixed(1)} ms; ` +
    `state max ${report.maxStateChars} chars; wall ${wallS.toFixed(1)} s; heap ${heapMiB >= 0 ? '+' : ''}${heapMiB.toFixed(0)} MiB; ` +
    `incidents ${JSON.stringify(result.failures)}`;
  return { wallS, heapMiB, line, evalMean };
}

console.log(`# soak: ${vms} VMs, ${minutes} simulated minutes, churn and random faults`);
const base = run('static');
console.log(`baseline ${base.line}`);
for (const name of policies) {
  const r = run(name);
  console.log(`${r.line}; wall x${(r.wallS / base.wallS).toFixed(2)} of static`);
}
