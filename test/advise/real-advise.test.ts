/**
 * `kubemom advise` against a real Prometheus (Debian's package) on loopback, its TSDB
 * backfilled by promtool from OpenMetrics this test writes: a day of KubeVirt metrics for
 * two nodes and seven VMs, each chosen for one case (reclaimable, request equal to the
 * guest, swapping, hugepages, no balloon statistics, no request, constant use). The test
 * computes what the default policy would reclaim from the same numbers by the rule
 * docs/advise.md states, and checks the report, the JSON, the plot and the errors.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/common/paths.js';
import { freeLoopbackPort, PrometheusServer } from '../../testbed/prometheus-server.js';
import { sampleTimes, writeOpenMetrics, type SyntheticCluster, type SyntheticVm } from '../../testbed/kubevirt-metrics.js';

const run = promisify(execFile);
const MiB = 2 ** 20;
const GiB = 2 ** 30;
const STEP = 300;
const CLI = path.join(packageRoot, 'dist', 'src', 'cli', 'main.js');

// A whole hour, an hour ago: the window is [END - 1d, END], samples every 5 min on the grid.
const END = Math.floor(Date.now() / 3_600_000) * 3600 - 3600;
const START = END - 86_400;
const wave = (t: number, phase = 0) => 0.5 + 0.5 * Math.sin((2 * Math.PI * (t - START)) / 86_400 + phase);

const base = { swapIn: () => 0, majorFaults: (t: number) => Math.floor((t - START) / 10), balloon: true };
const VMS: SyntheticVm[] = [
  // Uses 3..6 GiB of 8 GiB over the day: something to take most of the time.
  { ...base, namespace: 'shop', name: 'web', node: 'node-a', domainBytes: 8 * GiB, requestBytes: 4 * GiB, actual: () => 8 * GiB, usable: (t) => 2 * GiB + 3 * GiB * wave(t) },
  { ...base, namespace: 'shop', name: 'db', node: 'node-a', domainBytes: 16 * GiB, requestBytes: 16 * GiB, actual: () => 16 * GiB, usable: () => 8 * GiB },
  // Swaps in during the first six hours: nothing is taken from it then.
  { ...base, namespace: 'jobs', name: 'batch', node: 'node-a', domainBytes: 8 * GiB, requestBytes: 2 * GiB, actual: () => 6 * GiB, usable: () => 4 * GiB, swapIn: (t) => (t - START < 6 * 3600 ? (t - START) * 1000 : 6 * 3600 * 1000) },
  { ...base, namespace: 'jobs', name: 'huge', node: 'node-b', domainBytes: 8 * GiB, requestBytes: 8 * GiB, hugepages: true, actual: () => 8 * GiB, usable: () => 6 * GiB },
  { ...base, namespace: 'jobs', name: 'nostats', node: 'node-b', domainBytes: 4 * GiB, requestBytes: 1 * GiB, balloon: false, actual: () => 0, usable: () => 0 },
  { ...base, namespace: 'dev', name: 'idle', node: 'node-b', domainBytes: 4 * GiB, actual: () => 4 * GiB, usable: () => 3 * GiB },
  { ...base, namespace: 'dev', name: 'app', node: 'node-b', domainBytes: 8 * GiB, requestBytes: 1 * GiB, actual: () => 8 * GiB, usable: () => 6 * GiB },
];
const CLUSTER: SyntheticCluster = {
  nodes: [
    { name: 'node-a', memTotalBytes: 64 * GiB, available: (t) => 20 * GiB + 10 * GiB * wave(t, Math.PI) },
    { name: 'node-b', memTotalBytes: 32 * GiB, available: (t) => 6 * GiB + 4 * GiB * wave(t) },
  ],
  vms: VMS,
  startSec: START,
  endSec: END,
  intervalSec: STEP,
};

/** Nearest-rank percentile. */
function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? s[Math.max(1, Math.ceil(p * s.length)) - 1]! : 0;
}

