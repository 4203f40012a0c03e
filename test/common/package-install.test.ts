/**
 * A clean `npm ci` on the Node the README names: no dependency asks for a newer Node (EBADENGINE), and every
 * dependency with an install script is declared in package.json's allowScripts (npm 11 warns about the others).
 * Read from package.json and package-lock.json, so it holds for the tree `npm ci` installs.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/common/paths.js';

interface LockEntry {
  version?: string;
  engines?: { node?: string } | string[];
  hasInstallScript?: boolean;
}

const pkg = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as {
  engines: { node: string };
  allowScripts?: Record<string, boolean>;
};
const lock = JSON.parse(readFileSync(path.join(packageRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };

type Version = [number, number, number];

/** `20.19` -> [20, 19, 0]; `x`/`*` parts are null (any). */
function parts(text: string): Array<number | null> {
  return text.replace(/^v/, '').split('.').map((p) => (p === 'x' || p === 'X' || p === '*' ? null : Number(p)));
}

function compare(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** One comparator (`>=14.17`, `^20.9.0`, `14`, `8.*`, `>= 10.x`) against a version. */
function satisfiesComparator(v: Version, comparator: string): boolean {
  const m = /^(>=|<=|>|<|=|\^|~)?\s*v?([\d.xX*]+)$/.exec(comparator);
  if (!m) throw new Error(`unsupported engines comparator "${comparator}"`);
  const [, op = '', ver] = m;
  const p = parts(ver!);
  const wildcard = p.length < 3 || p.includes(null);
  const base: Version = [p[0] ?? 0, p[1] ?? 0, p[2] ?? 0];
  const fixed = p.findIndex((x) => x === null || x === undefined);
  const given = fixed === -1 ? Math.min(p.length, 3) : fixed;
  const upper = (position: number): Version => (position === 0 ? [base[0] + 1, 0, 0] : position === 1 ? [base[0], base[1] + 1, 0] : [base[0], base[1], base[2] + 1]);
  switch (op) {
    case '>=':
      return compare(v, base) >= 0;
    case '>':
      return wildcard ? compare(v, upper(given - 1)) >= 0 : compare(v, base) > 0;
    case '<=':
      return wildcard ? compare(v, upper(given - 1)) < 0 : compare(v, base) <= 0;
    case '<':
      return compare(v, base) < 0;
    case '^': {
      const at = base[0] !== 0 ? 0 : base[1] !== 0 ? 1 : 2;
      return compare(v, base) >= 0 && compare(v, upper(at)) < 0;
    }
    case '~':
      return compare(v, base) >= 0 && compare(v, upper(Math.min(1, given - 1))) < 0;
    default:
      return wildcard ? compare(v, base) >= 0 && compare(v, upper(given - 1)) < 0 : compare(v, base) === 0;
  }
}

/** A node-semver range of the kinds found in `engines` fields: `||` of space-separated comparators. */
export function satisfies(version: string, range: string): boolean {
  const p = parts(version);
  const v: Version = [p[0] ?? 0, p[1] ?? 0, p[2] ?? 0];
  return range.split('||').some((set) => {
    const comparators = set.trim().replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1').split(/\s+/).filter(Boolean);
    return comparators.every((c) => satisfiesComparator(v, c));
  });
}

/** `node_modules/@a/b/node_modules/c` -> `c`. */
function packageName(lockPath: string): string {
  return lockPath.slice(lockPath.lastIndexOf('node_modules/') + 'node_modules/'.length);
}

describe('a clean npm ci', () => {
  const floor = /^>=\s*(\d+(?:\.\d+){0,2})$/.exec(pkg.engines.node)?.[1];

  it('the range check reads engines fields as npm does', () => {
    expect(satisfies('20.19.0', '>=20.19')).to.equal(true);
    expect(satisfies('20.19.0', '>=22')).to.equal(false);
    expect(satisfies('20.19.0', '^18.18.0 || ^20.9.0 || >=21.1.0')).to.equal(true);
    expect(satisfies('20.19.0', '^16 || ^18')).to.equal(false);
    expect(satisfies('20.19.0', '>=16 || 14 >=14.17')).to.equal(true);
    expect(satisfies('14.16.0', '>=16 || 14 >=14.17')).to.equal(false);
    expect(satisfies('20.19.0', '6.* || 8.* || >= 10.*')).to.equal(true);
    expect(satisfies('9.0.0', '6.* || 8.* || >= 10.*')).to.equal(false);
    expect(satisfies('20.19.0', '>= 10.x')).to.equal(true);
    expect(satisfies('20.19.0', '~20.18.0')).to.equal(false);
  });

  it('package.json names a Node floor (engines.node ">=X.Y")', () => {
    expect(floor, pkg.engines.node).to.be.a('string');
  });

  it('no dependency in the lock file needs a Node newer than that floor (no EBADENGINE)', () => {
    const tooNew = Object.entries(lock.packages)
      .filter(([p]) => p !== '')
      .flatMap(([p, entry]) => {
        const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
        return range && !satisfies(floor!, range) ? [`${packageName(p)}@${entry.version}: node ${range}`] : [];
      });
    expect(tooNew, `Node ${floor}`).to.deep.equal([]);
  });

  it('every dependency with an install script is declared in allowScripts, and nothing else is', () => {
    const declared = pkg.allowScripts ?? {};
    const withScripts = [...new Set(Object.entries(lock.packages).filter(([p, e]) => p !== '' && e.hasInstallScript).map(([p]) => packageName(p)))].sort();
    const declaredNames = Object.keys(declared).map((k) => k.replace(/(.)@[^@]*$/, '$1')).sort();
    expect(declaredNames, 'allowScripts').to.deep.equal(withScripts);
  });
});
