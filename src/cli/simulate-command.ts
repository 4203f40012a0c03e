/**
 * `kubemom simulate`: runs a scenario on the simulated node under one or more
 * policies and prints a summary per policy, or JSON, and optionally an SVG plot.
 */
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { InputError } from '../common/errors.js';
import { INPUT_LIMITS, readInputText } from '../common/read-input.js';
import { EXIT_OK, EXIT_PROBLEM } from './exit.js';
import { svgToPng } from '../sim/plot-png.js';
import { plotRuns } from '../sim/plot-svg.js';
import { resolveSimPolicy, simPolicyNames } from '../sim/policies.js';
import { parseScenario } from '../sim/scenario.js';
import { simulate, type SimResult } from '../sim/simulator.js';
import { summaryTable } from '../sim/summary.js';

export interface SimulateOptions {
  scenario: string;
  policy?: string[];
  json?: boolean;
  plot?: string;
  seed?: string;
  guests?: string;
}

/** A progress bar on stderr, only when stderr is a terminal. */
function progressBar(label: string): { update: (done: number) => void; end: () => void } {
  if (!process.stderr.isTTY) return { update: () => {}, end: () => {} };
  let last = -1;
  return {
    update(done) {
      const pct = Math.floor(done * 100);
      if (pct === last) return;
      last = pct;
      const width = 30;
      const full = Math.round(done * width);
      process.stderr.write(`\r${label} [${'#'.repeat(full)}${'.'.repeat(width - full)}] ${String(pct).padStart(3)}%`);
    },
    end() {
      process.stderr.write('\r\x1b[K');
    },
  };
}

function wholeNumber(text: string | undefined, field: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || n < min || n > max) throw new InputError(field, `is "${text}"; accepted: a whole number from ${min} to ${max}`);
  return n;
}

/** Runs the command; returns the process exit status. */
export function runSimulate(opts: SimulateOptions, out: (s: string) => void = (s) => process.stdout.write(s)): number {
  const text = readInputText(opts.scenario, '--scenario', INPUT_LIMITS.scenario);
  const scenario = parseScenario(text, opts.scenario);
  const policies = (opts.policy?.length ? opts.policy : ['default']).map((p) => resolveSimPolicy(p));
  const seed = wholeNumber(opts.seed, '--seed', 0, 2 ** 32 - 1);
  const guests = wholeNumber(opts.guests, '--guests', 1, 10_000);
  if (opts.plot !== undefined && !/\.(svg|png)$/i.test(opts.plot)) {
    throw new InputError('--plot', `is "${opts.plot}"; accepted: a file name ending in .svg or .png`);
  }
  const results: SimResult[] = [];
  for (const sp of policies) {
    const bar = scenario.durationMs / scenario.tickMs > 20_000 ? progressBar(`simulating ${scenario.name} under ${sp.name}`) : progressBar('');
    const runOpts: Parameters<typeof simulate>[2] = { onProgress: bar.update, timeline: opts.plot !== undefined || opts.json === true };
    if (seed !== undefined) runOpts.seed = seed;
    if (guests !== undefined) runOpts.guests = guests;
    results.push(simulate(scenario, sp, runOpts));
    bar.end();
  }
  if (opts.plot !== undefined) {
    const svg = plotRuns(results);
    writeFileSync(opts.plot, /\.png$/i.test(opts.plot) ? svgToPng(svg) : svg);
  }
  if (opts.json) out(JSON.stringify({ scenario: scenario.name, results }, null, 2) + '\n');
  else {
    out(summaryTable(results));
    if (opts.plot !== undefined) out(`plot written to ${opts.plot}\n`);
  }
  return results.every((r) => r.survived) ? EXIT_OK : EXIT_PROBLEM;
}

export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description('run a scenario on a simulated node under one or more policies and compare them')
    .requiredOption('--scenario <file>', 'scenario YAML file (see scenarios/ and docs/simulate.md)')
    .option('--policy <name>', `policy to run, repeatable (${simPolicyNames().join(', ')})`, (v: string, acc: string[] = []) => [...acc, v])
    .option('--json', 'print the full results as JSON')
    .option('--plot <file>', 'write a plot (.svg or .png) of node memory and every guest')
    .option('--seed <n>', "override the scenario's seed")
    .option('--guests <n>', "run with n guests drawn from the scenario's groups")
    .addHelpText('after', '\nExit status: 0 when every run survived, 1 when any had a guest OOM, host OOM or eviction, 2 on bad usage or input.')
    .action((opts: SimulateOptions) => {
      process.exitCode = runSimulate(opts);
    });
}
