/**
 * `demo --plot FILE`: the run as an SVG (or PNG) chart, drawn with the simulator's
 * chart code (src/sim/plot-chart.ts): the node's available memory against its reserve
 * and eviction threshold, the memory the balloons held back and the noisy neighbour,
 * over time, with the pressure event marked.
 */
import { drawChart, svgDocument, type ChartMark } from '../sim/plot-chart.js';
import type { DemoReport } from './report.js';

/** The report's series as one SVG document. */
export function plotDemo(r: DemoReport): string {
  const s = r.series;
  const marks: ChartMark[] = [];
  if (r.pressure) marks.push({ x: r.pressure.eventAtSeconds, label: 'pressure event', color: '#d62728', detail: `a noisy neighbour takes node memory at ${r.pressure.eventAtSeconds} s` });
  if (r.interrupted?.atSeconds !== undefined) marks.push({ x: r.interrupted.atSeconds, label: `interrupted (${r.interrupted.signal})`, color: '#000000', detail: `${r.interrupted.signal} at ${r.interrupted.atSeconds} s` });
  const yMax = Math.max(r.reserveBytes * 1.2, ...s.availableBytes, ...s.reclaimedBytes, ...s.neighbourBytes);
  const status = r.interrupted ? `interrupted at ${r.interrupted.atSeconds ?? 0} s of ${r.seconds} s` : `${r.seconds} s`;
  return svgDocument((out) =>
    drawChart(out, 12, {
      title: `KubeMom demo: ${r.vms} ${r.mode} VMs, policy ${r.policy}, ${r.overcommitRatio.toFixed(2)}x overcommit, ${status}, guest OOM kills ${r.guestOoms}`,
      xMax: Math.max(1, r.ranSeconds),
      yMax,
      height: 260,
      lines: [
        { label: 'node available memory (lowest)', color: '#1f77b4', xs: s.tSeconds, ys: s.availableBytes, width: 2 },
        { label: 'reclaimed by the balloons', color: '#2ca02c', xs: s.tSeconds, ys: s.reclaimedBytes, width: 2 },
        { label: 'noisy neighbour', color: '#8c564b', xs: s.tSeconds, ys: s.neighbourBytes, width: 1.2, dash: '4 3' },
      ],
      thresholds: [
        { label: 'reserve', color: '#e69500', bytes: r.reserveBytes },
        { label: 'eviction threshold', color: '#d62728', bytes: r.evictionHardBytes },
      ],
      marks,
    }) + 12,
  );
}
