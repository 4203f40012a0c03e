/**
 * The advisor's query cost: a real Prometheus (Debian's package) backfilled by promtool
 * with synthetic KubeVirt metrics (testbed/kubevirt-metrics.ts: 40 VMs per node,
 * samples every 5 min), and `kubemom advise` run against it in this process.
 *
 * Per case, against the smallest case measured in the same run: wall time of the
 * advisor, its own CPU and Prometheus' CPU during the run, the queries, samples and
 * bytes read, Prometheus' resident memory after the run, and the backfill itself.
 *
 * Usage: node dist/bench/advise-query.js [--cases 250x1,1000x1,250x4] (VMs x days)
 */
import { execFileSync } from 'node:child_process';
import { runAdvise } from '../src/advise/advise.js';
import { benchCluster, writeOpenMetrics } from '../testbed/kubevirt-metrics.js';
import { PrometheusServer } from '../testbed/prometheus-server.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

interface Row {
  vms: number;
  days: number;
  backfillS: number;
  tsdbMiB: number;
  runs: Array<{ wallS: number; adviseCpuS: number; promCpuS: number; adviseRssMiB: number }>;
  queries: number;
  samples: number;
  readMiB: number;
  promRssMiB: number;
}

const MiB = 2 ** 20;
const END = Math.floor(Date.now() / 3_600_000) * 3600 - 3600;

async function measure(vms: number, days: number): Promise<Row> {
  const cluster = benchCluster(vms, days, 300, END);
  const prom = await PrometheusServer.start({ writeOpenMetrics: (file) => writeOpenMetrics(cluster, file), readyTimeoutMs: 600_000 });
  try {
    const tsdbMiB = Number(execFileSync('du', ['-sk', `${prom.dir}/data`], { encoding: 'utf8' }).split('\t')[0]) / 1024;
    const runs: Row['runs'] = [];
    let last: Awaited<ReturnType<typeof runAdvise>> | undefined;
    // global.gc with --expose-gc: each run starts from the same heap.
    // Twice: the first reads cold blocks, the second what Prometheus' page cache and chunk cache kept.
    for (let i = 0; i < 2; i++) {
      (globalThis as { gc?: () => void }).gc?.();
      const prom0 = await prom.cpuSeconds();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      let rssMax = 0;
      const rssTimer = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 50);
      last = await runAdvise({ prometheus: prom.url, since: `${days}d`, until: String(END), step: '5m', nodeLabel: 'instance', evictionHard: '100Mi', timeout: '600s' });
      const wallS = (performance.now() - t0) / 1000;
      clearInterval(rssTimer);
      const cpu = process.cpuUsage(cpu0);
      runs.push({ wallS, adviseCpuS: (cpu.user + cpu.system) / 1e6, promCpuS: (await prom.cpuSeconds()) - prom0, adviseRssMiB: rssMax / MiB });
    }
    if (last!.advice.vms.length !== vms) throw new Error(`advise saw ${last!.advice.vms.length} of ${vms} VMs`);
    return {
      vms, days, backfillS: prom.backfillMs / 1000, tsdbMiB, runs,
      queries: last!.stats.queries, samples: last!.stats.samples, readMiB: last!.stats.responseBytes / MiB,
      promRssMiB: (await prom.residentBytes()) / MiB,
    };
  } finally {
    await prom.stop();
  }
}

const cases = arg('--cases', '250x1,1000x1,250x4').split(',').map((c) => c.split('x').map(Number) as [number, number]);
console.log('advise query bench: real Prometheus (promtool backfill), 40 VMs per node, samples every 5 min, step 5m');
const rows: Row[] = [];
for (const [vms, days] of cases) rows.push(await measure(vms, days));
const base = rows[0]!;
const fmt = (x: number, d = 2): string => x.toFixed(d);
console.log('\n  VMs | days | samples read (x first) | MiB read | queries | advise wall s cold/warm (x first) | advise CPU s | advise RSS MiB | Prometheus CPU s | Prometheus RSS MiB | TSDB MiB | backfill s');
for (const r of rows) {
  const [cold, warm] = r.runs;
  console.log(
    `${String(r.vms).padStart(5)} | ${String(r.days).padStart(4)} | ${r.samples} (${fmt(r.samples / base.samples, 1)}x)`.padEnd(40) +
      ` | ${fmt(r.readMiB, 1)}`.padEnd(11) + ` | ${r.queries}`.padEnd(10) +
      ` | ${fmt(cold!.wallS)}/${fmt(warm!.wallS)} (${fmt(warm!.wallS / base.runs[1]!.wallS, 1)}x)`.padEnd(36) +
      ` | ${fmt(warm!.adviseCpuS)}`.padEnd(15) + ` | ${fmt(warm!.adviseRssMiB, 0)}`.padEnd(17) + ` | ${fmt(warm!.promCpuS)}`.padEnd(19) +
      ` | ${fmt(r.promRssMiB, 0)}`.padEnd(21) + ` | ${fmt(r.tsdbMiB, 0)}`.padEnd(11) + ` | ${fmt(r.backfillS, 1)}`,
  );
}
console.log('\n(samples read: points in the answers; CPU and peak RSS (the bench process, advisor included) over the warm run, the advisor in this process and Prometheus from');
console.log(' /proc; Prometheus RSS after the runs. Cost per sample is what to extrapolate: see docs/scale.md.)');
