/**
 * Runs the mocha suites and ends with the one line CI reads: "N passed, N failed".
 *
 * Usage: node dist/test/support/run-tests.js [glob ...]
 * Default: every dist/test/**\/*.test.js. Exit status is non-zero on any failure.
 */
import Mocha from 'mocha';
import path from 'node:path';
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { testbedRootHooks } from '../../src/testbed/testbed.js';

const testRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function findTests(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) found.push(...findTests(full));
    else if (entry.endsWith('.test.js')) found.push(full);
  }
  return found.sort();
}

const filters = process.argv.slice(2);
const files = findTests(testRoot).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));

// Root hooks: the real-VM test bed is set up by the first suite that needs it and torn down once, after all suites.
const mocha = new Mocha({ reporter: 'spec', timeout: 60_000, slow: 5_000, rootHooks: testbedRootHooks });
for (const file of files) mocha.addFile(file);
await mocha.loadFilesAsync();
const runner = mocha.run((failures) => {
  const stats = runner.stats;
  const passed = stats?.passes ?? 0;
  const failed = stats?.failures ?? failures;
  const pending = stats?.pending ?? 0;
  process.stdout.write(`\n${passed} passed, ${failed} failed${pending ? `, ${pending} skipped` : ''}\n`);
  // Exit explicitly: a leaked handle must not hang CI after the summary line.
  process.exit(failed > 0 || passed === 0 ? 1 : 0);
});
