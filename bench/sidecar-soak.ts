/**
 * Soak: the shipped sidecar (`bin/kubemom-sidecar`, its own process) with a live TCG
 * guest under libvirt streaming stats every second, for N minutes. A kubemom.v1 client
 * stays subscribed to WatchStats the whole time (as the shim is) and sends SetTarget
 * every 5 s, alternating between two safe values so the balloon really moves.
 *
 * VmRSS and RssAnon of the sidecar are read from /proc/PID/status every 10 s. Baseline
 * in the same run: the same sidecar process, idle, before its VM exists.
 *
 *   node dist/bench/sidecar-soak.js [--minutes N] [--baseline-seconds S] [--heap-snapshots DIR] [--node-flags "FLAGS"]
 *
 * Prints the series, first- vs last-minute means, the least-squares slope and the
 * last/first ratio, and flags growth; asserts nothing.
 *
 * --heap-snapshots DIR (investigation): runs the same bundle with the launcher's flags plus
 * `--heapsnapshot-signal`, takes a snapshot when idle, after the first minute and at the end,
 * and prints which classes of live objects grew. Snapshots cost memory themselves, so the
 * RSS series of such a run is not the figure to quote.
 *
 * --node-flags "FLAGS" (investigation): the same bundle with the launcher's flags plus these
 * (e.g. "--trace-gc"); the sidecar's stdout is passed through.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ClientReadableStream } from '@grpc/grpc-js';
import type { WireStatsSample } from '../src/api/kubemom-v1.js';
import { AgentClient } from '../src/api/client.js';
import { qemuUser } from '../testbed/users.js';
import { sidecarHooksDir } from '../testbed/test-vm.js';
import { Testbed } from '../testbed/testbed.js';
import { isMain, mib, printTable, readProcMemory, startSidecarProcess, type ProcMemory, type SidecarProcess } from './support/bench-support.js';
import { diffHeapSnapshots, summarizeHeapSnapshot } from './support/heap-snapshot.js';
import { bundleLaunch, sidecarLauncherLaunch } from './support/launchers.js';
import { packageRoot } from '../src/common/paths.js';

const MiB = 2 ** 20;
const SAMPLE_EVERY_MS = 10_000;
const SET_TARGET_EVERY_MS = 5_000;
const GUEST_MIB = 512;
/** Both far above the guaranteed 256 MiB and the tiny guest's need (about 30 MiB) plus margin. */
const TARGETS_MIB = [384, 512] as const;
/** Growth is flagged above this RssAnon slope after the first minute (0.5 MiB over 10 minutes)... */
const GROWTH_SLOPE_KIB_PER_MIN = 50;
/** ...when the last minute also averages this much above the first. */
const GROWTH_RATIO = 1.02;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface SoakOptions {
  minutes?: number;
  /** How long the idle sidecar is sampled before the VM starts (default 60 s). */
  baselineSeconds?: number;
  /** Investigation: take heap snapshots into this directory (see the file comment). */
  heapSnapshotDir?: string;
  /** Investigation: extra Node flags for the sidecar (the bundle with the launcher's flags plus these). */
  nodeFlags?: string[];
}

/** The Node flags bin/kubemom-sidecar passes, read from the script so they cannot drift. */
function launcherNodeFlags(): string[] {
  const script = readFileSync(path.join(packageRoot, 'bin', 'kubemom-sidecar'), 'utf8');
  const match = /^exec node (.*) "\$entry"/m.exec(script);
  if (!match) throw new Error('bin/kubemom-sidecar: no `exec node <flags> "$entry"` line');
  return match[1]!.trim().split(/\s+/);
}

/** Signals the sidecar to write a heap snapshot and waits until the file is complete. */
async function takeHeapSnapshot(pid: number, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + 120_000;
  let lastSize = -1;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`no heap snapshot from pid ${pid} in ${dir} within 120 s`);
    await sleep(500);
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (!file) continue;
    const size = statSync(path.join(dir, file)).size;
    if (size > 0 && size === lastSize) return path.join(dir, file);
    lastSize = size;
  }
}

