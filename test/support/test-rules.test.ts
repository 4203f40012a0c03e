/**
 * The suite's own rules, checked on its sources: no stopwatch in a test (speed belongs to bench/, as ratios against a
 * baseline in the same run), and a unit run that needs no real part (the `real-` prefix marks the files that do).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../src/common/paths.js';
import { CI_FUZZ_SEED, fuzzSeed } from './fuzz-seed.js';
import { findTestFiles, isRealTestFile, selectTestFiles } from './test-files.js';

const testSources = path.join(packageRoot, 'test');
const relative = (file: string): string => path.relative(packageRoot, file);
/** Every TypeScript file under test/ (tests and their helpers). */
const thisFile = path.join(testSources, 'support', 'test-rules.test.ts'); // quotes what it forbids
const allSources = findTestFiles(testSources, '.ts').filter((f) => f !== thisFile);
const testFiles = allSources.filter((f) => f.endsWith('.test.ts'));

/** Upper bounds and ranges: a loaded machine makes measured time longer, so these are the assertions that flake. */
const UPPER_BOUND = /\.(below|lessThan|lt|lte|most|within)\(/;
const CLOCK = /Date\.now\(\)|performance\.now\(\)|process\.hrtime/;

/**
 * Lines of `source` that assert an upper bound on measured wall-clock time: directly on a clock reading, or on a
 * variable computed from one (`const tookMs = Date.now() - t0; ... expect(tookMs).to.be.below(100)`).
 */
export function wallClockAsserts(source: string): string[] {
  const lines = source.split('\n');
  const measured = new Set<string>();
  for (const line of lines) {
    const m = /(?:const|let)\s+(\w+)\s*=\s*\(?\s*(?:Date\.now\(\)|performance\.now\(\))\s*-/.exec(line);
    if (m) measured.add(m[1]!);
  }
  return lines
    .map((line, i) => ({ line, n: i + 1 }))
    .filter(({ line }) => /expect\(/.test(line) && UPPER_BOUND.test(line))
    .filter(({ line }) => {
      const subject = /expect\(([^,]*?)(?:,|\)\.)/.exec(line)?.[1] ?? '';
      return CLOCK.test(subject) || [...measured].some((name) => new RegExp(`\\b${name}\\b`).test(subject));
    })
    .map(({ line, n }) => `${n}: ${line.trim()}`);
}

/** Modules that start or need a real part (root, libvirt, QEMU, buildah): a unit test must not reach them. */
const REAL_PART_MODULES = ['testbed.ts', 'daemons.ts', 'qemu-process.ts', 'container-image.ts', 'guest-image.ts'].map((m) =>
  path.join(packageRoot, 'testbed', m),
);

/** Uses of a real part in a test file's own code. */
const REAL_PART_USES: Array<[RegExp, string]> = [
  [/sharedTestbed\(|Testbed\.setup\(/, 'the real-VM test bed'],
  [/new NodeExporterProcess\(/, 'a real node-exporter'],
  [/new MemoryPressure\(/, 'a memory cgroup'],
  [/QemuProcess\.start\(|['"]qemu-system-/, 'QEMU'],
  [/['"]virsh['"]|virsh\.\w+\(/, 'libvirt'],
  [/(?:readFileSync|writeFileSync|readdirSync)\([^)]*\/sys\/kernel\/mm\/ksm|ksmDir:\s*['"]\/sys\/kernel\/mm\/ksm['"]\s*}\)/, 'the KSM sysfs'],
  [/spawnSync\(['"](?:u?mount)['"]/, 'mounts (root)'],
  [/\bbuildah\(/, 'buildah'],
];

/**
 * The repository modules `file` loads when it is loaded: static value imports (relative specifiers, resolved to
 * their .ts sources). Type-only imports vanish at compile time; a dynamic import() loads only when it runs.
 */
function localImports(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of source.matchAll(/^import\s+(?!type\b)(?:[^'";]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]/gm)) {
    found.push(path.resolve(path.dirname(file), m[1]!.replace(/\.js$/, '.ts')));
  }
  return found;
}

/** Every repository module `file` loads, directly or through the modules it loads. */
function reachable(file: string, seen = new Set<string>()): Set<string> {
  for (const dep of localImports(file)) {
    if (seen.has(dep)) continue;
    seen.add(dep);
    try {
      reachable(dep, seen);
    } catch {
      // not a file we can read (a JSON file, say): nothing further to follow
    }
  }
  return seen;
}

describe('test suite rules', () => {
  describe('no wall-clock thresholds in tests', () => {
    it('the check finds upper bounds on measured time, direct or through a variable, and spares lower bounds and model time', () => {
      const bad = [
        'const t0 = Date.now();',
        'expect(Date.now() - t0).to.be.below(1_000);',
        'const tookMs = Date.now() - t0;',
        "expect(tookMs, 'fast').to.be.lessThan(1500);",
        'expect(performance.now() - started).to.be.within(1, 500);',
      ].join('\n');
      expect(wallClockAsserts(bad)).to.have.length(3);
      const fine = [
        "expect(Date.now() - started, 'not before the timeout').to.be.at.least(150);",
        'expect(r.harm.underNeedSeconds).to.be.below(60);', // simulated time: deterministic
        'expect(d).to.be.at.most(b.maxDelayMs);',
      ].join('\n');
      expect(wallClockAsserts(fine)).to.deep.equal([]);
    });

    it('no test asserts an upper bound on wall-clock time (measure speed in bench/)', () => {
      const found = allSources.flatMap((f) => wallClockAsserts(readFileSync(f, 'utf8')).map((l) => `${relative(f)}:${l}`));
      expect(found).to.deep.equal([]);
    });
  });

  describe('unit and real tests', () => {
    it('the runner selects by the real- prefix: --unit leaves real-* out, --real takes only them', () => {
      const files = ['/d/test/a/x.test.js', '/d/test/a/real-y.test.js', '/d/test/real-b/z.test.js'];
      expect(selectTestFiles(files, 'unit')).to.deep.equal(['/d/test/a/x.test.js', '/d/test/real-b/z.test.js']);
      expect(selectTestFiles(files, 'real')).to.deep.equal(['/d/test/a/real-y.test.js']);
      expect(selectTestFiles(files, 'all', ['/a/'])).to.deep.equal(['/d/test/a/x.test.js', '/d/test/a/real-y.test.js']);
      expect(isRealTestFile('/d/test/real-b/z.test.js')).to.equal(false);
    });

    it('no test file outside real-* reaches the test bed or another module that needs root, libvirt, QEMU or buildah', () => {
      const offenders = testFiles
        .filter((f) => !isRealTestFile(f))
        .flatMap((f) => [...reachable(f)].filter((m) => REAL_PART_MODULES.includes(m)).map((m) => `${relative(f)} -> ${relative(m)}`));
      expect(offenders).to.deep.equal([]);
    });

    it('no test file outside real-* uses a real part (node-exporter, KSM sysfs, cgroups, mounts, QEMU, libvirt, buildah)', () => {
      const offenders = testFiles
        .filter((f) => !isRealTestFile(f))
        .flatMap((f) => {
          const source = readFileSync(f, 'utf8');
          return REAL_PART_USES.filter(([pattern]) => pattern.test(source)).map(([, what]) => `${relative(f)}: ${what}`);
        });
      expect(offenders).to.deep.equal([]);
    });

    it('the runner loads the test bed only for real-* files', () => {
      const runner = readFileSync(path.join(testSources, 'support', 'run-tests.ts'), 'utf8');
      expect(runner).to.not.match(/^import[^\n]*testbed/m);
      expect(runner).to.match(/await import\('\.\.\/\.\.\/testbed\/testbed\.js'\)/);
    });
  });

  describe('the runner', () => {
    const runner = path.join(packageRoot, 'dist', 'test', 'support', 'run-tests.js');
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'kubemom-runner-'))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));
    const run = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, [runner, ...args], { encoding: 'utf8', env: { ...process.env, KUBEMOM_TEST_DIR: dir, ...env } });
    const lastLine = (out: string): string => out.trim().split('\n').at(-1)!;

    it('ends with "N passed, N failed" and a non-zero status when a test file does not load', () => {
      writeFileSync(path.join(dir, 'broken.test.js'), "import './no-such-module.js';\n");
      const r = run([]);
      expect(lastLine(r.stdout), r.stderr).to.equal('0 passed, 1 failed');
      expect(r.stderr).to.match(/failed to load.*no-such-module/s);
      expect(r.status).to.equal(1);
    });

    it('exits non-zero on a failing test and when nothing ran; zero when all pass', () => {
      writeFileSync(path.join(dir, 'a.test.js'), "it('passes', () => {});\nit('fails', () => { throw new Error('no'); });\n");
      const failing = run([]);
      expect(lastLine(failing.stdout)).to.equal('1 passed, 1 failed');
      expect(failing.status).to.equal(1);
      const none = run(['no-such-filter']);
      expect(lastLine(none.stdout)).to.equal('0 passed, 0 failed');
      expect(none.status).to.equal(1);
      writeFileSync(path.join(dir, 'a.test.js'), "it('passes', () => {});\n");
      const ok = run(['--unit']);
      expect(lastLine(ok.stdout)).to.equal('1 passed, 0 failed');
      expect(ok.status).to.equal(0);
    });

    it('refuses an unknown option, naming it and what is accepted', () => {
      const r = run(['--fast']);
      expect(r.stderr).to.match(/unknown option --fast \(accepted: --unit, --real/);
      expect(r.status).to.equal(2);
    });

    it('prints the fast-check seed: fixed under CI, chosen by KUBEMOM_FUZZ_SEED, fresh otherwise', () => {
      writeFileSync(path.join(dir, 'a.test.js'), "it('passes', () => {});\n");
      expect(run([], { CI: 'true', KUBEMOM_FUZZ_SEED: '' }).stdout).to.include(`fast-check seed ${CI_FUZZ_SEED} (CI)`);
      expect(run([], { KUBEMOM_FUZZ_SEED: '123' }).stdout).to.include('fast-check seed 123 (KUBEMOM_FUZZ_SEED); replay with KUBEMOM_FUZZ_SEED=123');
      expect(fuzzSeed({}, () => 0.5)).to.deep.equal({ seed: 2 ** 30, source: 'random' });
      expect(fuzzSeed({ CI: 'false' }, () => 0).source).to.equal('random');
      expect(() => fuzzSeed({ KUBEMOM_FUZZ_SEED: '1e3' })).to.throw(/KUBEMOM_FUZZ_SEED="1e3": expected an integer/);
    });

    it('gives the seed to every worker process of a parallel unit run', () => {
      // Inside the package, so that the workers resolve fast-check.
      const local = mkdtempSync(path.join(packageRoot, 'dist', 'runner-check-'));
      try {
        for (const n of ['a', 'b']) {
          writeFileSync(path.join(local, `${n}.test.js`), `import fc from 'fast-check';\nit('${n}', () => console.log('seed-in', process.pid, fc.readConfigureGlobal().seed));\n`);
        }
        const r = run(['--unit'], { KUBEMOM_TEST_DIR: local, KUBEMOM_FUZZ_SEED: '777', KUBEMOM_TEST_JOBS: '2' });
        const seen = [...r.stdout.matchAll(/seed-in (\d+) (\d+)/g)];
        expect(seen.map((m) => m[2]), r.stdout).to.deep.equal(['777', '777']);
        expect(new Set(seen.map((m) => m[1])).size, 'two worker processes').to.equal(2);
        expect(lastLine(r.stdout)).to.equal('2 passed, 0 failed');
      } finally {
        rmSync(local, { recursive: true, force: true });
      }
    });
  });
});
