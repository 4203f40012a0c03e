/**
 * Shim scale benchmark: 250 and 1,000 simulated sidecars (SimulatedAgent gRPC
 * servers in two child processes, stats at 1 Hz, kubelet-style socket paths) and
 * one shim in this process, loop period 1 s.
 *
 * Measures, per size, against an idle shim (no sidecars) measured in the same run:
 * - shim CPU (percent of one core) and RSS over a steady-state window;
 * - loop duration p50/p99 (host read + policy + dispatch);
 * - pressure event to the last SetTarget sent and to the last answer received,
 *   when every VM's target changes at once.
 *
 * Usage: node dist/bench/shim-scale.js [--sizes 250,1000] [--window-s 15]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Policy, PolicyDecisions, PolicyInput } from '../src/policy/types.js';
import { SOCKET_NAME } from '../src/api/kubemom-v1.js';
import { HOOK_SOCKETS_VOLUME } from '../src/shim/discovery.js';
import { Shim } from '../src/shim/shim.js';
import type { SimulatedAgentOptions } from '../testbed/simulated-agent.js';

const GI = 2 ** 30;
const MI = 2 ** 20;

/**
 * Bench test policy (not a product policy): every guest at full memory, or at its
 * guaranteed memory while `squeeze` is set. Its targets change for every VM at
 * once when `squeeze` flips: the worst case for dispatch.
 */
class BenchTestPolicy implements Policy<null> {
  readonly name = 'bench-test-squeeze';
  squeeze = false;
  initialState(): null {
    return null;
  }
  evaluate(input: PolicyInput): { decisions: PolicyDecisions; state: null } {
    return {
      decisions: {
        balloons: input.guests.map((g) => ({
          guestId: g.id,
          targetBytes: this.squeeze ? g.guaranteedMemoryBytes : g.guestMemoryBytes,
          reason: this.squeeze ? 'bench-squeeze' : 'bench-grow',
        })),
        ksm: {},
      },
      state: null,
    };
  }
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function startAgentHosts(root: string, count: number): Promise<ChildProcess[]> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'testbed', 'simulated-agent-host.js');
  const hosts: ChildProcess[] = [];
  const perHost = Math.ceil(count / 2);
  for (let h = 0; h * perHost < count; h++) {
    const configs: SimulatedAgentOptions[] = [];
    for (let i = h * perHost; i < Math.min(count, (h + 1) * perHost); i++) {
      const podUid = randomUUID();
      configs.push({
        socketPath: path.join(root, 'pods', podUid, HOOK_SOCKETS_VOLUME, 'hook-sidecar-0', SOCKET_NAME),
        namespace: 'bench',
        name: `vm-${i}`,
        uid: randomUUID(),
        podUid,
        guestMemoryBytes: 4 * GI,
        guaranteedMemoryBytes: 1 * GI,
        usedBytes: 512 * MI,
        statsPeriodMs: 1000,
        balloonRateBytesPerSecond: 64 * GI,
      });
    }
    const file = path.join(root, `agents-${h}.json`);
    writeFileSync(file, JSON.stringify(configs));
    const child = fork(script, [file], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...process.env, KUBEMOM_LOG_LEVEL: 'error' } });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`agent host exited ${code}`)));
    });
    hosts.push(child);
  }
  return hosts;
}

async function stopAgentHosts(hosts: ChildProcess[]): Promise<void> {
  await Promise.all(
    hosts.map(
      (child) =>
        new Promise<void>((resolve) => {
          const force = setTimeout(() => child.kill('SIGKILL'), 5000);
          child.once('exit', () => {
            clearTimeout(force);
            resolve();
          });
          child.send({ cmd: 'stop' });
        }),
    ),
  );
}

interface Result {
  vms: number;
  cpuPercent: number;
  rssMiB: number;
  loopP50Ms: number;
  loopP99Ms: number;
  cycles: number;
  periodicMaxMs: number;
  pressureToLastSendMs: number[];
  pressureToLastAnswerMs: number[];
  /** Series in one /metrics scrape (sample lines), and its size: what each node adds to Prometheus. */
  metricSeries: number;
  scrapeKiB: number;
}

