/**
 * The layout the product keeps (docs/design.md): src/ is the product and imports nothing outside it, its modules
 * form no import cycle, the test bed (testbed/) never reaches the package or the image, and comments and docs point
 * only at files that exist. Reads the sources, runs nothing.
 */
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/common/paths.js';

const rel = (file: string): string => path.relative(packageRoot, file);

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...tsFiles(full));
    else if (entry.endsWith('.ts')) out.push(full);
  }
  return out;
}

/** Relative module specifiers of a file: static imports and re-exports, and dynamic imports of a literal. */
function relativeImports(source: string): string[] {
  const specs: string[] = [];
  for (const m of source.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s*['"](\.{1,2}\/[^'"]+)['"]/gm)) specs.push(m[1]!);
  for (const m of source.matchAll(/^\s*import\s*['"](\.{1,2}\/[^'"]+)['"]/gm)) specs.push(m[1]!);
  for (const m of source.matchAll(/\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)) specs.push(m[1]!);
  return specs;
}

/** The import graph of src/: each file to the files it imports (resolved to .ts sources). */
function importGraph(srcDir: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of tsFiles(srcDir)) {
    const deps = relativeImports(readFileSync(file, 'utf8')).map((spec) => path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')));
    graph.set(file, deps);
  }
  return graph;
}

/** The cycles of a graph: its strongly connected components with more than one file, or a file importing itself. */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.map(rel).sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('the layout', () => {
  const srcDir = path.join(packageRoot, 'src');
  const graph = importGraph(srcDir);

  it('src/ imports nothing outside src/ (the test bed, tests and benches are not product)', () => {
    const outside = [...graph].flatMap(([file, deps]) => deps.filter((d) => !d.startsWith(srcDir + path.sep)).map((d) => `${rel(file)} -> ${rel(d)}`));
    expect(outside).to.deep.equal([]);
  });

  it('src/ has no import cycles', () => {
    expect(cycles(graph)).to.deep.equal([]);
  });

  it('finds a cycle and an import from outside when there is one (the checks can fail)', () => {
    const a = path.join(srcDir, 'a.ts');
    const b = path.join(srcDir, 'b.ts');
    expect(cycles(new Map([[a, [b]], [b, [a]]]))).to.deep.equal([['src/a.ts', 'src/b.ts']]);
    expect(relativeImports("import type { X } from '../../testbed/x.js';\nexport { y } from './y.js';\nconst m = await import('./z.js');")).to.deep.equal([
      '../../testbed/x.js',
      './y.js',
      './z.js',
    ]);
  });

  it('the package and the image ship the product only: no test bed, tests or benches', () => {
    const pkg = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files.filter((f) => /testbed|test\b|bench|^dist\/?$|^dist\/\*/.test(f))).to.deep.equal([]);
    const containerfile = readFileSync(path.join(packageRoot, 'Containerfile'), 'utf8');
    const copies = containerfile.split('\n').filter((l) => /^\s*COPY\b/.test(l));
    expect(copies.filter((l) => /testbed|\btest\/|\bbench\//.test(l))).to.deep.equal([]);
    expect(copies.filter((l) => /\/dist\//.test(l)).every((l) => /\/dist\/src\//.test(l)), copies.join('\n')).to.equal(true);
    // The build context lets in only what the Containerfile copies.
    const ignore = readFileSync(path.join(packageRoot, '.dockerignore'), 'utf8');
    expect(ignore.split('\n').filter((l) => /^!.*(testbed|test\/|bench\/)/.test(l))).to.deep.equal([]);
  });

  it('comments and docs name only files that exist in this repository', () => {
    const roots = ['src', 'testbed', 'test', 'bench'];
    const sources = roots.flatMap((r) => tsFiles(path.join(packageRoot, r)));
    const docs = [path.join(packageRoot, 'README.md'), ...readdirSync(path.join(packageRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join(packageRoot, 'docs', f))];
    const named = /(?<![\w./-])((?:src|testbed|test|bench)\/[\w./-]*\.(?:ts|md))/g;
    const stale: string[] = [];
    for (const file of [...sources, ...docs]) {
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        // In code, only comments; in docs, everything.
        if (file.endsWith('.ts') && !/^\s*(\/\/|\*|\/\*\*)/.test(line)) return;
        for (const m of line.matchAll(named)) {
          if (!existsSync(path.join(packageRoot, m[1]!))) stale.push(`${rel(file)}:${i + 1}: ${m[1]}`);
        }
      });
    }
    expect(stale).to.deep.equal([]);
  });
});
