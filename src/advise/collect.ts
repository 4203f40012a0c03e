/**
 * Reads the window from Prometheus into the model's input: the VMIs and their
 * placements (instant queries), then per batch of nodes the VMIs' balloon statistics
 * and the nodes' available memory (range queries on the step grid), so a large cluster
 * is read, and held in memory, a batch at a time.
 */
import { InputError } from '../common/errors.js';
import type { NodeData, VmData, VmPoint } from './model.js';
import type { PrometheusClient, RangeSeries } from './prometheus-client.js';
import { NODE, VM_REQUESTS, VMI, nodeMatcher, vmiQuery } from './series.js';

export interface Window {
  /** Unix seconds. */
  endSec: number;
  sinceSec: number;
  stepSec: number;
  /** The label of node_exporter's series that holds the node name. */
  nodeLabel: string;
  /** VMs per batch of range queries. */
  batchVms?: number;
}

/** Prometheus' own limit on points per series in a range query. */
export const MAX_POINTS = 11_000;

const key = (l: Record<string, string>): string => `${l.namespace}/${l.name}@${l.node}`;

function missing(client: PrometheusClient, series: string, w: Window, hint: string): InputError {
  return new InputError('--prometheus', `${client.url} has no series ${series} in the ${w.sinceSec / 86400 >= 1 ? `${+(w.sinceSec / 86400).toFixed(2)}d` : `${w.sinceSec}s`} before ${new Date(w.endSec * 1000).toISOString()}: ${hint}`);
}

/** The VMIs and nodes of the window, without samples, and the batches of nodes to read them in. */
export interface Discovery {
  /** VM requests by `namespace/name`, and the hugepage-backed VMs. */
  requests: Map<string, number>;
  hugepages: Set<string>;
  memTotal: Map<string, number>;
  batches: string[][];
}

/**
 * The resolution of the discovery queries: the step, or coarser on long windows, so that
 * no query loads more than about 500 points per series (Prometheus refuses a query that
 * would load more than --query.max-samples, 50 million by default; 20,000 VMs over 7 days
 * at 30 s scrapes would be 400 million).
 */
export function discoveryResolutionSec(w: Window): number {
  return Math.max(w.stepSec, Math.ceil(w.sinceSec / 500));
}

/**
 * A few instant queries over the window, each at a bounded resolution: that KubeVirt's
 * and node_exporter's series exist, the VMs' requests, the nodes' memory, and how many
 * VMIs ran on each node (to cut the cluster into batches of bounded size).
 */
export async function discover(client: PrometheusClient, w: Window): Promise<Discovery> {
  const points = Math.floor(w.sinceSec / w.stepSec) + 1;
  if (points > MAX_POINTS) throw new InputError('--step', `${w.stepSec}s gives ${points} points over --since; Prometheus answers at most ${MAX_POINTS}: use a step of at least ${Math.ceil(w.sinceSec / (MAX_POINTS - 1))}s`);
  const over = `[${w.sinceSec}s:${discoveryResolutionSec(w)}s]`;
  const at = w.endSec;
  const perNode = await client.instant(`count by (node) (max_over_time((max by (namespace, name, node) (${VMI.domain}))${over}))`, at);
  if (perNode.length === 0) throw missing(client, VMI.domain, w, "KubeVirt's virt-handler metrics are not scraped by this Prometheus (or no VM ran)");
  for (const [series, hint] of [[VMI.actual, 'no VM has a virtio-balloon device reporting'], [VMI.usable, 'no guest reports memory statistics (guest stats polling off?)']] as const) {
    const any = await client.instant(`count(max_over_time((count(${series}))${over}))`, at);
    if (any.length === 0) throw missing(client, series, w, hint);
  }
  const totals = await client.instant(`max_over_time((max by (${w.nodeLabel}) (${NODE.total}))${over})`, at);
  if (totals.length === 0) throw missing(client, NODE.total, w, 'node-exporter is not scraped by this Prometheus');
  const requestSeries = await client.instant(`last_over_time((max by (namespace, name, source) (${VM_REQUESTS}{resource="memory",unit="bytes"}))${over})`, at);

  const requests = new Map<string, number>();
  const hugepages = new Set<string>();
  for (const r of requestSeries) {
    const vm = `${r.labels.namespace}/${r.labels.name}`;
    if (r.labels.source === 'domain') requests.set(vm, r.value);
    if (r.labels.source === 'hugepages') hugepages.add(vm);
  }
  const memTotal = new Map(totals.map((t) => [t.labels[w.nodeLabel] ?? '', t.value]));
  const counts = new Map(perNode.map((n) => [n.labels.node ?? '', n.value]));
  const nodeNames = [...counts.keys()].sort();
  for (const node of nodeNames) {
    if (!memTotal.has(node)) throw missing(client, `${NODE.total}{${w.nodeLabel}="${node}"}`, w, `VMs ran on node ${node}, but no node-exporter series names it in "${w.nodeLabel}" (set --node-label to the label that holds the node name)`);
  }

  // Batches of nodes, each with at most batchVms VMIs (a node with more is a batch of its own).
  const batches: string[][] = [];
  let batch: string[] = [];
  let inBatch = 0;
  for (const node of nodeNames) {
    const n = counts.get(node)!;
    if (batch.length > 0 && inBatch + n > (w.batchVms ?? 250)) {
      batches.push(batch);
      batch = [];
      inBatch = 0;
    }
    batch.push(node);
    inBatch += n;
  }
  if (batch.length > 0) batches.push(batch);
  return { requests, hugepages, memTotal, batches };
}

