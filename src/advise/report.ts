/** The advisor's report as text tables, for a person at a terminal. */
import type { Advice, NodeAdvice, VmAdvice } from './model.js';
import { GiB } from '../common/units.js';

function gib(bytes: number): string {
  return `${(bytes / GiB).toFixed(1)}G`;
}

function table(header: string[], rows: string[][], rightAligned: (i: number) => boolean): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (rightAligned(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export interface ReportHeader {
  prometheus: string;
  since: string;
  step: string;
  from: string;
  to: string;
  evictionHard: string;
}

function nodeRow(n: NodeAdvice): string[] {
  return [n.node, gib(n.memTotalBytes), String(n.vms), gib(n.guestMemoryBytes), n.overcommitRatio.toFixed(2), gib(n.reclaimableP50Bytes), gib(n.reclaimableP95Bytes), gib(n.memTotalBytes - n.lowestAvailableBytes), gib(n.reserveBytes), gib(n.canAddWithoutKubemomBytes), gib(n.canAddBytes), n.possibleOvercommitRatio.toFixed(2)];
}

function vmRow(v: VmAdvice): string[] {
  return [`${v.namespace}/${v.name}`, v.node, gib(v.guestMemoryBytes), `${gib(v.guaranteedBytes)} ${v.guaranteedFrom === 'request' ? 'request' : 'guest'}`, gib(v.reclaimableP50Bytes), gib(v.reclaimableP95Bytes), `${v.distressedSamples}/${v.samples}`];
}

/** Nodes, the VMs KubeMom would take memory from, and those it would never touch, with why. */
export function reportText(advice: Advice, h: ReportHeader): string {
  const out: string[] = [];
  out.push(`KubeMom advise: ${h.prometheus}, ${h.since} from ${h.from} to ${h.to} (step ${h.step}), default policy floors, eviction threshold ${h.evictionHard}\n`);
  out.push('\nNodes (G = GiB; reclaimable: what the default policy would take back, percentiles over the window;\n  can add: more VM memory without crossing the reserve at the window\'s peak, without and with KubeMom)\n');
  out.push(table(['NODE', 'MEMORY', 'VMS', 'GUEST MEM', 'OVERCOMMIT', 'RECLAIM p50', 'RECLAIM p95', 'PEAK USED', 'RESERVE', 'CAN ADD NOW', 'CAN ADD', 'POSSIBLE'], advice.nodes.map(nodeRow), (i) => i > 0));
  const touched = advice.vms.filter((v) => !v.neverTouched).sort((a, b) => b.reclaimableP50Bytes - a.reclaimableP50Bytes);
  out.push(`\nVMs KubeMom would take memory from (${touched.length}; floor: the memory request it keeps)\n`);
  out.push(table(['VM', 'NODE', 'GUEST', 'FLOOR', 'RECLAIM p50', 'RECLAIM p95', 'DISTRESS'], touched.map(vmRow), (i) => i >= 2 && i !== 3));
  const never = advice.vms.filter((v) => v.neverTouched).sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  out.push(`\nVMs KubeMom would never touch (${never.length})\n`);
  if (never.length > 0) out.push(table(['VM', 'NODE', 'WHY'], never.map((v) => [`${v.namespace}/${v.name}`, v.node, v.neverTouched!]), () => false));
  return out.join('');
}
