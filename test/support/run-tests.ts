/**
 * Runs the mocha suites and ends with the one line CI reads: "N passed, N failed".
 *
 * Usage: node dist/test/support/run-tests.js [--unit | --real] [FILTER ...]
 *   (no flag)  every dist/test/**\/*.test.js: the full suite, `npm test`
 *   --unit     only the files that need no real part (no `real-` prefix): `npm run test:unit`; its files run in
 *              KUBEMOM_TEST_JOBS worker processes (default 3; 1 runs them in this process)
 *   --real     only the `real-*.test.js` files (root, libvirt, QEMU, node-exporter, KSM, cgroups, buildah)
 *   FILTER     keeps the files whose path contains one of the substrings
 *
 * Every fast-check property runs with one seed, printed first: fixed under CI, fresh otherwise; KUBEMOM_FUZZ_SEED=N
 * replays a run's inputs (test/support/fuzz-seed.ts).
 *
 * The summary line is printed whatever happens (a file that fails to load counts as a failure), and the exit
 * status is non-zero on any failure or when nothing ran.
 */
import fc from 'fast-check';
import Mocha from 'mocha';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../../src/common/paths.js';
import { fuzzSeed } from './fuzz-seed.js';
import { findTestFiles, hasSource, selectTestFiles, type TestSelection } from './test-files.js';

// In-process components log at warn unless asked otherwise, so the report stays readable.
process.env.KUBEMOM_LOG_LEVEL ??= 'warn';

const compiledTests = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// KUBEMOM_TEST_DIR: another directory of compiled tests, with no sources to check (the runner's own test uses it).
const testRoot = process.env['KUBEMOM_TEST_DIR'] ? path.resolve(process.env['KUBEMOM_TEST_DIR']) : compiledTests;

function summary(passed: number, failed: number, pending = 0): void {
  process.stdout.write(`\n${passed} passed, ${failed} failed${pending ? `, ${pending} skipped` : ''}\n`);
}

/** Worker processes for a unit run: KUBEMOM_TEST_JOBS (1 = serial), 3 by default. */
function testJobs(value: string | undefined): number {
  if (value === undefined || value === '') return 3;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 32) {
    process.stderr.write(`run-tests: KUBEMOM_TEST_JOBS=${JSON.stringify(value)}: expected a whole number from 1 to 32\n`);
    summary(0, 1);
    process.exit(2);
  }
  return n;
}

function parseArgs(argv: string[]): { selection: TestSelection; filters: string[] } {
  let selection: TestSelection = 'all';
  const filters: string[] = [];
  for (const arg of argv) {
    if (arg === '--unit') selection = 'unit';
    else if (arg === '--real') selection = 'real';
    else if (arg.startsWith('--')) {
      process.stderr.write(`run-tests: unknown option ${arg} (accepted: --unit, --real, then path substrings)\n`);
      summary(0, 1);
      process.exit(2);
    } else filters.push(arg);
  }
  return { selection, filters };
}

const { selection, filters } = parseArgs(process.argv.slice(2));

let seed: ReturnType<typeof fuzzSeed>;
try {
  seed = fuzzSeed(process.env);
} catch (error) {
  process.stderr.write(`run-tests: ${(error as Error).message}\n`);
  summary(0, 1);
  process.exit(2);
}
fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: seed.seed });
process.stdout.write(`fast-check seed ${seed.seed} (${seed.source}); replay with KUBEMOM_FUZZ_SEED=${seed.seed}\n`);
const compiled = findTestFiles(testRoot);
const stale = testRoot === compiledTests ? compiled.filter((f) => !hasSource(f, testRoot, path.join(packageRoot, 'test'))) : [];
for (const f of stale) process.stderr.write(`run-tests: skipping ${path.relative(packageRoot, f)}: its source is gone (renamed or deleted)\n`);
const files = selectTestFiles(compiled.filter((f) => !stale.includes(f)), selection, filters);

// The real-VM test bed is set up by the first suite that needs it and torn down once, after all suites (a root
// hook). Only real-* files use it, so a unit run never loads it.
const needsTestbed = files.some((f) => path.basename(f).startsWith('real-'));
const rootHooks = needsTestbed ? (await import('../../testbed/testbed.js')).testbedRootHooks : undefined;

// A unit run spreads its files over worker processes: most of its time is spent waiting for events (a sidecar's
// deadline, a child process), not computing. Real runs stay serial: they share the test bed, KSM and libvirt.
const jobs = selection === 'unit' && files.length > 1 ? testJobs(process.env['KUBEMOM_TEST_JOBS']) : 1;
const parallel = jobs > 1;
process.env['KUBEMOM_FUZZ_SEED'] = String(seed.seed); // for the workers (fuzz-setup.js)
const mocha = new Mocha({
  reporter: 'spec',
  timeout: 120_000,
  slow: 5_000,
  ...(rootHooks ? { rootHooks } : {}),
  ...(parallel ? { parallel: true, jobs, require: [path.join(path.dirname(fileURLToPath(import.meta.url)), 'fuzz-setup.js')] } : {}),
});
for (const file of files) mocha.addFile(file);
try {
  if (!parallel) await mocha.loadFilesAsync();
} catch (error) {
  // A syntax error or a throwing import in one file: say which, and still end with the summary line.
  process.stderr.write(`run-tests: a test file failed to load: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  summary(0, 1);
  process.exit(1);
}
const runner = mocha.run((failures) => {
  const stats = runner.stats;
  const passed = stats?.passes ?? 0;
  const failed = stats?.failures ?? failures;
  summary(passed, failed, stats?.pending ?? 0);
  // Exit explicitly: a leaked handle must not hang CI after the summary line.
  process.exit(failed > 0 || passed === 0 ? 1 : 0);
});
