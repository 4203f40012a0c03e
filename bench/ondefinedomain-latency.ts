/**
 * OnDefineDomain latency over real gRPC on a unix socket, against `kubemom sidecar`
 * running as its own process, for the bundled KubeVirt domain and for one with 10x
 * its devices. Baselines from the same run: Info on the same socket and connection
 * policy (the cost of gRPC itself), and the rewrite alone in this process.
 *
 * Goal (issue 2): p99 under 10 ms.
 *
 * Run alone: node dist/bench/ondefinedomain-latency.js [--iterations N]
 */
import { defineDomain } from '../src/hook-sidecar/callbacks.js';
import {
  countDevices,
  isMain,
  loadFixtures,
  ms,
  multiplyDevices,
  printTable,
  ratio,
  startSidecarProcess,
  summarize,
  type LatencySummary,
  type SidecarLaunch,
} from './support/bench-support.js';
import { cliLaunch, sidecarLauncherLaunch } from './support/launchers.js';
import { defineRequest, hookCaller, type ConnectionPolicy } from './support/hook-client.js';

export interface LatencyOptions {
  /** Measured calls per row (after warm-up). */
  iterations?: number;
  /** Fresh sidecars started for the cold (first calls) table. */
  coldStarts?: number;
}

const GOAL_P99_MS = 10;

async function timeCalls(invoke: () => unknown, iterations: number, warmup: number): Promise<LatencySummary> {
  for (let i = 0; i < warmup; i++) await invoke();
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const start = process.hrtime.bigint();
    await invoke();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return summarize(samples);
}

interface Row {
  sidecar: string;
  call: string;
  policy: string;
  summary: LatencySummary;
  /** Info on the same sidecar and connection policy. */
  info?: LatencySummary;
  /** The same rewrite, in this process, without gRPC. */
  inProcess?: LatencySummary;
}

interface Input {
  name: string;
  xml: string;
  inProcess: LatencySummary;
}

async function measureSidecar(name: string, launch: SidecarLaunch, inputs: Input[], vmiJson: string, iterations: number): Promise<Row[]> {
  const sidecar = await startSidecarProcess(launch);
  const rows: Row[] = [];
  try {
    for (const policy of ['reused', 'per-call'] as ConnectionPolicy[]) {
      const info = await hookCaller(sidecar.socketPath, 'Info', {}, policy);
      const infoSummary = await timeCalls(() => info.invoke(), iterations, 50);
      info.close();
      rows.push({ sidecar: name, call: 'Info', policy, summary: infoSummary });
      for (const input of inputs) {
        const define = await hookCaller(sidecar.socketPath, 'OnDefineDomain', defineRequest(input.xml, vmiJson), policy);
        const summary = await timeCalls(() => define.invoke(), iterations, 50);
        define.close();
        rows.push({ sidecar: name, call: `OnDefineDomain ${input.name}`, policy, summary, info: infoSummary, inProcess: input.inProcess });
      }
    }
  } finally {
    await sidecar.stop();
  }
  return rows;
}

/**
 * What virt-launcher really sees: a fresh sidecar, three OnDefineDomain calls, a new
 * connection each. Nothing is compiled yet, so the first call pays for lazy
 * compilation of the whole path; warm percentiles above say nothing about it.
 */
async function measureCold(launch: SidecarLaunch, xml: string, vmiJson: string, starts: number): Promise<{ first: LatencySummary; next: LatencySummary }> {
  const first: number[] = [];
  const next: number[] = [];
  for (let start = 0; start < starts; start++) {
    const sidecar = await startSidecarProcess(launch);
    try {
      const define = await hookCaller(sidecar.socketPath, 'OnDefineDomain', defineRequest(xml, vmiJson), 'per-call');
      for (let call = 0; call < 3; call++) {
        const begin = process.hrtime.bigint();
        await define.invoke();
        (call === 0 ? first : next).push(Number(process.hrtime.bigint() - begin) / 1e6);
      }
    } finally {
      await sidecar.stop();
    }
  }
  return { first: summarize(first), next: summarize(next) };
}

export async function runLatencyBench(options: LatencyOptions = {}): Promise<void> {
  const iterations = options.iterations ?? 500;
  const { domainXml, vmiJson } = loadFixtures();
  const largeXml = multiplyDevices(domainXml, 10);
  // defineDomain is pure: these paths only end up as text in the output.
  const paths = { hooksDir: '/var/run/kubevirt-hooks', qemuHooksDir: '/var/run/kubevirt-hooks/hook-sidecar-0' };

  console.log(`\n## OnDefineDomain latency (ms; ${iterations} calls per row after 50 warm-up calls)`);
  console.log(`inputs: fixture ${domainXml.length} B, ${countDevices(domainXml)} devices; 10x ${largeXml.length} B, ${countDevices(largeXml)} devices`);

  const inputs: Input[] = [];
  const rows: Row[] = [];
  for (const [name, xml] of [['fixture', domainXml], ['10x', largeXml]] as const) {
    // The rewrite alone: no gRPC, no QMP directory, no state file, no log line.
    const inProcess = await timeCalls(() => defineDomain(xml, vmiJson, paths), iterations, 50);
    inputs.push({ name, xml, inProcess });
    rows.push({ sidecar: 'in-process', call: `rewrite ${name}`, policy: '-', summary: inProcess });
  }
  const sidecars: [string, SidecarLaunch][] = [
    ['node main.js', cliLaunch()],
    ['bin/kubemom-sidecar', sidecarLauncherLaunch()],
  ];
  for (const [name, launch] of sidecars) rows.push(...(await measureSidecar(name, launch, inputs, vmiJson, iterations)));

  const coldStarts = options.coldStarts ?? 8;
  const coldRows: string[][] = [];
  for (const [name, launch] of sidecars) {
    for (const input of inputs) {
      const cold = await measureCold(launch, input.xml, vmiJson, coldStarts);
      coldRows.push([name, input.name, ms(cold.first.p50), ms(cold.first.max), ms(cold.next.p50), ms(cold.next.max)]);
    }
  }

  console.log('warm: after 50 calls on the same sidecar');
  printTable(
    ['sidecar', 'call', 'connection', 'p50', 'p99', 'max', `p99<${GOAL_P99_MS}`, 'p99/Info', 'p50/in-process'],
    rows.map((row) => [
      row.sidecar,
      row.call,
      row.policy,
      ms(row.summary.p50),
      ms(row.summary.p99),
      ms(row.summary.max),
      row.call.startsWith('OnDefineDomain') ? (row.summary.p99 < GOAL_P99_MS ? 'yes' : 'NO') : '',
      row.info ? ratio(row.summary.p99, row.info.p99) : '',
      row.inProcess ? ratio(row.summary.p50, row.inProcess.p50) : '',
    ]),
  );
  console.log(`\ncold: ${coldStarts} fresh sidecars, 3 OnDefineDomain calls each, a new connection per call (as virt-launcher)`);
  printTable(['sidecar', 'input', 'call 1 p50', 'call 1 max', 'calls 2-3 p50', 'calls 2-3 max'], coldRows);
}

function parseIterations(argv: string[]): number | undefined {
  const at = argv.indexOf('--iterations');
  if (at < 0) return undefined;
  const value = Number(argv[at + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--iterations: "${argv[at + 1]}" is not accepted; use a positive integer`);
  return value;
}

if (isMain(import.meta.url)) await runLatencyBench({ iterations: parseIterations(process.argv) });
