/**
 * The demo's figures: a recorder fed with node ticks and the shim's decisions, and
 * the final report computed from it. Pure: no I/O, times in ms from the demo start.
 */
import type { DemoTimeline } from './plan.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** One guest at one moment, as the live view and the report see it. */
export interface GuestView {
  name: string;
  memoryBytes: number;
  /** Memory the guest's programs need (simulated: the model's; real: actual - available). */
  needBytes: number | undefined;
  actualBytes: number | undefined;
  /** The balloon target the sidecar last applied. */
  targetBytes: number | undefined;
  /** Session state in the shim. */
  session: string;
}

/** The node at one moment. */
export interface NodeView {
  tMs: number;
  phase: string;
  totalBytes: number;
  availableBytes: number;
  reserveBytes: number;
  evictionHardBytes: number;
  neighbourBytes: number;
  psiSome10: number;
  guests: GuestView[];
  /** Guest OOM kills so far (all guests). */
  guestOoms: number;
}

/** A balloon decision as shown and counted. */
export interface DecisionView {
  tMs: number;
  guest: string;
  targetBytes: number;
  reason: string;
  trigger: string;
}

export interface DemoReport {
  mode: 'simulated' | 'real';
  policy: string;
  vms: number;
  seconds: number;
  nodeMemoryBytes: number;
  guestMemoryBytes: number;
  /** Sum of guest memory / node memory. */
  overcommitRatio: number;
  reserveBytes: number;
  evictionHardBytes: number;
  reclaimed: { startBytes: number; peakBytes: number; peakAtSeconds: number; endBytes: number; givenBackBytes: number };
  /** Sum of balloon actuals / node memory at the peak of reclaim: what the node really backed. */
  backedRatioAtPeak: number;
  node: { minAvailableBytes: number; minAtSeconds: number; secondsUnderReserve: number; secondsUnderEviction: number };
  pressure: {
    eventAtSeconds: number;
    /** From the event to the first reclaim the shim sent, s (undefined: none). */
    firstReclaimAfterSeconds: number | undefined;
    /** From the event until the node is back above its reserve (0: it never fell under). */
    backAboveReserveAfterSeconds: number | undefined;
    /** The node fell under its reserve after the event. */
    fellUnderReserve: boolean;
  };
  guestOoms: number;
  decisions: { total: number; byReason: Record<string, number>; byTrigger: Record<string, number>; growAfterPressure: number };
}

const RECLAIM_REASONS = new Set(['host-pressure', 'host-critical']);

export class DemoRecorder {
  private minAvailable = Infinity;
  private minAt = 0;
  private underReserveMs = 0;
  private underEvictionMs = 0;
  private lastTMs: number | undefined;
  private peakReclaim = 0;
  private peakReclaimAt = 0;
  private backedAtPeak = 0;
  private endReclaim = 0;
  private startReclaim: number | undefined;
  private firstReclaimAfterMs: number | undefined;
  private fellUnder = false;
  private backAboveAfterMs: number | undefined;
  private guestOoms = 0;
  private readonly byReason: Record<string, number> = {};
  private readonly byTrigger: Record<string, number> = {};
  decisionCount = 0;
  private growAfterPressure = 0;
  readonly recent: DecisionView[] = [];

  constructor(private readonly timeline: DemoTimeline) {}

  /** A node tick. */
  node(view: NodeView): void {
    const dt = this.lastTMs === undefined ? 0 : Math.max(0, view.tMs - this.lastTMs);
    this.lastTMs = view.tMs;
    if (view.availableBytes < this.minAvailable) {
      this.minAvailable = view.availableBytes;
      this.minAt = view.tMs;
    }
    const under = view.availableBytes < view.reserveBytes;
    if (under) this.underReserveMs += dt;
    if (view.availableBytes < view.evictionHardBytes) this.underEvictionMs += dt;
    const t = this.timeline;
    // The event's episode: the first time under the reserve after the neighbour came, until back above it.
    if (view.tMs >= t.neighbourStartMs && view.tMs < t.neighbourEndMs && under) this.fellUnder = true;
    if (this.fellUnder && !under && this.backAboveAfterMs === undefined) this.backAboveAfterMs = view.tMs - t.neighbourStartMs;
    let reclaimed = 0;
    let backed = 0;
    for (const g of view.guests) {
      if (g.actualBytes === undefined) continue;
      reclaimed += Math.max(0, g.memoryBytes - g.actualBytes);
      backed += g.actualBytes;
    }
    if (reclaimed > this.peakReclaim) {
      this.peakReclaim = reclaimed;
      this.peakReclaimAt = view.tMs;
      this.backedAtPeak = backed / view.totalBytes;
    }
    this.endReclaim = reclaimed;
    this.startReclaim ??= reclaimed;
    this.guestOoms = Math.max(this.guestOoms, view.guestOoms);
  }

