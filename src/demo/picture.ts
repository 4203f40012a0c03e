/**
 * A small text picture of a demo run for the end of its report: sparklines of the
 * node's available memory (with the moments under its reserve and eviction threshold
 * marked), the memory the balloons held back and the noisy neighbour, over time.
 * Pure: the report's series in, lines out.
 */
import type { DemoReport, DemoSeries } from './report.js';
import { size } from '../common/units.js';

/** Eight heights; a zero value is a blank, so "nothing" reads as nothing. */
const BLOCKS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/** Columns of the picture: fits an 80-column terminal with the row labels. */
export const PICTURE_COLUMNS = 60;

/** A sparkline of `values` scaled to [0, max]. */
export function sparkline(values: readonly number[], max: number): string {
  return values
    .map((v) => {
      if (!(v > 0) || !(max > 0)) return ' ';
      const level = Math.min(BLOCKS.length - 1, Math.max(0, Math.ceil((v / max) * BLOCKS.length) - 1));
      return BLOCKS[level]!;
    })
    .join('');
}

/** The series in `columns` equal spans of time: per span the lowest available, the highest reclaimed and neighbour. */
export function columnsOf(series: DemoSeries, endSeconds: number, columns: number): { available: number[]; reclaimed: number[]; neighbour: number[] } {
  const n = Math.max(1, Math.min(columns, series.tSeconds.length));
  const available: number[] = [];
  const reclaimed: number[] = [];
  const neighbour: number[] = [];
  const span = Math.max(endSeconds, series.tSeconds[series.tSeconds.length - 1] ?? 0, 1e-9) / n;
  let k = 0;
  for (let c = 0; c < n; c++) {
    const until = c === n - 1 ? Infinity : (c + 1) * span;
    let a = Infinity;
    let r = 0;
    let nb = 0;
    let any = false;
    while (k < series.tSeconds.length && series.tSeconds[k]! < until) {
      a = Math.min(a, series.availableBytes[k]!);
      r = Math.max(r, series.reclaimedBytes[k]!);
      nb = Math.max(nb, series.neighbourBytes[k]!);
      any = true;
      k++;
    }
    if (!any) {
      // A span with no sample (a sparse series): repeat the previous column.
      a = available[c - 1] ?? 0;
      r = reclaimed[c - 1] ?? 0;
      nb = neighbour[c - 1] ?? 0;
    }
    available.push(a);
    reclaimed.push(r);
    neighbour.push(nb);
  }
  return { available, reclaimed, neighbour };
}

/** The picture's lines (none when the run has no samples). */
export function runPicture(r: DemoReport, columns = PICTURE_COLUMNS): string[] {
  const s = r.series;
  if (s.tSeconds.length === 0) return [];
  const cols = columnsOf(s, r.ranSeconds, columns);
  const maxAvailable = Math.max(r.reserveBytes, ...cols.available);
  const maxReclaimed = Math.max(...cols.reclaimed);
  const marks = cols.available.map((a) => (a < r.evictionHardBytes ? 'X' : a < r.reserveBytes ? '!' : '-')).join('');
  const span = r.ranSeconds / cols.available.length;
  const row = (label: string, cells: string, note: string): string => `  ${label.padEnd(10)} ${cells}  ${note}`;
  const lines = [
    `  the run, 0 to ${r.ranSeconds} s (one column per ${span < 1 ? span.toFixed(2) : span.toFixed(1)} s):`,
    row('available', sparkline(cols.available, maxAvailable), `${size(Math.min(...cols.available))} to ${size(Math.max(...cols.available))}`),
    row('reserve', marks, `! under the reserve ${size(r.reserveBytes)}, X under eviction`),
    row('reclaimed', sparkline(cols.reclaimed, maxReclaimed), `${size(Math.min(...cols.reclaimed))} to ${size(maxReclaimed)}`),
  ];
  const maxNeighbour = Math.max(...cols.neighbour);
  if (maxNeighbour > 0) lines.push(row('neighbour', sparkline(cols.neighbour, maxNeighbour), `up to ${size(maxNeighbour)}`));
  return lines;
}
