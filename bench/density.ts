/**
 * The default policy's bar (issue 16), on every scenario in `scenarios/` (the shipped
 * ones and the adversarial set), seeds 1 to 5, for static, mom, autoballoon and default
 * at each scenario's own load:
 *
 * - survived: runs with no guest OOM, host OOM or kubelet eviction (of 5);
 * - incidents: guest OOMs + host OOMs + evictions over the five runs;
 * - flaps: a VM's target changing direction (moves of 64 MiB or more) per VM-hour,
 *   against the reversals of the VMs' own need (the same measure) per VM-hour;
 * - reaction: the worst time from the node falling under its reserve until back above
 *   it (`+`: a run ended under it);
 * - reclaimed: guest memory not backed by the node, averaged over the run and the seeds;
 * - floor bound: whether every guest at its floor (guaranteed, need + margin, or what it
 *   touches; a guest without stats keeps what it touches) plus the pods fits above the
 *   eviction threshold at every second of every seed (`beyond`: no policy that keeps
 *   guests out of swap can survive it), and the longest time those floors alone keep the
 *   node under its reserve.
 *
 * Then the bar, per scenario: default survives every seed mom or autoballoon survives,
 * no more incidents than mom, flaps <= 2x need reversals, reaction >= 10x faster than
 * mom, reclaimed >= mom on the seeds both survive.
 *
 * Usage: node dist/bench/density.js [--json] [--seeds 1,2,3,4,5] [--policy P ...] [scenario.yaml ...]
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../src/common/paths.js';
import { barCheck, policyRow, type PolicyRow } from '../src/sim/bar.js';
import { floorBound } from '../src/sim/floor-bound.js';
import { resolveSimPolicy, simPolicyNames } from '../src/sim/policies.js';
import { parseScenario } from '../src/sim/scenario.js';
import { simulate, type SimResult } from '../src/sim/simulator.js';

const GiB = 2 ** 30;
const PREFERRED = ['static', 'mom', 'autoballoon', 'default'];

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

function main(): void {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  let seeds = [1, 2, 3, 4, 5];
  const policies: string[] = [];
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--json') continue;
    if (a === '--seeds') seeds = args[++i]!.split(',').map(Number);
    else if (a === '--policy') policies.push(args[++i]!);
    else files.push(a);
  }
  const known = simPolicyNames();
  const chosen = policies.length ? policies : PREFERRED.filter((p) => known.includes(p));
  const scenarioFiles = files.length ? files : readdirSync(path.join(packageRoot, 'scenarios')).filter((f) => f.endsWith('.yaml')).sort().map((f) => path.join(packageRoot, 'scenarios', f));

  const report: Array<{ scenario: string; nodeGiB: number; overcommit: number; floorBeyond: boolean; floorUnderReserveSeconds: number; rows: PolicyRow[] }> = [];
  for (const file of scenarioFiles) {
    const s = parseScenario(readFileSync(file, 'utf8'), file);
    const rows: PolicyRow[] = [];
    let overcommit = 0;
    for (const policy of chosen) {
      const results: SimResult[] = seeds.map((seed) => simulate(s, resolveSimPolicy(policy), { seed, timeline: false }));
      overcommit = results[0]!.overcommit;
      rows.push(policyRow(policy, results));
      if (!json) process.stderr.write('.');
    }
    let beyond = false;
    let under = 0;
    for (const seed of seeds) {
      const b = floorBound({ ...s, seed });
      beyond ||= b.peakUsedBytes > s.node.memoryBytes - s.node.evictionHardBytes;
      under = Math.max(under, b.longestUnderReserveSeconds);
    }
    report.push({ scenario: s.name, nodeGiB: s.node.memoryBytes / GiB, overcommit, floorBeyond: beyond, floorUnderReserveSeconds: under, rows });
  }
  if (!json) process.stderr.write('\n');
  if (json) {
    const plain = report.map((r) => ({ ...r, rows: r.rows.map((x) => ({ ...x, reclaimedBySeed: Object.fromEntries(x.reclaimedBySeed) })), bar: barCheck(r.rows) }));
    process.stdout.write(JSON.stringify({ seeds, policies: chosen, scenarios: plain }, null, 2) + '\n');
    return;
  }
  const mean = (m: Map<number, number>) => [...m.values()].reduce((a, b) => a + b, 0) / Math.max(1, m.size);
  for (const policy of chosen) {
    process.stdout.write(`${policy} (seeds ${seeds.join(',')})\n`);
    const rows = [['scenario', 'overcommit', 'survived', 'incidents', 'flaps/VM-h', 'need rev/VM-h', 'worst reaction s', 'reclaimed GiB', 'floor bound']];
    for (const sc of report) {
      const r = sc.rows.find((x) => x.policy === policy)!;
      rows.push([
        sc.scenario,
        `${sc.overcommit.toFixed(2)}x`,
        `${r.survived}/${r.runs}`,
        String(r.incidents),
        r.flapsPerVmHour.toFixed(1),
        r.needReversalsPerVmHour.toFixed(1),
        r.worstReactionSeconds === 0 ? '-' : `${r.worstReactionSeconds.toFixed(1)}${r.unresolved ? '+' : ''}`,
        (mean(r.reclaimedBySeed) / GiB).toFixed(2),
        `${sc.floorBeyond ? 'beyond' : 'fits'}${sc.floorUnderReserveSeconds > 0 ? ` (${sc.floorUnderReserveSeconds.toFixed(0)} s under reserve)` : ''}`,
      ]);
    }
    process.stdout.write(`${table(rows)}\n\n`);
  }
  if (chosen.includes('default') && chosen.includes('mom')) {
    process.stdout.write('bar (default): survives what mom/autoballoon survive, incidents <= mom, flaps <= 2x need reversals, reaction >= 10x faster than mom, reclaimed >= mom\n');
    const rows = [['scenario', 'survives', 'incidents', 'flaps', 'reaction', 'reclaimed']];
    const yes = (b: boolean) => (b ? 'yes' : 'NO');
    for (const sc of report) {
      const c = barCheck(sc.rows)!;
      rows.push([sc.scenario + (sc.floorBeyond ? ' (beyond floor bound)' : ''), yes(c.survives), yes(c.incidents), yes(c.flaps), yes(c.reaction), yes(c.reclaimed)]);
    }
    process.stdout.write(`${table(rows)}\n`);
  }
}

main();