interface Point {
  /** Seconds since the VM answered (negative: the idle baseline). */
  t: number;
  mem: ProcMemory;
  statsReceived: number;
  setTargets: number;
  /** Completed balloon moves so far (see StatsWatcher.arrivals). */
  moves: number;
}

/** Least-squares slope of y over x. */
export function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Keeps one WatchStats stream open for the whole run and resubscribes if it ends (counted). */
class StatsWatcher {
  received = 0;
  restarts = 0;
  lastPhase = '';
  actualBytes: number | undefined;
  /** Times `actual` arrived at one of the targets, coming from the other: completed balloon moves. */
  arrivals = 0;
  lastError = '';
  private stream: ClientReadableStream<WireStatsSample> | undefined;
  private closed = false;

  constructor(private readonly client: AgentClient) {
    this.open();
  }

  private open(): void {
    const stream = this.client.watchStats();
    this.stream = stream;
    stream.on('data', (sample: Record<string, unknown>) => {
      this.received++;
      this.lastPhase = String(sample.phase);
      const actual = Number(sample.balloon_actual_bytes);
      // The first report is where the balloon starts, not a move.
      if (actual > 0 && this.actualBytes !== undefined && actual !== this.actualBytes && TARGETS_MIB.some((t) => t * MiB === actual)) this.arrivals++;
      if (actual > 0) this.actualBytes = actual;
    });
    stream.on('error', (error: Error) => {
      if (!this.closed) this.lastError = error.message;
    });
    stream.on('close', () => {
      if (this.closed) return;
      this.restarts++;
      setTimeout(() => this.open(), 1_000);
    });
  }

  close(): void {
    this.closed = true;
    this.stream?.cancel();
  }
}

function summaryRow(name: string, points: Point[], pick: (m: ProcMemory) => number, baselineKiB: number): string[] {
  const first = points.filter((p) => p.t < 60);
  const endT = points[points.length - 1]!.t;
  const last = points.filter((p) => p.t > endT - 60);
  const afterWarmup = points.filter((p) => p.t >= 60);
  const whole = slope(points.map((p) => p.t / 60), points.map((p) => pick(p.mem)));
  const steady = slope(afterWarmup.map((p) => p.t / 60), afterWarmup.map((p) => pick(p.mem)));
  const firstMean = mean(first.map((p) => pick(p.mem)));
  const lastMean = mean(last.map((p) => pick(p.mem)));
  return [
    name,
    mib(baselineKiB),
    mib(firstMean),
    mib(lastMean),
    `${(lastMean / firstMean).toFixed(3)}x`,
    `${(lastMean / baselineKiB).toFixed(2)}x`,
    whole.toFixed(1),
    steady.toFixed(1),
    steady > GROWTH_SLOPE_KIB_PER_MIN && lastMean / firstMean > GROWTH_RATIO ? 'GROWTH' : 'flat',
  ];
}

