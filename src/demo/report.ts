/**
 * The demo's figures: a recorder fed with node ticks and the shim's decisions, and
 * the final report computed from it. Pure: no I/O, times in ms from the demo start.
 */
import type { DemoTimeline } from './plan.js';


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
  /** `namespace/name` as the shim knows the guest. */
  guest: string;
  targetBytes: number;
  reason: string;
  trigger: string;
}

/** Something that happened during the run, for the event log (one line each off a terminal). */
export type DemoEvent =
  | { kind: 'phase'; tMs: number; phase: string }
  | { kind: 'reserve' | 'eviction'; tMs: number; under: boolean; availableBytes: number; thresholdBytes: number }
  | { kind: 'decision'; tMs: number; decision: DecisionView; fromBytes: number | undefined }
  | { kind: 'guest-oom'; tMs: number; total: number };

/** The run over time, a few hundred points at most (each the worst of its span). */
export interface DemoSeries {
  tSeconds: number[];
  /** The node's lowest available memory in each span. */
  availableBytes: number[];
  /** The most guest memory the balloons held back in each span. */
  reclaimedBytes: number[];
  /** The noisy neighbour's memory at the end of each span. */
  neighbourBytes: number[];
}

export interface DemoReport {
  mode: 'simulated' | 'real';
  policy: string;
  vms: number;
  seconds: number;
  /** Set when a signal ended the run before its timeline did. */
  interrupted?: {
    signal: string;
    /** Demo time of the interruption, s; absent when the timeline had not started (guests still starting). */
    atSeconds?: number;
  };
  /** Demo time the run covered, s (`seconds` unless interrupted). */
  ranSeconds: number;
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
  /** The pressure event; absent when the run ended before the noisy neighbour came. */
  pressure?: {
    eventAtSeconds: number;
    /** From the event to the first reclaim the shim sent, s (undefined: none). */
    firstReclaimAfterSeconds: number | undefined;
    /** From the event until the node is back above its reserve (0: it never fell under). */
    backAboveReserveAfterSeconds: number | undefined;
    /** The node fell under its reserve after the event. */
    fellUnderReserve: boolean;
  };
  guestOoms: number;
  decisions: {
    total: number;
    byReason: Record<string, number>;
    byTrigger: Record<string, number>;
    /** Grow decisions after the pressure ended; absent when the run ended before that. */
    growAfterPressure?: number;
  };
  series: DemoSeries;
}

const RECLAIM_REASONS = new Set(['host-pressure', 'host-critical']);
/** Most points the report's series keeps. */
const SERIES_POINTS = 240;

interface Sample {
  tMs: number;
  availableBytes: number;
  reclaimedBytes: number;
  neighbourBytes: number;
}

