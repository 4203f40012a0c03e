/**
 * The real node: the real-node script (testbed/real-node/script.ts) on real TCG guests
 * inside a kubelet-shaped memory cgroup tree, under `static` (no KubeMom), `mom` and
 * `default` in turn, with the real sidecars and the real shim; then the same script as a
 * simulator scenario (scenarios/real-node.yaml), and the simulator's error against the real
 * runs. Figures only, as ratios against static in the same run (docs/benchmarks.md, "Real node").
 *
 * Needs root, libvirt, QEMU and a memory cgroup controller. Run it under the real-guest lock, as
 * every command that starts guests:
 *   flock /tmp/kubemom-real.lock node dist/bench/real-node.js [--policy P ...] [--no-sim] [--json FILE]
 * --json writes every run's samples (the pods cgroup every 500 ms, the balloons and pods every 2 s) to FILE;
 *   node dist/bench/real-node.js --from-json FILE [--no-sim]
 * prints the table and the simulator's error again from such a file, without guests (and without the lock).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { Testbed } from '../testbed/testbed.js';
import { formatRealNodeReport } from '../testbed/real-node/report.js';
import { runRealNode, type RealNodePolicy, type RealNodeResult } from '../testbed/real-node/run.js';
import { REAL_NODE_SCRIPT } from '../testbed/real-node/script.js';
import { shimCgroupFlags } from '../testbed/real-node/shim-flags.js';
import { simulatorComparison } from '../testbed/real-node/sim-compare.js';

const POLICIES: readonly RealNodePolicy[] = ['static', 'mom', 'default'];

function policiesFromArgs(argv: string[]): RealNodePolicy[] {
  const picked: RealNodePolicy[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] !== '--policy') continue;
    const p = argv[i + 1] as RealNodePolicy;
    if (!POLICIES.includes(p)) throw new Error(`--policy: "${argv[i + 1] ?? ''}" is not one of ${POLICIES.join(', ')}`);
    picked.push(p);
  }
  return picked.length > 0 ? picked : [...POLICIES];
}

/** The table and the simulator's error from runs saved with --json (no guests needed). */
function reportSaved(file: string, withSim: boolean): void {
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { script: typeof REAL_NODE_SCRIPT; results: RealNodeResult[] };
  console.log(formatRealNodeReport(saved.results, saved.script.noisy.releaseSeconds - saved.script.noisy.atSeconds));
  if (withSim) {
    console.log();
    console.log(simulatorComparison(saved.results));
  }
}

export async function runRealNodeBench(argv: string[] = []): Promise<void> {
  const fromAt = argv.indexOf('--from-json');
  if (fromAt >= 0) {
    const file = argv[fromAt + 1];
    if (!file) throw new Error('--from-json: needs the file a --json run wrote');
    reportSaved(file, !argv.includes('--no-sim'));
    return;
  }
  const policies = policiesFromArgs(argv);
  const script = REAL_NODE_SCRIPT;
  const cpus = os.cpus();
  console.log(`## Real node: ${script.guests.length} TCG guests of ${script.guests.map((g) => g.memoryMiB).join('/')} MiB, pods cgroup ${script.kubepodsLimitMiB} MiB, evictionHard ${script.evictionHardMiB}Mi, ${script.durationSeconds} s per policy`);
  console.log(`machine: ${cpus.length} x ${cpus[0]?.model ?? 'unknown CPU'}, node ${process.version}`);
  const bed = await Testbed.setup();
  const results: RealNodeResult[] = [];
  try {
    for (const policy of policies) {
      const started = Date.now();
      const r = await runRealNode(bed, script, { policy, cgroupFlags: shimCgroupFlags(), log: (l) => console.log(`  [${policy}] ${l}`) });
      results.push(r);
      console.log(`  [${policy}] done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
  } finally {
    await bed.teardown();
  }
  const jsonAt = argv.indexOf('--json');
  if (jsonAt >= 0) {
    const file = argv[jsonAt + 1];
    if (!file) throw new Error('--json: needs a file to write the runs to');
    writeFileSync(file, JSON.stringify({ script, results }, null, 1));
  }
  console.log();
  console.log(formatRealNodeReport(results, script.noisy.releaseSeconds - script.noisy.atSeconds));
  console.log(`reserve ${(results[0]!.reserveBytes / 2 ** 20).toFixed(0)} MiB (the default policy's: evictionHard + max(512Mi, 5% of MemTotal)); times over the ${script.durationSeconds} s script`);
  if (!argv.includes('--no-sim')) {
    console.log();
    console.log(simulatorComparison(results));
  }
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) await runRealNodeBench(process.argv.slice(2));
