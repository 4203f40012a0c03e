/**
 * Density, reaction and harm of every policy on every shipped scenario, in one run,
 * printed as ratios against `mom`.
 *
 * - density: the largest overcommit (sum of guest memory / node memory) at which the
 *   scenario runs to its end with no guest OOM, host OOM or kubelet eviction; found by
 *   growing the scenario's guest count (groups interleaved in proportion) until it
 *   fails, then a binary search between the last pass and the first failure.
 * - reaction: at the scenario's own load, seconds from node pressure (available memory
 *   under the reserve) until the node is back above the reserve; the worst episode.
 * - harm: at the scenario's own load, guest swap-in and time ballooned under need.
 * - floor bound: the density no policy passes without pushing guests into swap, where
 *   every guest holds only its floor
 *   (guaranteed memory, need + margin, or what it touches if less), and how long those
 *   floors alone keep the node under its reserve at the scenario's own load.
 *
 * Usage: node dist/bench/density.js [--json] [--seed N] [--policy P ...] [scenario.yaml ...]
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../src/common/paths.js';
import { resolveSimPolicy, simPolicyNames } from '../src/sim/policies.js';
import { guestCount, parseScenario, type Scenario } from '../src/sim/scenario.js';
import { simulate, type SimResult } from '../src/sim/simulator.js';
import { floorBound, floorBoundGuests } from '../src/sim/floor-bound.js';

const MiB = 2 ** 20;
const PREFERRED = ['static', 'mom', 'autoballoon', 'default'];

interface PolicyFigures {
  policy: string;
  densityGuests: number;
  density: number;
  /** What ended the first failing run above the density. */
  limitedBy: string;
  searchRuns: number;
  atLoad: { survived: boolean; failures: SimResult['failures']; reactionWorstSeconds: number; reactionUnresolved: number; episodes: number; swapInMiB: number; underNeedSeconds: number; autodeflates: number };
}

function survives(s: Scenario, policy: string, n: number, seed: number | undefined): SimResult {
  return simulate(s, resolveSimPolicy(policy), { guests: n, stopOnFailure: true, timeline: false, ...(seed === undefined ? {} : { seed }) });
}

function failureOf(r: SimResult): string {
  const first = r.incidents.find((i) => i.kind !== 'autodeflate');
  return first ? `${first.kind} at ${first.atSeconds.toFixed(0)}s` : 'none';
}

function densityOf(s: Scenario, policy: string, seed: number | undefined): { n: number; limitedBy: string; runs: number } {
  const cap = Math.max(8 * guestCount(s), 64);
  let runs = 0;
  let pass = 0;
  let fail = 0;
  let failRun: SimResult | undefined;
  // Grow until the first failure.
  for (let n = Math.max(1, Math.floor(guestCount(s) / 2)); n <= cap; n = Math.ceil(n * 1.5)) {
    runs++;
    const r = survives(s, policy, n, seed);
    if (r.survived) pass = n;
    else {
      fail = n;
      failRun = r;
      break;
    }
  }
  if (fail === 0) return { n: pass, limitedBy: `no failure up to ${cap} guests`, runs };
  // Bisect between the largest load that ran to its end (0 when even the first failed) and the first that did not.
  let lo = pass;
  let hi = fail;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    runs++;
    const r = survives(s, policy, mid, seed);
    if (r.survived) lo = mid;
    else {
      hi = mid;
      failRun = r;
    }
  }
  return { n: lo, limitedBy: failRun ? failureOf(failRun) : '', runs };
}

function overcommitAt(s: Scenario, n: number): number {
  if (n === 0) return 0;
  return simulate({ ...s, durationMs: s.tickMs }, resolveSimPolicy('static'), { guests: n, timeline: false }).overcommit;
}

