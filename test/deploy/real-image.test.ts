/**
 * The container image, built here from the Containerfile on local bases made from Debian packages
 * (no registry), then the sidecar run from it with `buildah run` and called through its socket from
 * the host exactly as virt-launcher calls it.
 */
import { expect } from 'chai';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describeHook, discoverHooks, onDefineDomain, shutdownHooks } from '../../src/kubevirt-sim/hook-manager.js';
import {
  DEFAULT_IMAGE_STORE,
  buildah,
  buildImageLocally,
  descendants,
  inspectImage,
  runInImage,
  type ImageConfig,
  type ImageRun,
} from '../../testbed/container-image.js';
import { packageRoot } from '../../src/common/paths.js';
import { fixtureDomainXml, fixtureVmiJson } from '../support/fixtures.js';
import { parseManifests } from './support.js';

const TAG = 'localhost/kubemom:test';
const KUBEVIRT_SIDECAR_UID = 107;
const store = DEFAULT_IMAGE_STORE;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: response.status, body: await response.text() };
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** KEY=value lines of manifests/base/policy.env (what the kubemom-policy ConfigMap gives the shim). */
function policyEnv(): Record<string, string> {
  const text = readFileSync(path.join(packageRoot, 'manifests', 'base', 'policy.env'), 'utf8');
  return Object.fromEntries(
    text
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.startsWith('#'))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

describe('container image (buildah, local Debian bases)', function () {
  let config: ImageConfig;
  let root: string;
  const runs: ImageRun[] = [];

  before(function () {
    // A fresh machine downloads the runtime's .deb files and debootstraps the build base (about 2.5 min when the
    // machine is idle, over 8 min with a CPU hog on one of two cores); later runs reuse both bases (about 35 s).
    // The deadline only bounds a broken build.
    this.timeout(25 * 60_000);
    try {
      buildah(store, ['rmi', '-f', TAG]);
    } catch {
      // no previous test image
    }
    const started = Date.now();
    buildImageLocally(store, TAG);
    process.stdout.write(`      (image built in ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
    config = inspectImage(store, TAG);
    root = mkdtempSync(path.join(os.tmpdir(), 'kubemom-image-'));
  });

  after(async function () {
    for (const run of runs) {
      if (run.child.exitCode === null) {
        // buildah run does not pass signals on to the chroot'ed command: stop the command itself.
        for (const proc of descendants(run.child.pid!)) process.kill(proc.pid, 'SIGKILL');
        await run.exited;
      }
      buildah(store, ['rm', run.container]);
    }
    try {
      buildah(store, ['rmi', '-f', TAG]);
    } catch {
      // already gone
    }
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('declares KubeVirt\'s sidecar user 107:107, the sidecar as default command, and the small-heap node flag', () => {
    expect(config.User).to.equal('107:107');
    expect(config.Entrypoint).to.deep.equal(['/usr/local/bin/node', '--lite-mode', '--no-expose-wasm', '--max-semi-space-size=1', '/opt/kubemom/dist/src/cli/kubemom-sidecar.bundle.js']);
    expect(config.Cmd).to.deep.equal(['sidecar']);
  });

  it('has no shell in the runtime image', async () => {
    const run = runInImage(store, TAG, ['/bin/sh', '-c', 'true']);
    runs.push(run);
    expect(await run.exited).to.not.equal(0);
  });

  it('runs the sidecar as uid/gid 107 with no capabilities, answers Info and OnDefineDomain, and exits 0 on Shutdown', async function () {
    this.timeout(120_000);
    const hookDir = path.join(root, 'hook-sidecar-0');
    mkdirSync(hookDir, { mode: 0o770 });
    // The hook-sidecar-sockets emptyDir is writable by the pod's fsGroup 107, not by root only.
    chownSync(hookDir, KUBEVIRT_SIDECAR_UID, KUBEVIRT_SIDECAR_UID);
    const run = runInImage(store, TAG, [...config.Entrypoint!, ...config.Cmd!], {
      mounts: { [hookDir]: '/var/run/kubevirt-hooks' },
      env: { CONTAINER_NAME: 'hook-sidecar-0' },
    });
    runs.push(run);

    const [hook] = await discoverHooks(root, 1, 60_000);
    expect(hook!.socketPath).to.equal(path.join(hookDir, 'kubemom.sock'));
    expect(statSync(hook!.socketPath).uid).to.equal(KUBEVIRT_SIDECAR_UID);
    const info = await describeHook(hook!.socketPath);
    expect(info.name).to.equal('kubemom');
    expect(info.version).to.equal('v1alpha3');
    expect(info.hookPoints).to.have.members(['OnDefineDomain', 'Shutdown']);

    const node = descendants(run.child.pid!).filter((p) => p.name === 'node');
    expect(node, run.output()).to.have.lengthOf(1);
    expect(node[0]!.uid).to.equal(KUBEVIRT_SIDECAR_UID);
    expect(node[0]!.gid).to.equal(KUBEVIRT_SIDECAR_UID);
    expect(node[0]!.capEff).to.equal(0n);

    const domain = await onDefineDomain([hook!], fixtureDomainXml, fixtureVmiJson);
    expect(domain).to.include('path=/var/run/kubevirt-hooks/hook-sidecar-0/kubemom/qmp/');
    expect(domain).to.include('-mon');
    expect(domain).to.match(/<memballoon[^>]*model="virtio-non-transitional"/);
    const qmpDir = path.join(hookDir, 'kubemom', 'qmp');
    expect(statSync(qmpDir).uid).to.equal(KUBEVIRT_SIDECAR_UID);
    const rss = descendants(run.child.pid!).find((p) => p.pid === node[0]!.pid)?.rssBytes ?? 0;
    process.stdout.write(`      (sidecar resident after OnDefineDomain: ${(rss / 2 ** 20).toFixed(1)} MiB)\n`);

    await shutdownHooks([hook!]);
    expect(await run.exited, run.output()).to.equal(0);
    expect(existsSync(hook!.socketPath)).to.equal(false);
  });

  it("runs the shim with the DaemonSet's command, arguments and settings: /healthz, /readyz and /metrics answer", async function () {
    this.timeout(120_000);
    const ds = parseManifests(readFileSync(path.join(packageRoot, 'manifests', 'base', 'shim-daemonset.yaml'), 'utf8'), 'shim-daemonset.yaml')[0] as any;
    const container = ds.spec.template.spec.containers[0];
    const kubeletRoot = path.join(root, 'kubelet');
    mkdirSync(path.join(kubeletRoot, 'pods'), { recursive: true });
    // The DaemonSet mounts the kubelet's config file and the cgroup fs read-only: here a small config of our own
    // and this machine's cgroup fs.
    const kubeletConfigDir = path.join(root, 'kubelet-config');
    mkdirSync(kubeletConfigDir, { recursive: true });
    writeFileSync(path.join(kubeletConfigDir, 'config.yaml'), 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nevictionHard:\n  memory.available: 100Mi\n');
    const port = await freePort();
    const run = runInImage(
      store,
      TAG,
      [
        ...container.command,
        ...container.args,
        // Here, not on a node: no node-exporter, the machine's KSM left alone, a free loopback port.
        '--node-exporter-url=',
        '--ksm-dir=',
        `--metrics-address=127.0.0.1:${port}`,
      ].map((arg: string) => arg.replace('$(HOST_IP)', '127.0.0.1').replace('$(NODE_NAME)', 'node-a')),
      {
        user: `${ds.spec.template.spec.securityContext.runAsUser}:${ds.spec.template.spec.securityContext.runAsGroup}`,
        dropAllCapabilities: container.securityContext.capabilities.drop.includes('ALL'),
        env: policyEnv(),
        mounts: { [kubeletRoot]: '/var/lib/kubelet', '/proc': '/host/proc', '/proc/pressure': '/host/proc/pressure', [kubeletConfigDir]: '/host/kubelet', '/sys/fs/cgroup': '/host/sys/fs/cgroup' },
      },
    );
    runs.push(run);
    const base = `http://127.0.0.1:${port}`;
    const ready = await waitFor('the shim to be ready', 60_000, async () => ((await get(`${base}/readyz`)).status === 200 ? true : undefined));
    expect(ready, run.output()).to.equal(true);
    expect((await get(`${base}/healthz`)).status).to.equal(200);
    const metrics = (await get(`${base}/metrics`)).body;
    expect(metrics).to.include('kubemom_shim_policy_info{policy="observe"} 1');
    // The PSI trigger addon was built in the image, and the kernel armed the ConfigMap's 2 s-window trigger for a
    // root process without any capability (a shorter window would need CAP_SYS_RESOURCE).
    expect(metrics, run.output()).to.include('kubemom_shim_psi_trigger_mode{mode="kernel"} 1');
    const total = Number(/^kubemom_host_memory_total_bytes ([0-9.e+]+)$/m.exec(metrics)?.[1]);
    expect(total).to.equal(Number(/^MemTotal:\s+([0-9]+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024);

    const shim = descendants(run.child.pid!).filter((p) => p.name === 'node');
    expect(shim).to.have.lengthOf(1);
    expect(shim[0]!.capEff, 'the shim needs no capability').to.equal(0n);
    process.kill(shim[0]!.pid, 'SIGTERM');
    expect(await run.exited, run.output()).to.equal(0);
  });
});