/** Each of at most `points` equal spans of [0, endMs]: the lowest available, the highest reclaimed. */
export function downsample(samples: readonly Sample[], endMs: number, points: number): DemoSeries {
  const out: DemoSeries = { tSeconds: [], availableBytes: [], reclaimedBytes: [], neighbourBytes: [] };
  if (samples.length === 0) return out;
  const spans = Math.max(1, Math.min(points, samples.length));
  const spanMs = Math.max(1, endMs) / spans;
  let k = 0;
  for (let i = 0; i < spans; i++) {
    const until = i === spans - 1 ? Infinity : (i + 1) * spanMs;
    let available = Infinity;
    let reclaimed = -Infinity;
    let neighbour = 0;
    let last = -1;
    while (k < samples.length && samples[k]!.tMs < until) {
      const s = samples[k]!;
      available = Math.min(available, s.availableBytes);
      reclaimed = Math.max(reclaimed, s.reclaimedBytes);
      neighbour = s.neighbourBytes;
      last = s.tMs;
      k++;
    }
    if (last < 0) continue;
    out.tSeconds.push(Math.round(last / 100) / 10);
    out.availableBytes.push(available);
    out.reclaimedBytes.push(reclaimed);
    out.neighbourBytes.push(neighbour);
  }
  return out;
}

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
  private readonly samples: Sample[] = [];
  private phase: string | undefined;
  private underReserve = false;
  private underEviction = false;
  /** Balloon `actual` of each guest (by name) at the latest tick, for the decisions' "from". */
  private readonly actualByName = new Map<string, number>();
  /** Every event so far, in order; `eventCount` counts those ever recorded (old ones are dropped past 1000). */
  readonly events: DemoEvent[] = [];
  eventCount = 0;

  constructor(private readonly timeline: DemoTimeline) {}

  private event(e: DemoEvent): void {
    this.events.push(e);
    this.eventCount++;
    if (this.events.length > 1000) this.events.splice(0, this.events.length - 1000);
  }

  /** A node tick. */
  node(view: NodeView): void {
    const dt = this.lastTMs === undefined ? 0 : Math.max(0, view.tMs - this.lastTMs);
    this.lastTMs = view.tMs;
    if (view.phase !== this.phase) {
      this.phase = view.phase;
      this.event({ kind: 'phase', tMs: view.tMs, phase: view.phase });
    }
    if (view.availableBytes < this.minAvailable) {
      this.minAvailable = view.availableBytes;
      this.minAt = view.tMs;
    }
    const under = view.availableBytes < view.reserveBytes;
    if (under) this.underReserveMs += dt;
    const underEviction = view.availableBytes < view.evictionHardBytes;
    if (underEviction) this.underEvictionMs += dt;
    if (under !== this.underReserve) {
      this.underReserve = under;
      this.event({ kind: 'reserve', tMs: view.tMs, under, availableBytes: view.availableBytes, thresholdBytes: view.reserveBytes });
    }
    if (underEviction !== this.underEviction) {
      this.underEviction = underEviction;
      this.event({ kind: 'eviction', tMs: view.tMs, under: underEviction, availableBytes: view.availableBytes, thresholdBytes: view.evictionHardBytes });
    }
    const t = this.timeline;
    // The event's episode: the first time under the reserve after the neighbour came, until back above it.
    if (view.tMs >= t.neighbourStartMs && view.tMs < t.neighbourEndMs && under) this.fellUnder = true;
    if (this.fellUnder && !under && this.backAboveAfterMs === undefined) this.backAboveAfterMs = view.tMs - t.neighbourStartMs;
    let reclaimed = 0;
    let backed = 0;
    for (const g of view.guests) {
      if (g.actualBytes === undefined) continue;
      this.actualByName.set(g.name, g.actualBytes);
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
    if (view.guestOoms > this.guestOoms) this.event({ kind: 'guest-oom', tMs: view.tMs, total: view.guestOoms });
    this.guestOoms = Math.max(this.guestOoms, view.guestOoms);
    this.samples.push({ tMs: view.tMs, availableBytes: view.availableBytes, reclaimedBytes: reclaimed, neighbourBytes: view.neighbourBytes });
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
    this.event({ kind: 'decision', tMs: d.tMs, decision: d, fromBytes: this.actualByName.get(shortName(d.guest)) });
  }

  /**
   * The report. `endedAtMs` is the demo time the run reached (undefined: it never
   * started); with `interruptedBy`, a signal ended it there and only what happened by
   * then is reported.
   */
  report(
    base: Pick<DemoReport, 'mode' | 'policy' | 'vms' | 'seconds' | 'nodeMemoryBytes' | 'guestMemoryBytes' | 'reserveBytes' | 'evictionHardBytes'>,
    end: { endedAtMs: number | undefined; interruptedBy?: string } = { endedAtMs: this.timeline.durationMs },
  ): DemoReport {
    const s = (ms: number) => Math.round(ms / 100) / 10;
    const t = this.timeline;
    const endedMs = Math.max(0, Math.min(end.endedAtMs ?? 0, t.durationMs));
    const report: DemoReport = {
      ...base,
      ranSeconds: s(endedMs),
      overcommitRatio: base.guestMemoryBytes / base.nodeMemoryBytes,
      reclaimed: { startBytes: this.startReclaim ?? 0, peakBytes: this.peakReclaim, peakAtSeconds: s(this.peakReclaimAt), endBytes: this.endReclaim, givenBackBytes: Math.max(0, this.peakReclaim - this.endReclaim) },
      backedRatioAtPeak: this.backedAtPeak,
      node: {
        minAvailableBytes: Number.isFinite(this.minAvailable) ? this.minAvailable : 0,
        minAtSeconds: s(this.minAt),
        secondsUnderReserve: s(this.underReserveMs),
        secondsUnderEviction: s(this.underEvictionMs),
      },
      guestOoms: this.guestOoms,
      decisions: { total: this.decisionCount, byReason: { ...this.byReason }, byTrigger: { ...this.byTrigger } },
      series: downsample(this.samples, endedMs, SERIES_POINTS),
    };
    if (end.interruptedBy !== undefined) {
      report.interrupted = { signal: end.interruptedBy };
      if (end.endedAtMs !== undefined) report.interrupted.atSeconds = s(endedMs);
    }
    if (end.endedAtMs !== undefined && end.endedAtMs >= t.neighbourStartMs) {
      report.pressure = {
        eventAtSeconds: s(t.neighbourStartMs),
        firstReclaimAfterSeconds: this.firstReclaimAfterMs === undefined ? undefined : s(this.firstReclaimAfterMs),
        backAboveReserveAfterSeconds: this.fellUnder ? (this.backAboveAfterMs === undefined ? undefined : s(this.backAboveAfterMs)) : 0,
        fellUnderReserve: this.fellUnder,
      };
    }
    if (end.endedAtMs !== undefined && end.endedAtMs >= t.neighbourEndMs) report.decisions.growAfterPressure = this.growAfterPressure;
    return report;
  }
}

/** `vm-0` of `demo/vm-0`. */
export function shortName(guestId: string): string {
  return guestId.slice(guestId.indexOf('/') + 1);
}