function ratio(a: number, b: number): string {
  if (b === 0) return a === 0 ? '1.00x' : 'inf';
  return `${(a / b).toFixed(2)}x`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

function main(): void {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  let seed: number | undefined;
  const policies: string[] = [];
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--json') continue;
    if (a === '--seed') seed = Number(args[++i]);
    else if (a === '--policy') policies.push(args[++i]!);
    else files.push(a);
  }
  const known = simPolicyNames();
  const chosen = policies.length ? policies : PREFERRED.filter((p) => known.includes(p));
  const missing = PREFERRED.filter((p) => !known.includes(p));
  const scenarioFiles = files.length ? files : readdirSync(path.join(packageRoot, 'scenarios')).filter((f) => f.endsWith('.yaml')).sort().map((f) => path.join(packageRoot, 'scenarios', f));

  const report: { scenario: string; nodeGiB: number; loadGuests: number; loadOvercommit: number; bound: { guests: number; density: number; loadUnderReserveLongestSeconds: number }; policies: PolicyFigures[] }[] = [];
  for (const file of scenarioFiles) {
    const s = parseScenario(readFileSync(file, 'utf8'), file);
    const figures: PolicyFigures[] = [];
    for (const policy of chosen) {
      const d = densityOf(s, policy, seed);
      const load = simulate(s, resolveSimPolicy(policy), { timeline: false, ...(seed === undefined ? {} : { seed }) });
      figures.push({
        policy,
        densityGuests: d.n,
        density: overcommitAt(s, d.n),
        limitedBy: d.limitedBy,
        searchRuns: d.runs,
        atLoad: {
          survived: load.survived,
          failures: load.failures,
          reactionWorstSeconds: load.reaction.worstSeconds,
          reactionUnresolved: load.reaction.unresolved,
          episodes: load.reaction.episodes.length,
          swapInMiB: load.harm.swapInBytes / MiB,
          underNeedSeconds: load.harm.underNeedSeconds,
          autodeflates: load.harm.autodeflates,
        },
      });
      if (!json) process.stderr.write(`.`);
    }
    const load = simulate({ ...s, durationMs: s.tickMs }, resolveSimPolicy('static'), { timeline: false });
    const seeded = seed === undefined ? s : { ...s, seed };
    const boundGuests = floorBoundGuests(seeded, Math.max(8 * guestCount(s), 64));
    const bound = { guests: boundGuests, density: overcommitAt(s, boundGuests), loadUnderReserveLongestSeconds: floorBound(seeded).longestUnderReserveSeconds };
    report.push({ scenario: s.name, nodeGiB: s.node.memoryBytes / 2 ** 30, loadGuests: guestCount(s), loadOvercommit: load.overcommit, bound, policies: figures });
  }
  if (!json) process.stderr.write('\n');
  if (json) {
    process.stdout.write(JSON.stringify({ seed: seed ?? 'scenario', policies: chosen, missing, scenarios: report }, null, 2) + '\n');
    return;
  }
  if (missing.length) process.stdout.write(`not in this build (skipped): ${missing.join(', ')}\n\n`);
  for (const sc of report) {
    const mom = sc.policies.find((p) => p.policy === 'mom');
    process.stdout.write(`${sc.scenario} (${sc.nodeGiB} GiB node; reaction and harm at its own load: ${sc.loadGuests} guests, ${sc.loadOvercommit.toFixed(2)}x)\n`);
    const rows = [['policy', 'density', 'guests', 'vs mom', 'limited by', 'load result', 'worst reaction s', 'vs mom', 'swap-in MiB', 'under need s', 'autodeflates']];
    for (const p of sc.policies) {
      const react = p.atLoad.episodes === 0 ? '-' : `${p.atLoad.reactionWorstSeconds.toFixed(1)}${p.atLoad.reactionUnresolved ? '+' : ''}`;
      const f = p.atLoad.failures;
      rows.push([
        p.policy,
        `${p.density.toFixed(2)}x`,
        String(p.densityGuests),
        mom ? ratio(p.density, mom.density) : '-',
        p.limitedBy,
        p.atLoad.survived ? 'survived' : `oom ${f.guestOom}/host ${f.hostOom}/evict ${f.evictions}`,
        react,
        mom && mom.atLoad.episodes > 0 && p.atLoad.episodes > 0 ? ratio(p.atLoad.reactionWorstSeconds, mom.atLoad.reactionWorstSeconds) : '-',
        p.atLoad.swapInMiB.toFixed(0),
        p.atLoad.underNeedSeconds.toFixed(0),
        String(p.atLoad.autodeflates),
      ]);
    }
    const under = sc.bound.loadUnderReserveLongestSeconds;
    process.stdout.write(`${table(rows)}\nfloor bound: ${sc.bound.density.toFixed(2)}x (${sc.bound.guests} guests)${under > 0 ? `; at its own load the floors alone keep the node under its reserve for up to ${under.toFixed(0)} s` : ''}\n\n`);
  }
  const def = chosen.includes('default');
  if (def) {
    process.stdout.write('goals (default policy):\n');
    for (const sc of report) {
      const get = (n: string) => sc.policies.find((p) => p.policy === n);
      const d = get('default')!;
      const st = get('static');
      const mo = get('mom');
      const dens15 = st ? d.density >= 1.5 * st.density : undefined;
      const beatsMom = mo ? d.density > mo.density : undefined;
      const fast = d.atLoad.episodes === 0 || (d.atLoad.reactionWorstSeconds <= 2 && d.atLoad.reactionUnresolved === 0);
      // Why a goal is out of reach when no policy could meet it on this scenario.
      const b = sc.bound;
      const beyond = (goal: number) => (goal > b.density + 1e-9 ? ` (needs ${goal.toFixed(2)}x, over the floor bound ${b.density.toFixed(2)}x)` : '');
      const slow = !fast && b.loadUnderReserveLongestSeconds > 2 ? ` (the floors alone stay under the reserve for ${b.loadUnderReserveLongestSeconds.toFixed(0)} s)` : '';
      process.stdout.write(
        `  ${sc.scenario}: density >= 1.5x static: ${dens15 ? 'yes' : `NO${st ? beyond(1.5 * st.density) : ''}`}; density > mom: ${beatsMom ? 'yes' : `NO${mo && mo.density >= b.density - 1e-9 ? ` (mom is at the floor bound ${b.density.toFixed(2)}x)` : ''}`}; ` +
          `reacts within 2 s: ${fast ? 'yes' : `NO${slow}`}${mo && mo.atLoad.episodes ? ` (mom ${mo.atLoad.reactionWorstSeconds.toFixed(1)} s)` : ''}\n`,
      );
    }
  }
}

main();