export async function runSoakBench(options: SoakOptions = {}): Promise<void> {
  const minutes = options.minutes ?? 10;
  const baselineSeconds = options.baselineSeconds ?? 60;
  const bed = await Testbed.setup();
  let sidecar: SidecarProcess | undefined;
  let client: AgentClient | undefined;
  let watcher: StatsWatcher | undefined;
  let setTargetTimer: NodeJS.Timeout | undefined;
  try {
    const qemu = qemuUser();
    const dir = sidecarHooksDir();
    const snapshotDir = options.heapSnapshotDir ? path.resolve(options.heapSnapshotDir) : undefined;
    if (snapshotDir) mkdirSync(snapshotDir, { recursive: true });
    const extraFlags = [
      ...(snapshotDir ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshotDir}`] : []),
      ...(options.nodeFlags ?? []),
    ];
    const launch = extraFlags.length > 0 ? bundleLaunch([...launcherNodeFlags(), ...extraFlags]) : sidecarLauncherLaunch();
    sidecar = await startSidecarProcess(launch, {
      dir,
      inheritStdout: (options.nodeFlags ?? []).length > 0,
      // QEMU sees the hook dir where the sidecar does (not under /var/run/kubevirt-hooks/$CONTAINER_NAME).
      extraArgs: ['--qemu-hooks-dir', dir.hooksDir, '--qmp-dir-owner', `${qemu.uid}:${qemu.gid}`, '--pod-uid', randomUUID()],
    });
    const pid = sidecar.pid;
    const snapshots: { label: string; file: string }[] = [];
    const snapshot = async (label: string): Promise<void> => {
      if (snapshotDir) snapshots.push({ label, file: await takeHeapSnapshot(pid, snapshotDir) });
    };
    console.log(`# sidecar-soak: ${extraFlags.length > 0 ? `the sidecar bundle with the launcher's flags + ${extraFlags.join(' ')}` : 'bin/kubemom-sidecar'} (pid ${pid}), ${GUEST_MIB} MiB TCG guest, stats period 1 s, ` +
      `WatchStats subscribed, SetTarget every ${SET_TARGET_EVERY_MS / 1000} s alternating ${TARGETS_MIB.join('/')} MiB, ` +
      `/proc/${pid}/status every ${SAMPLE_EVERY_MS / 1000} s for ${minutes} min`);

    // Baseline: the same process, idle, before its VM exists.
    const baseline: ProcMemory[] = [];
    for (let t = 0; t < baselineSeconds; t += SAMPLE_EVERY_MS / 1000) {
      await sleep(SAMPLE_EVERY_MS);
      baseline.push(readProcMemory(pid));
    }
    await snapshot('idle, before the VM');

    const vm = await bed.startVm({
      name: 'soak',
      memoryMiB: GUEST_MIB,
      requestMiB: 256,
      annotations: { 'kubemom.io/stats-period': '1' },
      externalSidecar: { hooksDir: sidecar.hooksDir },
    });
    const started = Date.now();
    client = new AgentClient(vm.sidecarSocketPath);
    watcher = new StatsWatcher(client);

    let setTargets = 0;
    let setTargetErrors = 0;
    const clamps = new Map<string, number>();
    let lastSetTargetError = '';
    setTargetTimer = setInterval(() => {
      const target = TARGETS_MIB[setTargets % TARGETS_MIB.length]! * MiB;
      setTargets++;
      client!.setTarget({ target_bytes: target, reason: 'soak' }).then(
        (res) => clamps.set(res.clamp ?? 'CLAMP_NONE', (clamps.get(res.clamp ?? 'CLAMP_NONE') ?? 0) + 1),
        (error: Error) => {
          setTargetErrors++;
          lastSetTargetError = error.message;
        },
      );
    }, SET_TARGET_EVERY_MS);

    const points: Point[] = baseline.map((mem, i) => ({
      t: -baselineSeconds + i * (SAMPLE_EVERY_MS / 1000),
      mem,
      statsReceived: 0,
      setTargets: 0,
      moves: 0,
    }));
    const end = started + minutes * 60_000;
    for (let next = started + SAMPLE_EVERY_MS; next <= end; next += SAMPLE_EVERY_MS) {
      await sleep(Math.max(0, next - Date.now()));
      if (next - started === 60_000) await snapshot('after the first minute');
      points.push({
        t: Math.round((Date.now() - started) / 1000),
        mem: readProcMemory(pid),
        statsReceived: watcher.received,
        setTargets,
        moves: watcher.arrivals,
      });
    }
    await snapshot('at the end');
    clearInterval(setTargetTimer);
    setTargetTimer = undefined;

    printTable(
      ['t s', 'RSS MiB', 'RssAnon MiB', 'RssFile MiB', 'stats recv', 'SetTarget', 'balloon moves'],
      points.map((p) => [
        String(p.t),
        mib(p.mem.rssKiB),
        mib(p.mem.rssAnonKiB),
        mib(p.mem.rssFileKiB),
        String(p.statsReceived),
        String(p.setTargets),
        String(p.moves),
      ]),
    );
    const live = points.filter((p) => p.t > 0);
    const baseRss = mean(baseline.map((m) => m.rssKiB));
    const baseAnon = mean(baseline.map((m) => m.rssAnonKiB));
    console.log('');
    printTable(
      ['', 'idle MiB', '1st min MiB', 'last min MiB', 'last/1st', 'last/idle', 'slope KiB/min', 'after 1st min', 'verdict'],
      [summaryRow('VmRSS', live, (m) => m.rssKiB, baseRss), summaryRow('RssAnon', live, (m) => m.rssAnonKiB, baseAnon)],
    );
    const elapsedS = (Date.now() - started) / 1000;
    console.log(
      `stats samples received ${watcher.received} in ${elapsedS.toFixed(0)} s (${(watcher.received / elapsedS).toFixed(2)}/s), ` +
        `stream restarts ${watcher.restarts}${watcher.lastError ? ` (last error: ${watcher.lastError})` : ''}, last phase ${watcher.lastPhase}; ` +
        `SetTarget ${setTargets} sent, ${setTargetErrors} failed${lastSetTargetError ? ` (${lastSetTargetError})` : ''}, ` +
        `clamps ${[...clamps].map(([k, v]) => `${k}=${v}`).join(' ')}; balloon moves completed ${watcher.arrivals}`,
    );
    console.log(`verdict: GROWTH when the slope after the first minute exceeds ${GROWTH_SLOPE_KIB_PER_MIN} KiB/min and last/1st exceeds ${GROWTH_RATIO}`);

    if (snapshots.length > 0) printSnapshotDiffs(snapshots);

    watcher.close();
    client.close();
    client = undefined;
    await vm.destroy();
    // destroy() sent Shutdown, as virt-launcher does: the sidecar ends on its own.
    const code = await Promise.race([sidecar.exited, sleep(10_000).then(() => 'still running after 10 s')]);
    console.log(`sidecar exit after Shutdown: ${code}`);
  } finally {
    if (setTargetTimer) clearInterval(setTargetTimer);
    watcher?.close();
    client?.close();
    await sidecar?.stop();
    await bed.teardown();
  }
}

