/**
 * SVG plots of simulation runs: per policy, the node's available memory against its
 * reserve with every OOM kill and eviction marked, and the guests by group (the
 * scenario's group names in the legend): the median balloon (memory a guest has) in
 * a band from the group's lowest to its highest, and the median need. Groups, not
 * single guests, keep the file small and readable at thousands of guests.
 */
import { drawChart, svgDocument, type ChartBand, type ChartLine, type ChartMark } from './plot-chart.js';
import type { IncidentKind, SimResult, Timeline } from './simulator.js';

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f', '#393b79'];

const MARKS: Record<Exclude<IncidentKind, 'autodeflate'>, { label: string; color: string }> = {
  'guest-oom': { label: 'guest OOM', color: '#d62728' },
  'host-oom': { label: 'host OOM', color: '#000000' },
  eviction: { label: 'evicted', color: '#9400d3' },
};

/** The scenario group of a simulated guest: `default/desktop-3` is in `desktop`. */
export function groupOf(guestId: string): string {
  const name = guestId.slice(guestId.indexOf('/') + 1);
  return name.replace(/-[0-9]+$/, '');
}

export interface GroupSeries {
  name: string;
  guests: number;
  memoryBytes: number;
  /** Per recorded moment, over the group's running guests (0 when none runs). */
  actualMin: number[];
  actualMedian: number[];
  actualMax: number[];
  needMedian: number[];
}

