/**
 * Which test files a run takes. The naming convention is the whole rule: a test file that needs a real part of a
 * node (root, libvirt, QEMU, node-exporter, KSM sysfs, memory cgroups, bind mounts, buildah) is named `real-*.test.*`;
 * every other test file runs anywhere, as any user, in the fast unit run.
 */
import path from 'node:path';
import { existsSync, readdirSync, statSync } from 'node:fs';

/** `all`: the full suite; `unit`: no `real-` file; `real`: only `real-` files. */
export type TestSelection = 'all' | 'unit' | 'real';

/** The real-part naming convention: the file's base name starts with `real-`. */
export function isRealTestFile(file: string): boolean {
  return path.basename(file).startsWith('real-');
}

/** Every `*.test.js` file under `dir` (compiled tests), sorted. */
export function findTestFiles(dir: string, suffix = '.test.js'): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) found.push(...findTestFiles(full, suffix));
    else if (entry.endsWith(suffix)) found.push(full);
  }
  return found.sort();
}

/** The files of `selection` whose path contains one of `filters` (all of them when there is no filter). */
export function selectTestFiles(files: string[], selection: TestSelection, filters: string[] = []): string[] {
  return files
    .filter((f) => selection === 'all' || (selection === 'real') === isRealTestFile(f))
    .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
}

/**
 * Whether a compiled test still has its source: `dist/test/<dir>/<name>.test.js` needs `test/<dir>/<name>.test.ts`. A renamed or
 * deleted test leaves its old compiled file behind (tsc never deletes), which must not run under its old name.
 */
export function hasSource(compiledFile: string, compiledRoot: string, sourceRoot: string): boolean {
  const relative = path.relative(compiledRoot, compiledFile).replace(/\.js$/, '.ts');
  return existsSync(path.join(sourceRoot, relative));
}
