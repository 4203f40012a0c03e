/**
 * The sidecar process's memory: VmRSS and RssAnon from /proc/PID/status, idle after
 * start and after 1,000 OnDefineDomain calls, for Node flag sets and entry points.
 * Baseline from the same run: a bare `node -e 'setInterval(()=>{},1000)'`.
 *
 * Goals (issue 2): RSS under 48 MiB and RssAnon under 16 MiB, so the sidecar fits
 * KubeVirt's default 64M sidecar limit with room.
 *
 * Run alone: node dist/bench/sidecar-memory.js [--calls N] [--only SUBSTRING]
 */
import { spawn } from 'node:child_process';
import {
  isMain,
  loadFixtures,
  mib,
  printTable,
  ratio,
  readProcMemory,
  startSidecarProcess,
  type ProcMemory,
  type SidecarLaunch,
} from './support/bench-support.js';
import { defineRequest, hookCaller } from './support/hook-client.js';
import { bundleLaunch, cliLaunch, sidecarLauncherLaunch } from './support/launchers.js';

export interface MemoryOptions {
  /** OnDefineDomain calls before the second reading. */
  calls?: number;
  /** Only variants whose name contains this. */
  only?: string;
}

const GOAL_RSS_KIB = 48 * 1024;
const GOAL_ANON_KIB = 16 * 1024;
/** Time for start-up work (timers, lazy compilation, GC) to settle before a reading. */
const SETTLE_MS = 1_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The variants measured: the plain CLI under single flags and combinations, the bundle, the launcher. */
export function memoryVariants(): [string, SidecarLaunch][] {
  const lite = ['--lite-mode', '--no-expose-wasm'];
  return [
    ['cli', cliLaunch()],
    ['cli --max-semi-space-size=1', cliLaunch(['--max-semi-space-size=1'])],
    ['cli --max-old-space-size=24', cliLaunch(['--max-old-space-size=24'])],
    ['cli --optimize-for-size', cliLaunch(['--optimize-for-size'])],
    ['cli --lite-mode', cliLaunch(lite)],
    ['cli --jitless', cliLaunch(['--jitless', '--no-expose-wasm'])],
    ['cli --v8-pool-size=0', cliLaunch(['--v8-pool-size=0'])],
    ['cli --single-threaded', cliLaunch(['--single-threaded'])],
    ['cli --lite-mode --max-semi-space-size=1', cliLaunch([...lite, '--max-semi-space-size=1'])],
    ['bundle', bundleLaunch()],
    ['bundle --max-semi-space-size=1', bundleLaunch(['--max-semi-space-size=1'])],
    ['bundle --lite-mode', bundleLaunch(lite)],
    ['bundle --lite-mode --max-semi-space-size=1', bundleLaunch([...lite, '--max-semi-space-size=1'])],
    ['bundle --jitless semi=1 --single-threaded', bundleLaunch(['--jitless', '--no-expose-wasm', '--max-semi-space-size=1', '--single-threaded'])],
    ['bin/kubemom-sidecar (shipped)', sidecarLauncherLaunch()],
  ];
}

/** The bare-Node baseline: an idle event loop and nothing loaded. */
async function bareNodeMemory(): Promise<ProcMemory> {
  const child = spawn(process.execPath, ['-e', 'setInterval(()=>{},1000)'], { stdio: 'ignore' });
  try {
    await sleep(SETTLE_MS);
    if (child.pid === undefined) throw new Error('bare node did not start');
    return readProcMemory(child.pid);
  } finally {
    child.kill('SIGTERM');
  }
}

interface Reading {
  name: string;
  idle: ProcMemory;
  /** After virt-launcher's 3 OnDefineDomain calls: a VM's start. */
  afterStart: ProcMemory;
  /** After `calls` calls: a long-lived sidecar's steady state. */
  after: ProcMemory;
}

async function measureVariant(name: string, launch: SidecarLaunch, calls: number, request: object): Promise<Reading> {
  const sidecar = await startSidecarProcess(launch);
  try {
    await sleep(SETTLE_MS);
    const idle = readProcMemory(sidecar.pid);
    // One connection for all calls: the growth measured is the sidecar's, not 1,000 HTTP/2 sessions'.
    const define = await hookCaller(sidecar.socketPath, 'OnDefineDomain', request, 'reused');
    const startCalls = Math.min(3, calls);
    for (let i = 0; i < startCalls; i++) await define.invoke();
    await sleep(SETTLE_MS);
    const afterStart = readProcMemory(sidecar.pid);
    for (let i = startCalls; i < calls; i++) await define.invoke();
    define.close();
    await sleep(SETTLE_MS);
    return { name, idle, afterStart, after: readProcMemory(sidecar.pid) };
  } finally {
    await sidecar.stop();
  }
}

export async function runMemoryBench(options: MemoryOptions = {}): Promise<void> {
  const calls = options.calls ?? 1000;
  const { domainXml, vmiJson } = loadFixtures();
  const request = defineRequest(domainXml, vmiJson);
  const variants = memoryVariants().filter(([name]) => !options.only || name.includes(options.only));

  console.log(`\n## Sidecar memory (MiB; each reading ${SETTLE_MS} ms after: the socket appeared / 3 OnDefineDomain calls / ${calls} calls, on the fixture)`);
  const bare = await bareNodeMemory();
  console.log(`baseline: bare node -e 'setInterval(()=>{},1000)': RSS ${mib(bare.rssKiB)}, RssAnon ${mib(bare.rssAnonKiB)}, RssFile ${mib(bare.rssFileKiB)}`);

  const readings: Reading[] = [];
  for (const [name, launch] of variants) readings.push(await measureVariant(name, launch, calls, request));

  const goal = (m: ProcMemory) => (m.rssKiB < GOAL_RSS_KIB ? 'ok' : 'RSS') + '/' + (m.rssAnonKiB < GOAL_ANON_KIB ? 'ok' : 'ANON');
  printTable(
    ['variant', 'idle RSS', 'anon', 'file', '3 calls RSS', 'anon', `${calls} calls RSS`, 'anon', 'RSS/bare', 'anon/bare', 'goals 3', `goals ${calls}`],
    readings.map((r) => [
      r.name,
      mib(r.idle.rssKiB),
      mib(r.idle.rssAnonKiB),
      mib(r.idle.rssFileKiB),
      mib(r.afterStart.rssKiB),
      mib(r.afterStart.rssAnonKiB),
      mib(r.after.rssKiB),
      mib(r.after.rssAnonKiB),
      ratio(r.after.rssKiB, bare.rssKiB),
      ratio(r.after.rssAnonKiB, bare.rssAnonKiB),
      goal(r.afterStart),
      goal(r.after),
    ]),
  );
  console.log(`ratios: after ${calls} calls vs bare node; goals: RSS < ${GOAL_RSS_KIB / 1024} MiB, RssAnon < ${GOAL_ANON_KIB / 1024} MiB ("RSS"/"ANON" = missed)`);
}

function option(argv: string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  return at < 0 ? undefined : argv[at + 1];
}

if (isMain(import.meta.url)) {
  const callsText = option(process.argv, '--calls');
  const calls = callsText === undefined ? undefined : Number(callsText);
  if (calls !== undefined && (!Number.isInteger(calls) || calls < 0)) {
    throw new Error(`--calls: "${callsText}" is not accepted; use a non-negative integer`);
  }
  await runMemoryBench({ calls, only: option(process.argv, '--only') });
}