/** One scrape of the shim's /metrics: sample lines (every series) and bytes. */
async function scrapeSize(port: number): Promise<{ series: number; bytes: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return { series: text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length, bytes: Buffer.byteLength(text) };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function measure(vms: number, windowS: number): Promise<Result> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'kubemom-bench-'));
  const hosts = vms > 0 ? await startAgentHosts(root, vms) : [];
  const policy = new BenchTestPolicy();
  const shim = new Shim(
    {
      kubeletRoot: root,
      meminfoFile: '/proc/meminfo',
      psiFile: '/proc/pressure/memory',
      vmstatFile: '/proc/vmstat',
      procRoot: '/proc',
      periodMs: 1000,
      rescanMs: 5000,
      ksmDir: '/sys/kernel/mm/ksm',
      psiTrigger: { kind: 'some', stallUs: 150_000, windowUs: 1_000_000 },
      listen: { host: '127.0.0.1', port: 0 },
    },
    policy as Policy<unknown>,
  );
  const durations: number[] = [];
  let pressureSend: number | undefined;
  let pressureSettled: Promise<void> | undefined;
  shim.onCycleHook = (r) => {
    durations.push(r.durationMs);
    if (r.trigger === 'pressure') {
      pressureSend = r.lastSendAt;
      pressureSettled = r.settled;
    }
  };
  try {
    await shim.start();
    const live = (): number => shim.registry.all().filter((s) => s.state === 'live').length;
    const deadline = Date.now() + 60_000;
    while (live() < vms && Date.now() < deadline) await sleep(200);
    if (live() < vms) throw new Error(`only ${live()} of ${vms} sidecars live after 60 s`);
    // Settle: first targets sent, streams steady.
    await sleep(3000);
    // Steady state window.
    durations.length = 0;
    global.gc?.();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let rssMax = 0;
    const rssTimer = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 250);
    await sleep(windowS * 1000);
    clearInterval(rssTimer);
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - t0;
    const periodic = [...durations];
    const scrape = await scrapeSize(shim.httpPort!);
    // Loop cost under the same streaming load, over enough cycles for a p99: 300
    // extra cycles, 20 ms apart (targets unchanged, as in steady state).
    const steady: number[] = [];
    for (let i = 0; i < 300; i++) {
      const r = await shim.loop.runOnce('manual');
      if (r) steady.push(r.durationMs);
      await sleep(20);
    }

    // Pressure events: every VM's target changes at once.
    const toSend: number[] = [];
    const toAnswer: number[] = [];
    for (let i = 0; i < 6; i++) {
      policy.squeeze = !policy.squeeze;
      pressureSend = undefined;
      pressureSettled = undefined;
      const at = performance.now();
      shim.loop.wake(at);
      while (pressureSettled === undefined) await sleep(1);
      if (vms > 0 && pressureSend !== undefined) toSend.push(pressureSend - at);
      await pressureSettled;
      if (vms > 0) toAnswer.push(performance.now() - at);
      await sleep(1200);
    }
    return {
      vms,
      cpuPercent: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
      rssMiB: rssMax / MI,
      loopP50Ms: percentile(steady, 50),
      loopP99Ms: percentile(steady, 99),
      cycles: steady.length,
      periodicMaxMs: Math.max(...periodic),
      pressureToLastSendMs: toSend,
      pressureToLastAnswerMs: toAnswer,
      metricSeries: scrape.series,
      scrapeKiB: scrape.bytes / 1024,
    };
  } finally {
    await shim.stop();
    await stopAgentHosts(hosts);
    rmSync(root, { recursive: true, force: true });
  }
}

const sizes = arg('--sizes', '250,1000').split(',').map(Number);
const windowS = Number(arg('--window-s', '15'));
process.env.KUBEMOM_LOG_LEVEL ??= 'error';
console.log(`shim scale bench: loop period 1 s, stats at 1 Hz, steady window ${windowS} s, ${os.availableParallelism()} cores`);
const baseline = await measure(0, windowS);
const rows = [baseline];
for (const size of sizes) rows.push(await measure(size, windowS));
const fmt = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : '-');
console.log('\n  VMs | shim CPU % of a core (x idle) | RSS MiB (x idle) | loop p50 ms | loop p99 ms (x idle) | max periodic | pressure->last SetTarget dispatched ms (median/max) | ->all answered ms (median/max) | /metrics');
for (const r of rows) {
  console.log(
    `${String(r.vms).padStart(5)} | ${fmt(r.cpuPercent)} (${fmt(r.cpuPercent / baseline.cpuPercent, 1)}x)`.padEnd(40) +
      ` | ${fmt(r.rssMiB, 0)} (${fmt(r.rssMiB / baseline.rssMiB, 1)}x)`.padEnd(20) +
      ` | ${fmt(r.loopP50Ms, 3)}`.padEnd(14) +
      ` | ${fmt(r.loopP99Ms, 3)} (${fmt(r.loopP99Ms / baseline.loopP99Ms, 1)}x)`.padEnd(22) +
      ` | ${fmt(r.periodicMaxMs, 1)}`.padEnd(15) +
      ` | ${fmt(percentile(r.pressureToLastSendMs, 50))}/${fmt(r.pressureToLastSendMs.length ? Math.max(...r.pressureToLastSendMs) : NaN)}`.padEnd(48) +
      ` | ${fmt(percentile(r.pressureToLastAnswerMs, 50))}/${fmt(r.pressureToLastAnswerMs.length ? Math.max(...r.pressureToLastAnswerMs) : NaN)}`.padEnd(32) +
      ` | ${r.metricSeries} series, ${fmt(r.scrapeKiB, 0)} KiB`,
  );
}
console.log('\n(idle = the same shim with no sidecars, measured first in this run. CPU % and RSS over the steady window with the');
console.log(' 1 s loop; loop p50/p99 over 300 extra cycles under the same stats load; max periodic = the slowest 1 s-period');
console.log(' cycle of the window. Pressure: a wake-up in which every VM target changes; dispatched = handed to grpc-js,');
console.log(' answered = every SetTarget answered. The agents run in two child processes, outside the shim figures.');
console.log(' /metrics: sample lines (series) and size of one scrape after the steady window.)');