  /** A balloon decision the shim sent (not the unchanged ones it skipped). */
  decision(d: DecisionView): void {
    this.decisionCount++;
    this.byReason[d.reason] = (this.byReason[d.reason] ?? 0) + 1;
    this.byTrigger[d.trigger] = (this.byTrigger[d.trigger] ?? 0) + 1;
    const t = this.timeline;
    if (this.firstReclaimAfterMs === undefined && d.tMs >= t.neighbourStartMs && RECLAIM_REASONS.has(d.reason)) {
      this.firstReclaimAfterMs = d.tMs - t.neighbourStartMs;
    }
    if (d.tMs >= t.neighbourEndMs && d.reason === 'grow') this.growAfterPressure++;
    this.recent.push(d);
    if (this.recent.length > 50) this.recent.splice(0, this.recent.length - 50);
  }

  report(base: Pick<DemoReport, 'mode' | 'policy' | 'vms' | 'seconds' | 'nodeMemoryBytes' | 'guestMemoryBytes' | 'reserveBytes' | 'evictionHardBytes'>): DemoReport {
    const s = (ms: number) => Math.round(ms / 100) / 10;
    return {
      ...base,
      overcommitRatio: base.guestMemoryBytes / base.nodeMemoryBytes,
      reclaimed: { startBytes: this.startReclaim ?? 0, peakBytes: this.peakReclaim, peakAtSeconds: s(this.peakReclaimAt), endBytes: this.endReclaim, givenBackBytes: Math.max(0, this.peakReclaim - this.endReclaim) },
      backedRatioAtPeak: this.backedAtPeak,
      node: {
        minAvailableBytes: Number.isFinite(this.minAvailable) ? this.minAvailable : 0,
        minAtSeconds: s(this.minAt),
        secondsUnderReserve: s(this.underReserveMs),
        secondsUnderEviction: s(this.underEvictionMs),
      },
      pressure: {
        eventAtSeconds: s(this.timeline.neighbourStartMs),
        firstReclaimAfterSeconds: this.firstReclaimAfterMs === undefined ? undefined : s(this.firstReclaimAfterMs),
        backAboveReserveAfterSeconds: this.fellUnder ? (this.backAboveAfterMs === undefined ? undefined : s(this.backAboveAfterMs)) : 0,
        fellUnderReserve: this.fellUnder,
      },
      guestOoms: this.guestOoms,
      decisions: { total: this.decisionCount, byReason: { ...this.byReason }, byTrigger: { ...this.byTrigger }, growAfterPressure: this.growAfterPressure },
    };
  }
}

/** Bytes as GiB or MiB, for people. */
export function size(bytes: number): string {
  if (Math.abs(bytes) >= GiB) return `${(bytes / GiB).toFixed(2)} GiB`;
  return `${Math.round(bytes / MiB)} MiB`;
}

/** The report as text. */
export function formatReport(r: DemoReport): string[] {
  const p = r.pressure;
  const reaction = !p.fellUnderReserve
    ? 'the node never fell under its reserve'
    : p.backAboveReserveAfterSeconds === undefined
      ? 'the node was still under its reserve at the end'
      : `the node was back above its reserve ${p.backAboveReserveAfterSeconds} s after the event`;
  const reasons = Object.entries(r.decisions.byReason)
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  return [
    `KubeMom demo report (${r.mode} guests, policy ${r.policy}, ${r.vms} VMs, ${r.seconds} s)`,
    `  overcommit:        ${size(r.guestMemoryBytes)} of guest memory on a ${size(r.nodeMemoryBytes)} node = ${r.overcommitRatio.toFixed(2)}x`,
    `  reclaimed:         ${size(r.reclaimed.startBytes)} at the start, peak ${size(r.reclaimed.peakBytes)} at ${r.reclaimed.peakAtSeconds} s (balloons then held ${r.backedRatioAtPeak.toFixed(2)}x the node); ${size(r.reclaimed.givenBackBytes)} given back by the end (${size(r.reclaimed.endBytes)} still reclaimed)`,
    `  node available:    minimum ${size(r.node.minAvailableBytes)} at ${r.node.minAtSeconds} s (reserve ${size(r.reserveBytes)}, eviction ${size(r.evictionHardBytes)}); ${r.node.secondsUnderReserve} s under the reserve, ${r.node.secondsUnderEviction} s under the eviction threshold`,
    `  pressure event:    noisy neighbour at ${p.eventAtSeconds} s; first reclaim ${p.firstReclaimAfterSeconds === undefined ? 'never sent' : `${p.firstReclaimAfterSeconds} s after`}; ${reaction}`,
    `  guest OOM kills:   ${r.guestOoms}`,
    `  decisions:         ${r.decisions.total} sent (${reasons || 'none'}); ${r.decisions.growAfterPressure} grow-backs after the pressure`,
  ];
}