function printSnapshotDiffs(snapshots: { label: string; file: string }[]): void {
  const summaries = snapshots.map((s) => ({ ...s, ...summarizeHeapSnapshot(s.file) }));
  console.log('');
  for (const s of summaries) console.log(`heap snapshot ${s.label}: ${(s.totalBytes / 1024).toFixed(0)} KiB live (${s.file})`);
  for (let i = 1; i < summaries.length; i++) {
    const from = summaries[i - 1]!;
    const to = summaries[i]!;
    console.log(`\nlive objects, ${from.label} -> ${to.label}: ${((to.totalBytes - from.totalBytes) / 1024).toFixed(1)} KiB`);
    printTable(
      ['class', 'count delta', 'KiB delta'],
      diffHeapSnapshots(from.classes, to.classes).map((r) => [r.key.slice(0, 70), String(r.countDelta), (r.bytesDelta / 1024).toFixed(1)]),
    );
  }
}

function flag(name: string): number | undefined {
  const i = process.argv.indexOf(name);
  if (i < 0) return undefined;
  const value = Number(process.argv[i + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name}: "${process.argv[i + 1]}" is not accepted; use a positive number`);
  return value;
}

if (isMain(import.meta.url)) {
  const minutes = flag('--minutes');
  const baselineSeconds = flag('--baseline-seconds');
  const snapshotsAt = process.argv.indexOf('--heap-snapshots');
  const heapSnapshotDir = snapshotsAt > 0 ? process.argv[snapshotsAt + 1] : undefined;
  if (snapshotsAt > 0 && !heapSnapshotDir) throw new Error('--heap-snapshots: a directory is required');
  const nodeFlagsAt = process.argv.indexOf('--node-flags');
  const nodeFlags = nodeFlagsAt > 0 ? (process.argv[nodeFlagsAt + 1] ?? '').split(/\s+/).filter(Boolean) : undefined;
  if (nodeFlagsAt > 0 && !nodeFlags?.length) throw new Error('--node-flags: give the flags as one argument, e.g. --node-flags "--trace-gc"');
  await runSoakBench({
    ...(minutes ? { minutes } : {}),
    ...(baselineSeconds ? { baselineSeconds } : {}),
    ...(heapSnapshotDir ? { heapSnapshotDir } : {}),
    ...(nodeFlags ? { nodeFlags } : {}),
  });
  process.exit(0);
}
