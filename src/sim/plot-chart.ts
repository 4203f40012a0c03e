/**
 * One SVG chart of memory over time, written by hand (a few polylines need no
 * library): lines, shaded bands, horizontal thresholds, labelled vertical marks and a
 * legend, on axes whose ticks never overlap (time in s, min or h; memory in MiB or
 * GiB). Used by `simulate --plot` and `demo --plot`. Pure: specs in, SVG text out.
 */
import { MiB, GiB } from '../common/units.js';

export const CHART_WIDTH = 960;
const LEFT = 64;
const RIGHT = 24;
const PLOT_W = CHART_WIDTH - LEFT - RIGHT;
/** Pixels between axis labels at least, so they never overlap. */
const MIN_X_TICK_PX = 80;
const MIN_Y_TICK_PX = 28;
const LEGEND_ROW_H = 16;
export const FONT = 'DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif';

export interface ChartLine {
  /** Legend text; lines with the same label share one legend entry. */
  label: string;
  color: string;
  xs: readonly number[];
  ys: readonly number[];
  dash?: string;
  width?: number;
  /** Not in the legend (a line explained by another entry). */
  hideInLegend?: boolean;
}

export interface ChartBand {
  label: string;
  color: string;
  xs: readonly number[];
  lows: readonly number[];
  highs: readonly number[];
  hideInLegend?: boolean;
}

export interface ChartThreshold {
  label: string;
  color: string;
  bytes: number;
}

/** A moment that matters (an OOM kill, an eviction): a vertical line and a short label. */
export interface ChartMark {
  /** Seconds. */
  x: number;
  /** Short label written at the top ("OOM", "evicted"). */
  label: string;
  color: string;
  /** Tooltip. */
  detail: string;
  /** Legend text, when it says more than the label. */
  legend?: string;
}

export interface ChartSpec {
  title: string;
  /** Seconds. */
  xMax: number;
  /** Bytes. */
  yMax: number;
  height: number;
  lines?: ChartLine[];
  bands?: ChartBand[];
  thresholds?: ChartThreshold[];
  marks?: ChartMark[];
  /** Extra legend entries (e.g. what dashed means; color `none`: text only). */
  notes?: Array<{ label: string; color: string; dash?: string }>;
}

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The smallest 1/2/5 x 10^n step that makes at most `maxTicks` steps over `span`. */
export function niceStep(span: number, maxTicks: number): number {
  const raw = span / Math.max(1, maxTicks);
  if (!(raw > 0)) return 1;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * mag + 1e-12) return m * mag;
  return 10 * mag;
}

/** The time unit for a span of seconds: labels stay short (0 to 60 of something). */
export function timeUnit(maxSeconds: number): { name: string; seconds: number } {
  if (maxSeconds <= 180) return { name: 's', seconds: 1 };
  if (maxSeconds <= 3 * 3600) return { name: 'min', seconds: 60 };
  return { name: 'h', seconds: 3600 };
}

/** Time ticks in `unit`, at most one per MIN_X_TICK_PX. */
export function timeTicks(maxSeconds: number, width = PLOT_W): { unit: string; ticks: number[]; perUnit: number } {
  const unit = timeUnit(maxSeconds);
  const span = maxSeconds / unit.seconds;
  const step = niceStep(span, Math.floor(width / MIN_X_TICK_PX));
  const ticks: number[] = [];
  for (let v = 0; v <= span + 1e-9; v += step) ticks.push(+v.toFixed(6));
  return { unit: unit.name, ticks, perUnit: unit.seconds };
}

/** Memory ticks in MiB or GiB, at most one per MIN_Y_TICK_PX. */
export function memoryTicks(maxBytes: number, height: number): { unit: string; ticks: number[]; perUnit: number } {
  const perUnit = maxBytes >= 2 * GiB ? GiB : MiB;
  const span = maxBytes / perUnit;
  const step = niceStep(span, Math.floor(height / MIN_Y_TICK_PX));
  const ticks: number[] = [];
  for (let v = 0; v <= span + 1e-9; v += step) ticks.push(+v.toFixed(6));
  return { unit: perUnit === GiB ? 'GiB' : 'MiB', ticks, perUnit };
}

/**
 * Keeps at most `maxPoints` points of a series: per pixel-wide span, its first point
 * plus its lowest and highest (in time order), so dips and spikes stay visible.
 */
