/**
 * bin/kubemom-sidecar, the container entrypoint: it must run the sidecar under the
 * memory flags (node itself, via exec, so signals reach it), accept KubeVirt's
 * `args: ["sidecar"]`, serve the hook API and exit 0 on Shutdown.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../src/common/paths.js';
import { discoverHooks, onDefineDomain, shutdownHooks } from '../../src/kubevirt-sim/hook-manager.js';

const launcher = path.join(packageRoot, 'bin', 'kubemom-sidecar');

function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('bin/kubemom-sidecar', () => {
  let root: string;
  let child: ChildProcess | undefined;

  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'kubemom-launcher-'));
  });
  afterEach(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await exitOf(child);
    }
    rmSync(root, { recursive: true, force: true });
  });

  it('execs node with the memory flags, serves the hook API with args ["sidecar"], and exits 0 on Shutdown', async () => {
    const hooksDir = path.join(root, 'hook-sidecar-0');
    child = spawn(launcher, ['sidecar', '--hooks-dir', hooksDir], { stdio: 'ignore', env: { ...process.env, KUBEMOM_LOG_LEVEL: 'warn' } });
    const hooks = await discoverHooks(root, 1, 15_000);
    expect(hooks.map((h) => [h.name, h.version])).to.deep.equal([['kubemom', 'v1alpha3']]);

    // exec: the launched pid is node itself, carrying the flags.
    const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    expect(argv).to.include.members(['--lite-mode', '--max-semi-space-size=1']);
    expect(argv.some((a) => a.endsWith('kubemom-sidecar.bundle.js'))).to.equal(true);

    const domain = readFileSync(path.join(packageRoot, 'fixtures', 'kubevirt-domain.xml'), 'utf8');
    const vmi = readFileSync(path.join(packageRoot, 'fixtures', 'kubevirt-vmi.json'), 'utf8');
    const xml = await onDefineDomain(hooks, domain, vmi);
    expect(xml).to.match(/<memballoon model="virtio-non-transitional"/);

    await shutdownHooks(hooks);
    expect(await exitOf(child)).to.equal(0);
  });

  it('also accepts the options without the word "sidecar" and ends with exit 0 on SIGTERM', async () => {
    const hooksDir = path.join(root, 'hook-sidecar-0');
    child = spawn(launcher, ['--hooks-dir', hooksDir], { stdio: 'ignore', env: { ...process.env, KUBEMOM_LOG_LEVEL: 'warn' } });
    await discoverHooks(root, 1, 15_000);
    child.kill('SIGTERM');
    expect(await exitOf(child)).to.equal(0);
  });
});