/** The samples of one batch of nodes: its nodes' available memory and its VMIs' statistics on the step grid. */
export async function collectBatch(client: PrometheusClient, w: Window, d: Discovery, b: readonly string[]): Promise<{ nodes: NodeData[]; vms: VmData[] }> {
  const start = w.endSec - w.sinceSec;
  const get = (metric: string): Promise<RangeSeries[]> => client.range(vmiQuery(metric, b), start, w.endSec, w.stepSec);
  const domains = await get(VMI.domain);
  const [actual, usable, swapIn, faults] = [await get(VMI.actual), await get(VMI.usable), await get(VMI.swapIn), await get(VMI.majorFaults)];
  const available = await client.range(`max by (${w.nodeLabel}) (${NODE.available}{${nodeMatcher(w.nodeLabel, b)}})`, start, w.endSec, w.stepSec);
  const byKey = (series: RangeSeries[]): Map<string, Map<number, number>> => new Map(series.map((s) => [key(s.labels), new Map(s.points)]));
  const [a, u, s, f] = [byKey(actual), byKey(usable), byKey(swapIn), byKey(faults)];
  const vms: VmData[] = [];
  for (const dom of domains) {
    const k = key(dom.labels);
    const namespace = dom.labels.namespace ?? '';
    const name = dom.labels.name ?? '';
    const id = `${namespace}/${name}`;
    const vm: VmData = { namespace, name, node: dom.labels.node ?? '', guestMemoryBytes: Math.max(...dom.points.map(([, v]) => v)), hugepages: d.hugepages.has(id), points: [] };
    const request = d.requests.get(id);
    if (request !== undefined) vm.requestBytes = request;
    vms.push(vm);
    const act = a.get(k);
    const use = u.get(k);
    if (!act || !use) continue;
    for (const [t, actualBytes] of act) {
      const usableBytes = use.get(t);
      if (usableBytes === undefined || actualBytes <= 0) continue;
      const p: VmPoint = { t, actualBytes, usableBytes };
      const si = s.get(k)?.get(t);
      const mf = f.get(k)?.get(t);
      if (si !== undefined) p.swapInBytes = si;
      if (mf !== undefined) p.majorFaults = mf;
      vm.points.push(p);
    }
    vm.points.sort((x, y) => x.t - y.t);
  }
  const nodes: NodeData[] = [];
  for (const node of b) {
    const series = available.find((x) => x.labels[w.nodeLabel] === node);
    if (!series) throw missing(client, `${NODE.available}{${w.nodeLabel}="${node}"}`, w, `VMs ran on node ${node}, but node-exporter reported no MemAvailable for it`);
    nodes.push({ node, memTotalBytes: d.memTotal.get(node)!, available: series.points });
  }
  return { nodes, vms };
}
