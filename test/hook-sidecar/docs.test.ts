import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/common/paths.js';
import { ANNOTATIONS } from '../../src/hook-sidecar/annotations.js';

describe('README', () => {
  const readme = readFileSync(path.join(packageRoot, 'README.md'), 'utf8');
  it('documents every kubemom.io annotation the sidecar accepts, and no other', () => {
    const documented = [...readme.matchAll(/^\| `(kubemom\.io\/[a-z.<>-]+)` \|/gm)].map((m) => m[1]);
    expect(documented).to.deep.equal(ANNOTATIONS.map((a) => a.key));
  });
  it('starts with the demo and the test command that .ci/run runs', () => {
    const ci = readFileSync(path.join(packageRoot, '.ci', 'run'), 'utf8');
    const testCommand = /^npm ci && npm test/m;
    expect(readme.split('\n').slice(0, 6).join('\n')).to.match(/npm ci && npx kubemom demo/).and.match(testCommand);
    expect(ci).to.match(testCommand);
  });
});