function median(sorted: readonly number[]): number {
  if (sorted.length === 0) return 0;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The timeline's guests folded into their groups, in order of first appearance. */
export function groupSeries(tl: Timeline): GroupSeries[] {
  const groups = new Map<string, Timeline['guests']>();
  for (const g of tl.guests) {
    const name = groupOf(g.id);
    const list = groups.get(name) ?? [];
    list.push(g);
    groups.set(name, list);
  }
  const out: GroupSeries[] = [];
  for (const [name, guests] of groups) {
    const s: GroupSeries = { name, guests: guests.length, memoryBytes: Math.max(...guests.map((g) => g.memoryBytes)), actualMin: [], actualMedian: [], actualMax: [], needMedian: [] };
    for (let i = 0; i < tl.tSeconds.length; i++) {
      const actual: number[] = [];
      const need: number[] = [];
      for (const g of guests) {
        // A guest that is not running (not booted yet, stopped, OOM killed) has no balloon: left out.
        if (!(g.actualBytes[i]! > 0)) continue;
        actual.push(g.actualBytes[i]!);
        need.push(g.needBytes[i]!);
      }
      actual.sort((a, b) => a - b);
      need.sort((a, b) => a - b);
      s.actualMin.push(actual[0] ?? 0);
      s.actualMax.push(actual[actual.length - 1] ?? 0);
      s.actualMedian.push(median(actual));
      s.needMedian.push(median(need));
    }
    out.push(s);
  }
  return out;
}

/**
 * Where the time axis ends: the run's end, or, when nothing plotted changes over the
 * last fifth of the run or more (every guest gone, say), a little after the last change.
 * A change counts when a reader could see it: more than 1 % of its chart's height.
 */
export function fittedTimeEnd(
  tl: Timeline,
  charts: ReadonlyArray<{ yMax: number; series: ReadonlyArray<readonly number[]> }>,
  incidents: readonly { atSeconds: number }[],
  runSeconds: number,
): number {
  let last = 0;
  for (const chart of charts) {
    const visible = 0.01 * chart.yMax;
    for (const ys of chart.series) {
      for (let i = ys.length - 1; i > last; i--) {
        if (Math.abs(ys[i]! - ys[i - 1]!) > visible) {
          last = i;
          break;
        }
      }
    }
  }
  const lastChange = Math.max(tl.tSeconds[last] ?? 0, ...incidents.map((i) => i.atSeconds));
  const end = Math.max(lastChange * 1.1, runSeconds * 0.05, 1);
  return end < runSeconds * 0.8 ? end : runSeconds;
}

/** A duration for titles: 90 s, 12.5 min, 2.5 h. */
function duration(seconds: number): string {
  if (seconds < 180) return `${+seconds.toFixed(1)} s`;
  if (seconds < 3 * 3600) return `${+(seconds / 60).toFixed(1)} min`;
  return `${+(seconds / 3600).toFixed(1)} h`;
}

function runTitle(r: SimResult): string {
  const status = r.survived ? 'survived' : `FAILED: guest OOM ${r.failures.guestOom}, host OOM ${r.failures.hostOom}, evicted ${r.failures.evictions}`;
  return `${r.policy} · ${r.scenario}, ${r.guests} guests, ${r.overcommit.toFixed(2)}x · ${status}`;
}

interface PreparedRun {
  r: SimResult;
  tl: Timeline;
  groups: GroupSeries[];
  marks: ChartMark[];
  /** Legend lines for incidents the simulator counted but did not keep (it keeps the first ones). */
  unmarked: string[];
  nodeYMax: number;
  guestYMax: number;
  runSeconds: number;
  fittedSeconds: number;
}

function prepare(r: SimResult, tl: Timeline): PreparedRun {
  const runSeconds = Math.max(1, r.simulatedSeconds, tl.tSeconds[tl.tSeconds.length - 1] ?? 0);
  const groups = groupSeries(tl);
  const shown = r.incidents.filter((i) => i.kind !== 'autodeflate');
  const counts: Record<keyof typeof MARKS, number> = { 'guest-oom': r.failures.guestOom, 'host-oom': r.failures.hostOom, eviction: r.failures.evictions };
  const marks: ChartMark[] = [];
  const unmarked: string[] = [];
  for (const kind of Object.keys(MARKS) as Array<keyof typeof MARKS>) {
    const m = MARKS[kind];
    const mine = shown.filter((i) => i.kind === kind);
    for (const inc of mine) {
      const mark: ChartMark = { x: inc.atSeconds, label: m.label, color: m.color, detail: `${m.label}: ${inc.guest} at ${inc.atSeconds} s` };
      if (mine.length < counts[kind]) mark.legend = `${m.label} (the first ${mine.length} of ${counts[kind]} marked)`;
      marks.push(mark);
    }
    if (mine.length === 0 && counts[kind] > 0) unmarked.push(`${m.label} x${counts[kind]} (not marked: past the first ${shown.length} incidents kept)`);
  }
  // The node chart is fitted to the memory that was available, not the node's total: the reserve stays visible.
  const nodeYMax = Math.min(r.nodeMemoryBytes, Math.max(r.reaction.reserveBytes * 1.5, ...tl.availableBytes) * 1.1);
  const guestYMax = Math.max(1, ...groups.map((g) => g.memoryBytes));
  const charts = [
    { yMax: nodeYMax, series: [tl.availableBytes] },
    { yMax: guestYMax, series: groups.flatMap((g) => [g.actualMin, g.actualMax, g.actualMedian, g.needMedian]) },
  ];
  const fittedSeconds = fittedTimeEnd(tl, charts, shown, runSeconds);
  return { r, tl, groups, marks, unmarked, nodeYMax, guestYMax, runSeconds, fittedSeconds };
}

/** One SVG document with a pair of charts per run, all on the same time axis. */
export function plotRuns(results: SimResult[]): string {
  const runs = results.flatMap((r) => (r.timeline ? [prepare(r, r.timeline)] : []));
  const xMax = Math.max(1, ...runs.map((p) => p.fittedSeconds));
  return svgDocument((out) => {
    let top = 12;
    for (const { r, tl, groups, marks, unmarked, nodeYMax, guestYMax, runSeconds } of runs) {
      const cut = xMax < runSeconds ? ` · nothing changes after ${duration(xMax)} of ${duration(runSeconds)}` : '';
      top += drawChart(out, top, {
        title: `${runTitle(r)}${cut}`,
        xMax,
        yMax: nodeYMax,
        height: 200,
        lines: [{ label: 'node available memory', color: '#1f77b4', xs: tl.tSeconds, ys: tl.availableBytes, width: 1.8 }],
        thresholds: [{ label: 'reserve', color: '#e69500', bytes: r.reaction.reserveBytes }],
        marks,
        notes: unmarked.map((label) => ({ label, color: 'none' })),
      });
      top += 14;
      const lines: ChartLine[] = [];
      const bands: ChartBand[] = [];
      groups.forEach((g, k) => {
        const color = PALETTE[k % PALETTE.length]!;
        const label = `${g.name} (${g.guests} guest${g.guests === 1 ? '' : 's'})`;
        if (g.guests > 1) bands.push({ label, color, xs: tl.tSeconds, lows: g.actualMin, highs: g.actualMax, hideInLegend: true });
        lines.push({ label, color, xs: tl.tSeconds, ys: g.actualMedian, width: 1.8 });
        lines.push({ label: `${label} need`, color, xs: tl.tSeconds, ys: g.needMedian, dash: '4 3', width: 1.2, hideInLegend: true });
      });
      top += drawChart(out, top, {
        title: 'guests by group: balloon, memory a guest has (median, band: lowest to highest); need (median, dashed)',
        xMax,
        yMax: guestYMax,
        height: 200,
        lines,
        bands,
        // Host OOM kills are the node's story (above); a guest's OOM kill or eviction shows here too.
        marks: marks.filter((m) => m.label !== MARKS['host-oom'].label),
        notes: [
          { label: 'balloon (solid)', color: '#555' },
          { label: 'need (dashed)', color: '#555', dash: '4 3' },
        ],
      });
      top += 28;
    }
    return top;
  });
}