export function decimate(allXs: readonly number[], allYs: readonly number[], xMax: number, maxPoints = PLOT_W): { xs: number[]; ys: number[] } {
  // Only what is on the axis (and one point past its end, which the chart clamps to the edge).
  let n = allXs.findIndex((t) => t > xMax);
  n = n < 0 ? allXs.length : n + 1;
  const xs = allXs.slice(0, n);
  const ys = allYs.slice(0, n);
  if (xs.length <= maxPoints) return { xs, ys };
  const spans = Math.max(1, Math.floor(maxPoints / 3));
  const outX: number[] = [];
  const outY: number[] = [];
  let i = 0;
  for (let s = 0; s < spans && i < xs.length; s++) {
    const until = s === spans - 1 ? Infinity : ((s + 1) * xMax) / spans;
    const from = i;
    let lo = i;
    let hi = i;
    while (i < xs.length && xs[i]! < until) {
      if (ys[i]! < ys[lo]!) lo = i;
      if (ys[i]! > ys[hi]!) hi = i;
      i++;
    }
    if (i === from) continue;
    for (const k of [...new Set([from, lo, hi])].sort((a, b) => a - b)) {
      outX.push(xs[k]!);
      outY.push(ys[k]!);
    }
  }
  return { xs: outX, ys: outY };
}

function pointList(xs: readonly number[], ys: readonly number[], x: (v: number) => number, y: (v: number) => number): string {
  return xs.map((t, i) => `${x(t).toFixed(1)},${y(ys[i]!).toFixed(1)}`).join(' ');
}

/** Width of a bold 13 px title character, generously (DejaVu Sans is wide). */
const TITLE_CHAR_PX = 8;

/** The title in lines of at most `max` characters, broken after " · " or else at spaces. */
export function wrapTitle(title: string, max: number): string[] {
  const lines: string[] = [];
  let rest = title;
  while (rest.length > max) {
    const head = rest.slice(0, max);
    let at = head.lastIndexOf(' · ');
    let skip = 3;
    if (at <= 0) {
      at = head.lastIndexOf(' ');
      skip = 1;
    }
    if (at <= 0) {
      at = max;
      skip = 0;
    }
    lines.push(rest.slice(0, at));
    rest = rest.slice(at + skip);
  }
  lines.push(rest);
  return lines;
}

/** Legend entries laid out in rows that fit the chart's width. */
function legend(out: string[], top: number, entries: Array<{ label: string; color: string; dash?: string; kind: 'line' | 'band' | 'mark' }>): number {
  let x = LEFT;
  let row = 0;
  for (const e of entries) {
    const w = 28 + Math.ceil(e.label.length * 6.4) + 18;
    if (x + w > CHART_WIDTH - RIGHT && x > LEFT) {
      row++;
      x = LEFT;
    }
    const y = top + row * LEGEND_ROW_H;
    if (e.color === 'none') {
      // Text only (a remark).
    } else if (e.kind === 'band') out.push(`<rect x="${x}" y="${y - 5}" width="22" height="10" fill="${e.color}" fill-opacity="0.25" stroke="${e.color}"/>`);
    else out.push(`<line x1="${x}" x2="${x + 22}" y1="${y}" y2="${y}" stroke="${e.color}" stroke-width="2"${e.dash ? ` stroke-dasharray="${e.dash}"` : ''}/>`);
    out.push(`<text x="${x + 28}" y="${y + 4}" font-size="11">${esc(e.label)}</text>`);
    x += w;
  }
  return entries.length === 0 ? 0 : (row + 1) * LEGEND_ROW_H;
}

/**
 * Draws one chart with its top at `top`; returns the height it used (title, plot,
 * axis labels, legend).
 */
