/**
 * Synthetic KubeVirt cluster metrics as OpenMetrics, for backfilling a real Prometheus
 * in tests and benches: virt-handler's per-VMI memory series, virt-controller's
 * memory requests and node_exporter's node memory, with the names and labels those
 * components export (see src/advise/series.ts). A model, and named as one: the numbers
 * are functions of time the caller chooses, so a test can compute what to expect.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

export interface SyntheticVm {
  namespace: string;
  name: string;
  node: string;
  domainBytes: number;
  /** spec.domain.resources.requests.memory; absent: no request series. */
  requestBytes?: number;
  hugepages?: boolean;
  /** False: virt-handler reports no balloon statistics for it (only the domain size). */
  balloon: boolean;
  /** Values at Unix second t. */
  actual: (t: number) => number;
  usable: (t: number) => number;
  swapIn: (t: number) => number;
  majorFaults: (t: number) => number;
}

export interface SyntheticNode {
  name: string;
  memTotalBytes: number;
  available: (t: number) => number;
}

export interface SyntheticCluster {
  nodes: SyntheticNode[];
  vms: SyntheticVm[];
  /** Unix seconds: first and last sample, and the scrape interval. */
  startSec: number;
  endSec: number;
  intervalSec: number;
}

/** The sample times of the cluster, oldest first. */
export function sampleTimes(c: SyntheticCluster): number[] {
  const out: number[] = [];
  for (let t = c.startSec; t <= c.endSec; t += c.intervalSec) out.push(t);
  return out;
}

function vmiLabels(vm: SyntheticVm, i: number): string {
  // The labels virt-handler sets (node, namespace, name, the VMI's labels) and the scrape target's.
  return `namespace="${vm.namespace}",name="${vm.name}",node="${vm.node}",kubernetes_vmi_label_kubevirt_io_domain="${vm.name}",job="kubevirt-prometheus-metrics",instance="10.128.${(i >> 8) & 255}.${i & 255}:8443"`;
}

/** Writes the cluster's series to `file` in OpenMetrics, family by family, each series in time order. */
export async function writeOpenMetrics(c: SyntheticCluster, file: string): Promise<void> {
  const out = createWriteStream(file);
  let buffer = '';
  const emit = async (line: string) => {
    buffer += line + '\n';
    if (buffer.length > 1 << 20) {
      if (!out.write(buffer)) await once(out, 'drain');
      buffer = '';
    }
  };
  const times = sampleTimes(c);
  const gauges: Array<[string, (vm: SyntheticVm, t: number) => number, boolean]> = [
    ['kubevirt_vmi_memory_domain_bytes', (vm) => vm.domainBytes, false],
    ['kubevirt_vmi_memory_actual_balloon_bytes', (vm, t) => vm.actual(t), true],
    ['kubevirt_vmi_memory_usable_bytes', (vm, t) => vm.usable(t), true],
    ['kubevirt_vmi_memory_swap_in_traffic_bytes', (vm, t) => vm.swapIn(t), true],
  ];
  for (const [family, value, needsBalloon] of gauges) {
    await emit(`# TYPE ${family} gauge`);
    for (const [i, vm] of c.vms.entries()) {
      if (needsBalloon && !vm.balloon) continue;
      const labels = vmiLabels(vm, i);
      for (const t of times) await emit(`${family}{${labels}} ${Math.round(value(vm, t))} ${t}`);
    }
  }
  await emit('# TYPE kubevirt_vmi_memory_pgmajfault counter');
  for (const [i, vm] of c.vms.entries()) {
    if (!vm.balloon) continue;
    const labels = vmiLabels(vm, i);
    for (const t of times) await emit(`kubevirt_vmi_memory_pgmajfault_total{${labels}} ${Math.round(vm.majorFaults(t))} ${t}`);
  }
  await emit('# TYPE kubevirt_vm_resource_requests gauge');
  for (const vm of c.vms) {
    const series: Array<[string, number]> = [];
    if (vm.requestBytes !== undefined) series.push(['domain', vm.requestBytes]);
    if (vm.hugepages) series.push(['hugepages', 2 ** 21]);
    for (const [source, v] of series) {
      const labels = `name="${vm.name}",namespace="${vm.namespace}",resource="memory",unit="bytes",source="${source}",job="kubevirt-prometheus-metrics",instance="10.130.0.2:8443"`;
      for (const t of times) await emit(`kubevirt_vm_resource_requests{${labels}} ${v} ${t}`);
    }
  }
  for (const [family, value] of [['node_memory_MemTotal_bytes', (n: SyntheticNode) => n.memTotalBytes], ['node_memory_MemAvailable_bytes', (n: SyntheticNode, t: number) => n.available(t)]] as const) {
    await emit(`# TYPE ${family} gauge`);
    for (const n of c.nodes) {
      for (const t of times) await emit(`${family}{instance="${n.name}",job="node-exporter"} ${Math.round(value(n, t))} ${t}`);
    }
  }
  await emit('# EOF');
  out.end(buffer);
  await once(out, 'finish');
}

const GiB = 2 ** 30;

/**
 * A cluster of `vmCount` VMs on nodes of 40 VMs each (the density bench/shim-scale.ts
 * measures), over `days` days every `intervalSec`: each VM 4 or 8 GiB with a request of
 * half, its use following a daily wave with its own phase; each node's available memory
 * what its VMs leave of 40 x 6 GiB. Deterministic.
 */
export function benchCluster(vmCount: number, days: number, intervalSec: number, endSec: number): SyntheticCluster {
  const perNode = 40;
  const nodeCount = Math.ceil(vmCount / perNode);
  const vms: SyntheticVm[] = [];
  for (let i = 0; i < vmCount; i++) {
    const domain = (i % 2 === 0 ? 4 : 8) * GiB;
    const phase = (i * 2.399963) % (2 * Math.PI);
    const wave = (t: number) => 0.5 + 0.5 * Math.sin((2 * Math.PI * t) / 86_400 + phase);
    vms.push({
      namespace: `ns${i % 20}`, name: `vm-${i}`, node: `node-${Math.floor(i / perNode)}`, domainBytes: domain, requestBytes: domain / 2, balloon: true,
      actual: () => domain, usable: (t) => domain * (0.2 + 0.5 * wave(t)), swapIn: () => 0, majorFaults: (t) => Math.floor(t / 60),
    });
  }
  const nodes: SyntheticNode[] = [];
  for (let n = 0; n < nodeCount; n++) {
    const mine = vms.filter((v) => v.node === `node-${n}`);
    const total = perNode * 6 * GiB;
    nodes.push({ name: `node-${n}`, memTotalBytes: total, available: (t) => Math.max(GiB, total - 8 * GiB - mine.reduce((s, v) => s + v.actual(t) - v.usable(t) * 0.5, 0)) });
  }
  return { nodes, vms, startSec: endSec - days * 86_400, endSec, intervalSec };
}
