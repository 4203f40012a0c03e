/** `kubemom shim` as a process: flags, endpoints, clean exit; flag errors name the flag. */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../../src/common/errors.js';
import { parseDuration, parsePsiTrigger, shimOptionsFromFlags } from '../../src/cli/shim-command.js';
import { parseListenAddress } from '../../src/shim/http.js';
import { resolvePolicy } from '../../src/shim/policies.js';
import { KubeletTree } from './kubelet-tree.js';
import { freePort } from './support.js';
import { EVENT_DEADLINE_MS } from '../support/deadline.js';

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.js');

const FLAGS = {
  kubeletRoot: '/var/lib/kubelet',
  nodeExporterUrl: 'http://127.0.0.1:9100/metrics',
  scrapeTimeout: '1s',
  ksmDir: '/sys/kernel/mm/ksm',
  procRoot: '/proc',
  psiTrigger: 'some 150000 1000000',
  metricsAddress: '0.0.0.0:9470',
  policy: 'observe',
  period: '5s',
  rescan: '5s',
  evictionHard: 'memory.available<100Mi',
  describeDeadline: '2s',
  setTargetDeadline: '1s',
};

describe('kubemom shim command', function () {

  it('turns the defaults into shim options', () => {
    const o = shimOptionsFromFlags(FLAGS);
    expect(o.periodMs).to.equal(5000);
    expect(o.listen).to.deep.equal({ host: '0.0.0.0', port: 9470 });
    expect(o.psiFile).to.equal('/proc/pressure/memory');
    expect(o.meminfoFile).to.equal('/proc/meminfo');
    expect(o.psiTrigger).to.deep.equal({ kind: 'some', stallUs: 150000, windowUs: 1000000 });
    expect(o.evictionHard).to.deep.equal({ kind: 'bytes', bytes: 100 * 2 ** 20 });
    expect(o.session).to.deep.equal({ describeDeadlineMs: 2000, setTargetDeadlineMs: 1000 });
    const off = shimOptionsFromFlags({ ...FLAGS, nodeExporterUrl: '', ksmDir: '', metricsAddress: '', psiTrigger: 'off' });
    expect(off.nodeExporterUrl).to.equal(undefined);
    expect(off.ksmDir).to.equal(undefined);
    expect(off.listen).to.equal(undefined);
    expect(off.psiTrigger).to.equal(undefined);
  });

  it('rejects bad flag values with the flag name and what is accepted', () => {
    const cases: Array<[() => unknown, string, RegExp]> = [
      [() => parseDuration('--period', '5'), '--period', /such as 500ms, 5s or 1m/],
      [() => parseDuration('--period', '0s'), '--period', /above zero/],
      [() => parsePsiTrigger('--psi-trigger', 'some 1'), '--psi-trigger', /"<some\|full> <stall µs> <window µs>"/],
      [() => parsePsiTrigger('--psi-trigger', 'some 150000 100000'), '--psi-trigger', /500000 to 10000000/],
      [() => parseListenAddress('--metrics-address', '9470'), '--metrics-address', /HOST:PORT/],
      [() => parseListenAddress('--metrics-address', '1.2.3.4:99999'), '--metrics-address', /HOST:PORT/],
      [() => resolvePolicy('--policy', 'nope'), '--policy', /is "nope"; accepted: default, mom, observe, static, autoballoon, or a policy file/],
      [() => shimOptionsFromFlags({ ...FLAGS, nodeExporterUrl: 'ftp://x' }), '--node-exporter-url', /http\(s\) URL/],
    ];
    for (const [call, field, problem] of cases) expect(call).to.throw(InputError, problem).with.property('field', field);
    expect(parseListenAddress('--metrics-address', '[::1]:9470')).to.deep.equal({ host: '::1', port: 9470 });
  });

  it('exits with status 2 and names the flag on bad input', () => {
    const result = spawnSync(process.execPath, [MAIN, 'shim', '--period', 'soon'], { encoding: 'utf8' });
    expect(result.status).to.equal(2);
    expect(result.stderr).to.include('--period: "soon" is not accepted');
  });

  it('runs as a process: finds sidecars, serves /metrics, /healthz, /readyz, stops cleanly on SIGTERM', async () => {
    const tree = new KubeletTree();
    await tree.addVm('vm-a');
    await tree.addVm('vm-b');
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [MAIN, 'shim', '--kubelet-root', tree.root, '--metrics-address', `127.0.0.1:${port}`, '--node-exporter-url', '', '--ksm-dir', '', '--period', '200ms'],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, KUBEMOM_LOG_LEVEL: 'info' } },
    );
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      let metrics = '';
      const end = Date.now() + EVENT_DEADLINE_MS;
      while (Date.now() < end && !/kubemom_shim_sidecars\{state="live"\} 2/.test(metrics)) {
        try {
          metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        } catch {
          // Not listening yet.
        }
        await new Promise((r) => setTimeout(r, 150));
      }
      expect(metrics).to.match(/kubemom_shim_sidecars\{state="live"\} 2/);
      expect(metrics).to.include('kubemom_shim_policy_info{policy="default"} 1');
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).to.equal(200);
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).to.equal(200);
      const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exit).to.equal(0);
      expect(stderr).to.include('"msg":"shim stopped"');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await tree.close();
    }
  });
});