export function drawChart(out: string[], top: number, spec: ChartSpec): number {
  const titleLines = wrapTitle(spec.title, Math.floor((CHART_WIDTH - LEFT - 8) / TITLE_CHAR_PX));
  titleLines.forEach((line, i) => out.push(`<text x="${LEFT}" y="${top + 12 + i * 16}" font-size="13" font-weight="bold">${esc(line)}</text>`));
  const plotTop = top + 2 + 16 * titleLines.length;
  const h = spec.height;
  const xMax = Math.max(spec.xMax, 1e-9);
  const yMax = Math.max(spec.yMax, 1);
  const x = (t: number): number => LEFT + (Math.min(Math.max(t, 0), xMax) / xMax) * PLOT_W;
  const y = (b: number): number => plotTop + h - (Math.min(Math.max(b, 0), yMax) / yMax) * h;
  out.push(`<rect x="${LEFT}" y="${plotTop}" width="${PLOT_W}" height="${h}" fill="none" stroke="#999"/>`);
  const ym = memoryTicks(yMax, h);
  for (const v of ym.ticks) {
    const py = y(v * ym.perUnit).toFixed(1);
    out.push(`<line x1="${LEFT}" x2="${LEFT + PLOT_W}" y1="${py}" y2="${py}" stroke="#eee"/>`);
    out.push(`<text x="${LEFT - 5}" y="${(+py + 4).toFixed(1)}" font-size="10" text-anchor="end">${+v.toFixed(2)} ${ym.unit}</text>`);
  }
  const tm = timeTicks(xMax);
  for (const v of tm.ticks) {
    const px = x(v * tm.perUnit).toFixed(1);
    out.push(`<line x1="${px}" x2="${px}" y1="${plotTop + h}" y2="${plotTop + h + 4}" stroke="#999"/>`);
    out.push(`<text x="${px}" y="${plotTop + h + 15}" font-size="10" text-anchor="middle">${+v.toFixed(2)} ${tm.unit}</text>`);
  }
  for (const band of spec.bands ?? []) {
    const upper = decimate(band.xs, band.highs, xMax);
    const lower = decimate(band.xs, band.lows, xMax);
    const pts = `${pointList(upper.xs, upper.ys, x, y)} ${pointList([...lower.xs].reverse(), [...lower.ys].reverse(), x, y)}`;
    out.push(`<polygon fill="${band.color}" fill-opacity="0.18" stroke="none" points="${pts}"><title>${esc(band.label)}</title></polygon>`);
  }
  for (const t of spec.thresholds ?? []) {
    const py = y(t.bytes).toFixed(1);
    out.push(`<line x1="${LEFT}" x2="${LEFT + PLOT_W}" y1="${py}" y2="${py}" stroke="${t.color}" stroke-dasharray="6 3"/>`);
  }
  for (const line of spec.lines ?? []) {
    const d = decimate(line.xs, line.ys, xMax);
    out.push(
      `<polyline fill="none" stroke="${line.color}" stroke-width="${line.width ?? 1.5}"${line.dash ? ` stroke-dasharray="${line.dash}"` : ''} points="${pointList(d.xs, d.ys, x, y)}"><title>${esc(line.label)}</title></polyline>`,
    );
  }
  drawMarks(out, spec.marks ?? [], x, plotTop, h);
  const entries: Array<{ label: string; color: string; dash?: string; kind: 'line' | 'band' | 'mark' }> = [];
  const seen = new Set<string>();
  const add = (e: { label: string; color: string; dash?: string; kind: 'line' | 'band' | 'mark' }): void => {
    if (seen.has(e.label)) return;
    seen.add(e.label);
    entries.push(e);
  };
  for (const l of spec.lines ?? []) if (!l.hideInLegend) add({ label: l.label, color: l.color, ...(l.dash ? { dash: l.dash } : {}), kind: 'line' });
  for (const b of spec.bands ?? []) if (!b.hideInLegend) add({ label: b.label, color: b.color, kind: 'band' });
  for (const t of spec.thresholds ?? []) add({ label: t.label, color: t.color, dash: '6 3', kind: 'line' });
  for (const m of spec.marks ?? []) add({ label: m.legend ?? m.label, color: m.color, kind: 'mark' });
  for (const n of spec.notes ?? []) add({ ...n, kind: 'line' });
  const legendTop = plotTop + h + 34;
  const legendH = legend(out, legendTop, entries);
  return legendTop - top + legendH;
}

/**
 * Marks: one thin line per mark; labels per cluster of marks closer than a label's
 * width ("OOM x3"), so many incidents never pile their labels on each other.
 */
function drawMarks(out: string[], marks: readonly ChartMark[], x: (t: number) => number, plotTop: number, h: number): void {
  const sorted = [...marks].sort((a, b) => a.x - b.x);
  for (const m of sorted) {
    const px = x(m.x).toFixed(1);
    out.push(`<line x1="${px}" x2="${px}" y1="${plotTop}" y2="${plotTop + h}" stroke="${m.color}" stroke-width="1.2" stroke-opacity="0.8"><title>${esc(m.detail)}</title></line>`);
  }
  // Clusters by label, then labels placed left to right, each on the first of three rows where it fits.
  const clusters: Array<{ px: number; label: string; color: string; n: number }> = [];
  for (const m of sorted) {
    const px = x(m.x);
    const last = [...clusters].reverse().find((c) => c.label === m.label);
    if (last && px - last.px < 60) last.n++;
    else clusters.push({ px, label: m.label, color: m.color, n: 1 });
  }
  const rowEnd = [-Infinity, -Infinity, -Infinity];
  for (const c of clusters.sort((a, b) => a.px - b.px)) {
    const text = c.n > 1 ? `${c.label} x${c.n}` : c.label;
    const w = text.length * 6.2 + 6;
    const row = rowEnd.findIndex((end) => c.px + 3 >= end);
    if (row < 0) continue;
    const left = Math.min(c.px + 3, CHART_WIDTH - RIGHT - w);
    rowEnd[row] = left + w;
    out.push(`<text x="${left.toFixed(1)}" y="${plotTop + 11 + row * 12}" font-size="10" font-weight="bold" fill="${c.color}">${esc(text)}</text>`);
  }
}

/** An SVG document around charts drawn by `draw` (which returns the height it used). */
export function svgDocument(draw: (out: string[]) => number): string {
  const body: string[] = [];
  const height = Math.ceil(draw(body) + 16);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${CHART_WIDTH}" height="${height}" viewBox="0 0 ${CHART_WIDTH} ${height}" font-family="${FONT}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