/**
 * What the default policy would take from a VM at each sample, by the documented rule:
 * floor = max(request, used + max(margin, 10 % of the balloon) + 10 s of its used-memory
 * growth over the last three samples), margin = min(64Mi, guest / 8); nothing while the
 * guest swapped in since the previous sample; whole values as Prometheus stores them.
 */
function expectedReclaim(vm: SyntheticVm): number[] {
  const times = sampleTimes(CLUSTER);
  const r = (f: (t: number) => number) => (t: number) => Math.round(f(t));
  const actual = r(vm.actual);
  const used = (t: number) => actual(t) - r(vm.usable)(t);
  return times.map((t, i) => {
    if (i > 0 && r(vm.swapIn)(t) > r(vm.swapIn)(times[i - 1]!)) return 0;
    const from = times[Math.max(0, i - 2)]!;
    const growth = from < t ? Math.max(0, (used(t) - used(from)) / (t - from)) * 10 : 0;
    const margin = Math.min(64 * MiB, Math.floor(vm.domainBytes / 8));
    const floor = Math.max(vm.requestBytes!, used(t) + Math.max(margin, 0.1 * actual(t)) + growth);
    return Math.max(0, actual(t) - floor);
  });
}

async function advise(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, 'advise', ...args], { maxBuffer: 64 * MiB });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('kubemom advise against a real Prometheus (backfilled by promtool)', function () {
  this.timeout(180_000);
  let prom: PrometheusServer;
  let tmp: string;
  const window = () => ['--prometheus', prom.url, '--since', '1d', '--until', String(END), '--step', '5m'];

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'kubemom-advise-'));
    prom = await PrometheusServer.start({ writeOpenMetrics: (file) => writeOpenMetrics(CLUSTER, file) });
  });
  after(async () => {
    await prom?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('reports per VM the p50 and p95 of what the default policy would reclaim, as computed here', async () => {
    const { code, stdout, stderr } = await advise([...window(), '--json']);
    expect(stderr).to.equal('');
    expect(code).to.equal(0);
    const report = JSON.parse(stdout);
    const vm = (ns: string, name: string) => report.vms.find((v: { namespace: string; name: string }) => v.namespace === ns && v.name === name);
    for (const [ns, name] of [['shop', 'web'], ['jobs', 'batch'], ['dev', 'app']] as const) {
      const spec = VMS.find((v) => v.namespace === ns && v.name === name)!;
      const want = expectedReclaim(spec);
      const got = vm(ns, name);
      expect(got.samples, name).to.equal(want.length);
      expect(got.reclaimableP50Bytes, `${name} p50`).to.be.closeTo(pct(want, 0.5), 1);
      expect(got.reclaimableP95Bytes, `${name} p95`).to.be.closeTo(pct(want, 0.95), 1);
      expect(got.neverTouched, name).to.equal(undefined);
      expect(got.guaranteedFrom).to.equal('request');
    }
    // The swapping VM gave nothing for its first six hours (72 samples of 5 min).
    expect(vm('jobs', 'batch').distressedSamples).to.equal(72);
    // web: p95 above p50, both below what its request leaves (8 - 4 GiB).
    expect(vm('shop', 'web').reclaimableP95Bytes).to.be.greaterThan(vm('shop', 'web').reclaimableP50Bytes);
    expect(vm('shop', 'web').reclaimableP95Bytes).to.be.at.most(4 * GiB);
  });

  it('names the VMs it would never touch, and why', async () => {
    const report = JSON.parse((await advise([...window(), '--json'])).stdout);
    const why = Object.fromEntries(report.vms.filter((v: { neverTouched?: string }) => v.neverTouched).map((v: { name: string; neverTouched: string }) => [v.name, v.neverTouched]));
    expect(Object.keys(why).sort()).to.deep.equal(['db', 'huge', 'idle', 'nostats']);
    expect(why.db).to.match(/request equals its guest memory/);
    expect(why.huge).to.match(/hugepages/);
    expect(why.nostats).to.match(/no balloon statistics/);
    expect(why.idle).to.match(/no memory request/);
  });

  it('reports per node the reclaimable sum and the memory it could add without crossing its reserve at the peak', async () => {
    const report = JSON.parse((await advise([...window(), '--json', '--eviction-hard', '200Mi'])).stdout);
    const times = sampleTimes(CLUSTER);
    for (const node of CLUSTER.nodes) {
      const mine = VMS.filter((v) => v.node === node.name && v.balloon && !v.hugepages && v.requestBytes !== undefined && v.requestBytes < v.domainBytes);
      const perVm = mine.map(expectedReclaim);
      const sums = times.map((_, i) => perVm.reduce((s, r) => s + r[i]!, 0));
      // The default policy's reserve: the threshold + max(512Mi, 5 % of MemTotal), at most 2 GiB on a large node.
      const reserve = 200 * MiB + Math.min(Math.max(512 * MiB, 0.05 * node.memTotalBytes), 2048 * MiB);
      const lowestWith = Math.min(...times.map((t, i) => Math.round(node.available(t)) + sums[i]!));
      const lowest = Math.min(...times.map((t) => Math.round(node.available(t))));
      const got = report.nodes.find((n: { node: string }) => n.node === node.name);
      expect(got.memTotalBytes).to.equal(node.memTotalBytes);
      expect(got.reserveBytes).to.be.closeTo(reserve, 1);
      expect(got.reclaimableP50Bytes, node.name).to.be.closeTo(pct(sums, 0.5), 1);
      expect(got.reclaimableP95Bytes, node.name).to.be.closeTo(pct(sums, 0.95), 1);
      expect(got.lowestAvailableBytes).to.equal(lowest);
      expect(got.canAddBytes, node.name).to.be.closeTo(Math.max(0, lowestWith - reserve), 1);
      expect(got.canAddWithoutKubemomBytes).to.be.closeTo(Math.max(0, lowest - reserve), 1);
      const guest = VMS.filter((v) => v.node === node.name).reduce((s, v) => s + v.domainBytes, 0);
      expect(got.vms).to.equal(VMS.filter((v) => v.node === node.name && v.balloon).length);
      expect(got.possibleOvercommitRatio).to.be.closeTo((guest - (VMS.filter((v) => v.node === node.name && !v.balloon).reduce((s, v) => s + v.domainBytes, 0)) + got.canAddBytes) / node.memTotalBytes, 1e-9);
    }
  });

  it('prints a table a person can read, and writes the plot as SVG and as PNG', async () => {
    const svg = path.join(tmp, 'advice.svg');
    const { code, stdout } = await advise([...window(), '--plot', svg]);
    expect(code).to.equal(0);
    expect(stdout).to.match(/^NODE\s+MEMORY\s+VMS/m);
    expect(stdout).to.match(/^node-a\s+64\.0G\s+3\s/m);
    expect(stdout).to.match(/^shop\/db\s+node-a\s+its memory request equals its guest memory/m);
    expect(stdout).to.include(`plot written to ${svg}`);
    const text = await readFile(svg, 'utf8');
    expect(text).to.match(/^<svg /);
    for (const node of ['node-a', 'node-b']) expect(text).to.include(`>${node}</text>`);
    const png = path.join(tmp, 'advice.png');
    expect((await advise([...window(), '--plot', png])).code).to.equal(0);
    expect((await readFile(png)).subarray(0, 8).toString('hex')).to.equal('89504e470d0a1a0a');
  });

  it('sends the bearer token file as a bearer token', async () => {
    // Prometheus itself takes any token; a loopback proxy in front of it checks the header.
    const http = await import('node:http');
    const seen: string[] = [];
    const proxy = http.createServer((req, res) => {
      seen.push(req.headers.authorization ?? '');
      const upstream = http.request(prom.url + req.url, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      req.pipe(upstream);
    });
    const port = await freeLoopbackPort();
    await new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
    try {
      const token = path.join(tmp, 'token');
      await writeFile(token, 'sekrit-token\n');
      const { code } = await advise(['--prometheus', `http://127.0.0.1:${port}`, '--since', '1d', '--until', String(END), '--bearer-token-file', token, '--json']);
      expect(code).to.equal(0);
      expect(seen.length).to.be.greaterThan(3);
      expect(new Set(seen)).to.deep.equal(new Set(['Bearer sekrit-token']));
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('fails in one line, exit 2, naming the series when KubeVirt\'s or the nodes\' series are missing', async () => {
    // A window before the backfilled data: no KubeVirt series at all.
    const early = await advise(['--prometheus', prom.url, '--since', '1h', '--until', String(START - 86_400)]);
    expect(early.code).to.equal(2);
    expect(early.stderr).to.match(/^kubemom advise: --prometheus: http:\/\/127\.0\.0\.1:\d+ has no series kubevirt_vmi_memory_domain_bytes in the 3600s before .*virt-handler/);
    expect(early.stderr.trim().split('\n')).to.have.length(1);
    // node-exporter's node name is not in the label asked for.
    const label = await advise([...window(), '--node-label', 'nodename']);
    expect(label.code).to.equal(2);
    expect(label.stderr).to.match(/has no series node_memory_MemTotal_bytes\{nodename="node-a"\}.*--node-label/);
    expect(label.stderr.trim().split('\n')).to.have.length(1);
  });

  it('fails in one line, exit 2, naming the URL when Prometheus does not answer', async () => {
    const port = await freeLoopbackPort();
    const r = await advise(['--prometheus', `http://127.0.0.1:${port}`, '--since', '1d']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.equal(`kubemom advise: --prometheus: cannot reach Prometheus at http://127.0.0.1:${port}: ECONNREFUSED\n`);
    const notProm = await advise(['--prometheus', `${prom.url}/no-such-path`, '--since', '1d']);
    expect(notProm.code).to.equal(2);
    expect(notProm.stderr).to.match(/^kubemom advise: --prometheus: http:\/\/127\.0\.0\.1:\d+\/no-such-path\/api\/v1\/query answered HTTP 404/);
  });

  it('refuses bad flags in one line, exit 2, naming the flag and what is accepted', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--since', '7x'], /^kubemom advise: --since: is "7x"; accepted: a Prometheus duration such as 7d/],
      [['--since', '1d', '--step', '2d'], /^kubemom advise: --step: is 2d, longer than --since 1d/],
      [['--since', '1d', '--until', 'yesterday'], /^kubemom advise: --until: is "yesterday"; accepted: an RFC 3339 time/],
      [['--since', '1d', '--eviction-hard', 'lots'], /^kubemom advise: --eviction-hard: "lots" is not a Kubernetes quantity/],
      [['--since', '1d', '--plot', 'out.pdf'], /^kubemom advise: --plot: is "out.pdf"; accepted: a file name ending in .svg or .png/],
      [['--since', '1d', '--bearer-token-file', '/nonexistent/token'], /^kubemom advise: --bearer-token-file: cannot read "\/nonexistent\/token": ENOENT/],
      [['--since', '60d', '--step', '1s'], /^kubemom advise: --step: 1s gives 5184001 points over --since; Prometheus answers at most 11000/],
    ];
    for (const [args, message] of cases) {
      const r = await advise(['--prometheus', prom.url, ...args]);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.stderr, args.join(' ')).to.match(message);
      expect(r.stderr.trim().split('\n'), args.join(' ')).to.have.length(1);
    }
    const none = await advise(['--since', '1d']);
    expect(none.code).to.equal(2);
    expect(none.stderr).to.match(/required option '--prometheus <url>' not specified/);
    const url = await advise(['--prometheus', 'prometheus:9090']);
    expect(url.code).to.equal(2);
    expect(url.stderr).to.match(/^kubemom advise: --prometheus: is "prometheus:9090"; accepted: an http:\/\/ or https:\/\/ URL/);
  });
});
