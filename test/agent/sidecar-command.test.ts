import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AgentClient } from '../../src/api/client.js';
import { packageRoot } from '../../src/common/paths.js';
import { EVENT_DEADLINE_MS } from '../support/deadline.js';
import { SOCKET_NAME } from '../../src/api/kubemom-v1.js';

const CLI = path.join(packageRoot, 'dist', 'src', 'cli', 'main.js');

function start(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [CLI, 'sidecar', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
}

async function waitForSocket(file: string, child: ChildProcess): Promise<void> {
  for (const end = Date.now() + EVENT_DEADLINE_MS; Date.now() < end && !existsSync(file); ) {
    if (child.exitCode !== null) throw new Error(`sidecar exited ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('kubemom sidecar serves kubemom.v1 (the CLI process)', function () {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'km-cli-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  for (const [how, args, env] of [
    ['--pod-uid', ['--pod-uid', '11111111-2222-4333-8444-555555555555'], {}],
    ['KUBEMOM_POD_UID', [], { KUBEMOM_POD_UID: '11111111-2222-4333-8444-555555555555' }],
  ] as const) {
    it(`reports the pod UID given by ${how} in Describe and stops on SIGTERM`, async () => {
      const child = start(['--hooks-dir', dir, ...args], env);
      try {
        await waitForSocket(path.join(dir, SOCKET_NAME), child);
        const client = new AgentClient(path.join(dir, SOCKET_NAME));
        const d = await client.describe({});
        client.close();
        expect((d['vm'] as Record<string, unknown>)['pod_uid']).to.equal('11111111-2222-4333-8444-555555555555');
        expect(d['api_revision']).to.equal(1);
        child.kill('SIGTERM');
        expect(await exited(child)).to.equal(0);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });
  }

  it('refuses a malformed pod UID, naming the flag', async () => {
    const child = start(['--hooks-dir', dir, '--pod-uid', 'not/a uid']);
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    expect(await exited(child)).to.not.equal(0);
    expect(stderr).to.contain('--pod-uid');
  });
});
