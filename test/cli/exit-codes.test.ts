/**
 * The CLI's one exit-code convention, checked on the real `kubemom` binary: 0 ok, 1 the
 * job ran and reports a problem, 2 bad usage or input with one line that names the flag,
 * file or field; never a stack trace; nothing left behind by a refused start.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../src/common/paths.js';
import { SOCKET_NAME } from '../../src/api/kubemom-v1.js';

const cli = path.join(packageRoot, 'dist', 'src', 'cli', 'main.js');
const sidecarBin = path.join(packageRoot, 'bin', 'kubemom-sidecar');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function kubemom(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Run {
  const r = spawnSync(process.execPath, [cli, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, KUBEMOM_DEBUG: '', ...env },
    ...(input !== undefined ? { input } : {}),
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Exit 2, no stack trace, and a message that contains every `words`. */
function expectUsage(r: Run, ...words: string[]): void {
  expect(r.status, r.stderr).to.equal(2);
  expect(r.stderr).to.not.match(/\n\s+at /, 'a stack trace');
  expect(r.stderr).to.not.contain('node:internal');
  for (const w of words) expect(r.stderr).to.contain(w);
}

describe('kubemom exit codes and errors', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'km-exit-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 2 on an unknown command or option, 0 on --help', () => {
    expectUsage(kubemom(['bogus']), "unknown command 'bogus'");
    expectUsage(kubemom(['policy', 'check', '--nope', 'x']), '--nope');
    expect(kubemom(['--help']).status).to.equal(0);
    expect(kubemom(['--help']).stdout).to.contain('Exit status: 0 ok, 1 the job ran and reports a problem, 2 bad usage or input');
  });

  it('reads input files with a size limit: /dev/zero is refused, not read until memory runs out', () => {
    expectUsage(kubemom(['policy', 'eval', '--policy', 'default', '--state', '/dev/zero']), '--state', 'larger than 67108864 bytes');
    expectUsage(kubemom(['simulate', '--scenario', '/dev/zero']), '--scenario', 'larger than 1048576 bytes');
    const check = kubemom(['policy', 'check', '/dev/zero']);
    expect(check.status).to.equal(1); // the check ran and reports the file
    expect(check.stderr).to.contain('larger than 1048576 bytes');
  });

  it('names a missing file or a directory given as a file', () => {
    expectUsage(kubemom(['policy', 'replay', '--policy', 'default', dir]), 'is a directory');
    expectUsage(kubemom(['policy', 'eval', '--policy', 'default', '--state', path.join(dir, 'none.json')]), '--state', 'does not exist');
    expectUsage(kubemom(['shim', '--policy', path.join(dir, 'missing.yaml'), '--metrics-address', '']), '--policy', 'does not exist');
  });

  it('quotes at most a short excerpt of a bad JSON file, with line and column', () => {
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, `{\n  "nowMs": ${'x'.repeat(5000)}\n}\n`);
    const r = kubemom(['policy', 'eval', '--policy', 'default', '--state', bad]);
    expectUsage(r, bad, "is not valid JSON: Unexpected token 'x'");
    expect(r.stderr.length).to.be.below(400);
    writeFileSync(bad, `{"nowMs": 1} ${'y'.repeat(5000)}`);
    const trailing = kubemom(['policy', 'eval', '--policy', 'default', '--state', bad]);
    expectUsage(trailing, `${bad}:1:14`, 'is not valid JSON near "yyyy');
    expect(trailing.stderr.length).to.be.below(400);
  });

  it('checks policy eval input as strictly as a replay, naming the field', () => {
    const state = (doc: unknown): Run => kubemom(['policy', 'eval', '--policy', 'default', '--state', '-'], {}, JSON.stringify(doc));
    const sample = { atMs: 0, memTotalBytes: 1, memFreeBytes: 1, memAvailableBytes: 1, buffersBytes: 0, cachedBytes: 0, anonPagesBytes: 0, swapTotalBytes: 0, swapFreeBytes: 0 };
    expectUsage(state({ nowMs: 1, host: { history: [{ ...sample, memFreeBytes: -1 }], cpuCount: 1, evictionHardBytes: 0 }, guests: [] }), 'stdin.host.history[0].memFreeBytes', '>= 0');
    expectUsage(state({ nowMs: 1, host: { history: [sample], cpuCount: 1, evictionHardBytes: 0 }, guests: [{ id: 'a' }] }), 'stdin.guests[0].namespace');
    expectUsage(state({ nowMs: 1, host: { history: [sample], cpuCount: 1, evictionHardBytes: 0, typo: 1 }, guests: [] }), 'stdin.host.typo', 'accepted:');
  });

  it('refuses KSM values outside the kernel ranges in policy check, and never emits them', () => {
    const file = path.join(dir, 'ksm.yaml');
    writeFileSync(file, 'scope: Host\nrules:\n  - output: ksm.pages_to_scan\n    target: 1e12\n  - output: ksm.sleep_millisecs\n    target: -5\n');
    const r = kubemom(['policy', 'check', file]);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain(`${file}:4:13`).and.contain('pages_to_scan is 1000000000000; accepted: 0 to 4294967295');
    expect(r.stderr).to.contain(`${file}:6:13`).and.contain('sleep_millisecs is -5');
    const computed = path.join(dir, 'ksm-computed.yaml');
    writeFileSync(computed, 'scope: Host\nrules:\n  - output: ksm.run\n    target: host.mem_total\n');
    const ev = kubemom(['policy', 'eval', '--policy', computed, '--state', path.join(packageRoot, 'examples', 'policy-input.json')]);
    expect(ev.status, ev.stderr).to.equal(0);
    expect(JSON.parse(ev.stdout).ksm).to.deep.equal({});
  });

  it('says a deep chain of variables is too deep, at its file:line, instead of overflowing the stack', () => {
    const file = path.join(dir, 'deep.yaml');
    const vars = Array.from({ length: 5000 }, (_, i) => (i === 0 ? '  v0: 1' : `  v${i}: v${i - 1} + 1`));
    writeFileSync(file, ['scope: Host', 'vars:', ...vars, 'rules:', '  - output: ksm.run', '    target: v4999', ''].join('\n'));
    const r = kubemom(['policy', 'check', file]);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain(`${file}:67:3`).and.contain('too deep');
    expect(r.stderr).to.not.contain('Maximum call stack');
    expect(r.stderr.split('\n').filter(Boolean)).to.have.length(1);
  });

  it('refuses an unknown log level before anything runs', () => {
    expectUsage(kubemom(['policy', 'check', path.join(packageRoot, 'policies', 'mom.yaml')], { KUBEMOM_LOG_LEVEL: 'loud' }), 'KUBEMOM_LOG_LEVEL', 'fatal, error, warn, info');
  });

  it('simulate exits 1 when a run had an incident, 2 on a bad value', () => {
    expectUsage(kubemom(['simulate', '--scenario', path.join(packageRoot, 'scenarios', 'burst-spike.yaml'), '--seed', '-1']), '--seed');
  });

  it('refuses a shim start that can never work: no meminfo under --proc-root, a metrics port in use', async () => {
    expectUsage(kubemom(['shim', '--proc-root', path.join(dir, 'no-proc'), '--metrics-address', '']), '--proc-root', 'meminfo');
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = kubemom(['shim', '--kubelet-root', dir, '--ksm-dir', '', '--node-exporter-url', '', '--psi-trigger', 'off', '--metrics-address', `127.0.0.1:${port}`]);
      expectUsage(r, '--metrics-address', `127.0.0.1:${port} is already in use`);
    } finally {
      blocker.close();
    }
  });

  it('refuses sidecar directories that cannot work, and a bad --qmp-dir-owner', () => {
    const file = path.join(dir, 'a-file');
    writeFileSync(file, '');
    expectUsage(kubemom(['sidecar', '--hooks-dir', file]), '--hooks-dir', 'is not a directory');
    const long = path.join(dir, 'd'.repeat(110));
    expectUsage(kubemom(['sidecar', '--hooks-dir', long]), '--hooks-dir', 'unix sockets allow at most 107');
    expect(existsSync(long), 'nothing created for a refused directory').to.equal(false);
    expectUsage(kubemom(['sidecar', '--hooks-dir', path.join(dir, 'h'), '--qemu-hooks-dir', 'relative']), '--qemu-hooks-dir', 'absolute');
    expectUsage(kubemom(['sidecar', '--hooks-dir', path.join(dir, 'h'), '--qmp-dir-owner', 'x']), '--qmp-dir-owner', 'UID:GID');
    expectUsage(kubemom(['sidecar', '--hooks-dir', path.join(dir, 'h'), '--qmp-dir-owner', '1:99999999999']), '--qmp-dir-owner');
  });

  it('refuses a second sidecar on a socket another sidecar serves, and leaves the first serving', async () => {
    const hooks = path.join(dir, 'served');
    mkdirSync(hooks);
    const first = spawn(process.execPath, [cli, 'sidecar', '--hooks-dir', hooks, '--pod-uid', '0d6c5a3e-8c1b-4e8a-9a41-3f1b2c3d4e5f'], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      const socket = path.join(hooks, SOCKET_NAME);
      const deadline = Date.now() + 60_000;
      while (!existsSync(socket) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(existsSync(socket), 'first sidecar serving').to.equal(true);
      expectUsage(kubemom(['sidecar', '--hooks-dir', hooks, '--pod-uid', '0d6c5a3e-8c1b-4e8a-9a41-3f1b2c3d4e5f']), 'served by another running process');
      expect(existsSync(socket), 'the first socket is still there').to.equal(true);
      expect(first.exitCode).to.equal(null);
    } finally {
      first.kill('SIGTERM');
      await new Promise((r) => (first.exitCode !== null ? r(null) : first.once('exit', r)));
    }
  });

  it('kubemom-sidecar --help shows the sidecar flags', () => {
    const r = spawnSync(sidecarBin, ['--help'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).to.equal(0);
    expect(r.stdout).to.contain('--hooks-dir').and.contain('--qmp-dir-owner');
  });

  it('shows no [] or {} defaults in help', () => {
    for (const args of [['simulate', '--help'], ['policy', 'eval', '--help'], ['policy', 'replay', '--help']]) {
      expect(kubemom(args).stdout).to.not.match(/default: (\[\]|\{\})/);
    }
  });
});
