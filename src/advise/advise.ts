/**
 * `kubemom advise` end to end: reads a window of KubeVirt's metrics from Prometheus,
 * runs the model and renders the report (text, JSON, plot).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { InputError, valueOf } from '../common/errors.js';
import { formatBytes, parseMemoryQuantity, QUANTITY_ACCEPTED } from '../common/quantity.js';
import { svgToPng } from '../sim/plot-png.js';
import { collectBatch, discover } from './collect.js';
import { formatDuration, parseDuration, parseTime } from './duration.js';
import { advise, type Advice } from './model.js';
import { plotAdvice } from './plot.js';
import { PrometheusClient, type QueryStats } from './prometheus-client.js';
import { reportText, type ReportHeader } from './report.js';

export interface AdviseOptions {
  prometheus: string;
  since: string;
  until?: string;
  step?: string;
  bearerTokenFile?: string;
  nodeLabel: string;
  evictionHard: string;
  timeout: string;
  json?: boolean;
  plot?: string;
}

export interface AdviseRun {
  advice: Advice;
  header: ReportHeader;
  stats: QueryStats;
}

/** The default step: about 2,000 points over the window, a whole minute, at least one. */
export function defaultStepSec(sinceSec: number): number {
  return Math.max(60, Math.ceil(sinceSec / 2016 / 60) * 60);
}

function readToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError('--bearer-token-file', `cannot read "${file}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const token = text.trim();
  if (!token || /\s/.test(token)) throw new InputError('--bearer-token-file', `"${file}" must hold one token (no spaces), as a ServiceAccount token file does`);
  return token;
}

/** Checks every option, reads the window and computes the advice. */
export async function runAdvise(opts: AdviseOptions): Promise<AdviseRun> {
  let url: URL;
  try {
    url = new URL(opts.prometheus);
  } catch {
    throw new InputError('--prometheus', `is "${opts.prometheus}"; accepted: an http:// or https:// URL of Prometheus (or of a Thanos querier)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InputError('--prometheus', `is "${opts.prometheus}"; accepted: an http:// or https:// URL`);
  const sinceSec = parseDuration(opts.since, '--since');
  const endSec = opts.until !== undefined ? parseTime(opts.until, '--until') : Math.floor(Date.now() / 1000);
  const stepSec = opts.step !== undefined ? parseDuration(opts.step, '--step') : defaultStepSec(sinceSec);
  if (stepSec > sinceSec) throw new InputError('--step', `is ${opts.step}, longer than --since ${opts.since}; accepted: a step shorter than the window`);
  const hardBytes = valueOf('--eviction-hard', parseMemoryQuantity(opts.evictionHard), `; accepted: ${QUANTITY_ACCEPTED} (the kubelet's evictionHard memory.available)`);
  const timeoutMs = parseDuration(opts.timeout, '--timeout') * 1000;
  if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(opts.nodeLabel)) throw new InputError('--node-label', `is "${opts.nodeLabel}"; accepted: a Prometheus label name`);
  if (opts.plot !== undefined && !/\.(svg|png)$/i.test(opts.plot)) throw new InputError('--plot', `is "${opts.plot}"; accepted: a file name ending in .svg or .png`);
  const clientOpts: ConstructorParameters<typeof PrometheusClient>[0] = { url: url.toString(), timeoutMs };
  if (opts.bearerTokenFile !== undefined) clientOpts.bearerToken = readToken(opts.bearerTokenFile);
  const client = new PrometheusClient(clientOpts);

  const window = { endSec, sinceSec, stepSec, nodeLabel: opts.nodeLabel };
  const found = await discover(client, window);
  // Nodes are independent (a VMI's samples belong to the node it ran on): advise a batch at a time, keep only the advice.
  const advice: Advice = { nodes: [], vms: [] };
  if (opts.plot !== undefined) advice.timelines = [];
  for (const batch of found.batches) {
    const data = await collectBatch(client, window, found, batch);
    const part = advise(data.nodes, data.vms, { evictionHardBytes: hardBytes, stepSec, endSec, timelines: opts.plot !== undefined });
    advice.nodes.push(...part.nodes);
    advice.vms.push(...part.vms);
    advice.timelines?.push(...(part.timelines ?? []));
  }
  const header: ReportHeader = {
    prometheus: client.url, since: formatDuration(sinceSec), step: formatDuration(stepSec),
    from: new Date((endSec - sinceSec) * 1000).toISOString(), to: new Date(endSec * 1000).toISOString(), evictionHard: formatBytes(hardBytes),
  };
  return { advice, header, stats: client.stats };
}

/** Runs the command: the report on `out`, the plot to its file; returns the exit status. */
export async function adviseCommand(opts: AdviseOptions, out: (s: string) => void): Promise<number> {
  const { advice, header, stats } = await runAdvise(opts);
  if (opts.plot !== undefined) {
    const svg = plotAdvice(advice.timelines ?? [], `KubeMom advise: ${header.since} to ${header.to}`);
    try {
      writeFileSync(opts.plot, /\.png$/i.test(opts.plot) ? svgToPng(svg) : svg);
    } catch (err) {
      throw new InputError('--plot', `cannot write "${opts.plot}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  if (opts.json) {
    const { timelines: _omit, ...rest } = advice;
    out(JSON.stringify({ ...header, queries: stats, ...rest }, null, 2) + '\n');
  } else {
    out(reportText(advice, header));
    out(`\n${stats.queries} queries, ${stats.samples} samples, ${(stats.responseBytes / 2 ** 20).toFixed(1)} MiB read${opts.plot !== undefined ? `; plot written to ${opts.plot}` : ''}\n`);
  }
  return 0;
}
