/**
 * What the pod watch costs the node shim in memory: the real `kubemom shim` process's VmRSS and RssAnon
 * (/proc/PID/status), idle after start, with `--kubernetes-api off` (the baseline, same run) and with the pod
 * watch synced against the test suite's fake API server serving PODS pods of its node (110: the kubelet's
 * default maxPods). With KUBEMOM_BENCH_CLIENT_NODE=<dir with node_modules/@kubernetes/client-node> it also
 * measures that client (not a KubeMom dependency): the shim's modules plus one informer on the same fake.
 *
 * Run alone: node dist/bench/shim-kube-rss.js [--pods N]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../src/common/paths.js';
import { FakeKubeApiServer } from '../test/support/fake-kube-api-server.js';
import { isMain, mib, printTable, ratio, readProcMemory } from './support/bench-support.js';

const SETTLE_MS = 3_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitForText(child: ChildProcess, stream: 'stdout' | 'stderr', text: string, timeoutMs = 60_000): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no "${text}" within ${timeoutMs} ms: ${seen.slice(-400)}`)), timeoutMs);
    child[stream]!.on('data', (c: Buffer) => {
      seen += c.toString();
      if (seen.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

async function measure(child: ChildProcess): Promise<{ rssKib: number; anonKib: number }> {
  await sleep(SETTLE_MS);
  const readings = [];
  for (let i = 0; i < 5; i++) {
    readings.push(readProcMemory(child.pid!));
    await sleep(200);
  }
  readings.sort((a, b) => a.rssKiB - b.rssKiB);
  return { rssKib: readings[2]!.rssKiB, anonKib: readings[2]!.rssAnonKiB };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

export async function runShimKubeRssBench(pods = 110): Promise<void> {
  const api = new FakeKubeApiServer();
  await api.start();
  for (let i = 0; i < pods; i++) {
    api.add({
      uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, namespace: `ns-${i % 10}`, name: `virt-launcher-vm-${i}-x`, nodeName: 'node-a',
      labels: { 'kubevirt.io': 'virt-launcher', 'kubevirt.io/created-by': `vmi-${i}`, 'vm.kubevirt.io/name': `vm-${i}` },
      annotations: { 'kubevirt.io/domain': `vm-${i}` },
      containers: [{ name: 'compute', memoryRequest: '2248Mi' }, { name: 'hook-sidecar-0', memoryRequest: '64Mi' }],
    });
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'km-bench-kube-'));
  const cli = path.join(packageRoot, 'dist', 'src', 'cli', 'main.js');
  const common = ['shim', '--kubelet-root', dir, '--kubelet-config', '', '--node-exporter-url', '', '--ksm-dir', '', '--metrics-address', '', '--policy', 'observe', '--psi-trigger', 'off'];
  const rows: string[][] = [];
  let baseline: number | undefined;
  const variants: Array<[string, string[]]> = [
    ['--kubernetes-api off', [...common, '--kubernetes-api', 'off']],
    [`pod watch, ${pods} pods`, [...common, '--kubernetes-api', api.url, '--node-name', 'node-a']],
  ];
  try {
    for (const [name, args] of variants) {
      const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBEMOM_LOG_LEVEL: 'info' } });
      try {
        await waitForText(child, 'stderr', 'shim started');
        if (args.includes('--node-name')) while (api.openWatches === 0) await sleep(50);
        const m = await measure(child);
        baseline ??= m.rssKib;
        rows.push([name, mib(m.rssKib), mib(m.anonKib), ratio(m.rssKib, baseline)]);
      } finally {
        await stop(child);
      }
    }
    const clientNode = process.env.KUBEMOM_BENCH_CLIENT_NODE;
    if (clientNode) {
      const script = path.join(dir, 'client-node.mjs');
      writeFileSync(
        script,
        [
          `import { createRequire } from 'node:module';`,
          `await import(${JSON.stringify(path.join(packageRoot, 'dist', 'src', 'shim', 'shim.js'))});`,
          `await import(${JSON.stringify(path.join(packageRoot, 'dist', 'src', 'cli', 'shim-command.js'))});`,
          `const k8s = createRequire(${JSON.stringify(path.join(clientNode, 'x.js'))})('@kubernetes/client-node');`,
          `const kc = new k8s.KubeConfig();`,
          `kc.loadFromOptions({ clusters: [{ name: 'c', server: ${JSON.stringify(api.url)} }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });`,
          `const api = kc.makeApiClient(k8s.CoreV1Api);`,
          `const inf = k8s.makeInformer(kc, '/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a', () => api.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=node-a' }));`,
          `inf.on('error', (e) => console.error('informer error', e?.message));`,
          `await inf.start();`,
          `console.error('informer started');`,
          `setInterval(() => {}, 1000);`,
        ].join('\n'),
      );
      const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        await waitForText(child, 'stderr', 'informer started');
        const m = await measure(child);
        rows.push([`@kubernetes/client-node informer, ${pods} pods`, mib(m.rssKib), mib(m.anonKib), ratio(m.rssKib, baseline!)]);
      } finally {
        await stop(child);
      }
    }
  } finally {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\n## shim RSS with the pod watch (fake API server, ${pods} pods on the node; idle ${SETTLE_MS / 1000} s, median of 5 readings)`);
  printTable(['variant', 'VmRSS', 'RssAnon', 'RSS vs off'], rows);
}

if (isMain(import.meta.url)) {
  const at = process.argv.indexOf('--pods');
  await runShimKubeRssBench(at > 0 ? Number(process.argv[at + 1]) : 110);
}
