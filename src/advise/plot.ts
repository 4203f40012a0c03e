/**
 * The advisor's plot (SVG; PNG through the simulator's renderer): per node, memory in
 * use over the window as the node saw it and as it would be with what KubeMom's default
 * policy would have taken back, against the line the reserve draws.
 */
import type { NodeTimeline } from './model.js';
import { GiB } from '../common/units.js';

const COLS = 2;
const CELL_W = 480;
const CELL_H = 190;
const LEFT = 56;
const TOP = 24;
const PLOT_W = CELL_W - LEFT - 16;
const PLOT_H = CELL_H - TOP - 34;
/** More charts would be unreadable; the JSON has every node. */
export const MAX_PLOTTED_NODES = 24;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function polyline(xs: number[], ys: number[], color: string, extra = ''): string {
  const pts = xs.map((x, i) => `${x.toFixed(1)},${ys[i]!.toFixed(1)}`).join(' ');
  return `<polyline fill="none" stroke="${color}" stroke-width="1.3" ${extra} points="${pts}"/>`;
}

function cell(out: string[], tl: NodeTimeline, ox: number, oy: number): void {
  const t0 = tl.t[0] ?? 0;
  const t1 = Math.max(t0 + 1, tl.t[tl.t.length - 1] ?? t0 + 1);
  const x = (t: number) => ox + LEFT + ((t - t0) / (t1 - t0)) * PLOT_W;
  const y = (b: number) => oy + TOP + PLOT_H - (Math.max(0, Math.min(b, tl.memTotalBytes)) / tl.memTotalBytes) * PLOT_H;
  out.push(`<text x="${ox + LEFT}" y="${oy + TOP - 8}" font-size="12" font-weight="bold">${esc(tl.node)}</text>`);
  out.push(`<rect x="${ox + LEFT}" y="${oy + TOP}" width="${PLOT_W}" height="${PLOT_H}" fill="none" stroke="#999"/>`);
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const b = f * tl.memTotalBytes;
    out.push(`<line x1="${ox + LEFT}" x2="${ox + LEFT + PLOT_W}" y1="${y(b).toFixed(1)}" y2="${y(b).toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${ox + LEFT - 4}" y="${(y(b) + 4).toFixed(1)}" font-size="9" text-anchor="end">${(b / GiB).toFixed(0)} GiB</text>`);
  }
  const days = (t1 - t0) / 86_400;
  for (const f of [0, 0.5, 1]) {
    const label = days >= 2 ? `-${((1 - f) * days).toFixed(1)}d` : `-${((1 - f) * days * 24).toFixed(1)}h`;
    out.push(`<text x="${(ox + LEFT + f * PLOT_W).toFixed(1)}" y="${oy + TOP + PLOT_H + 12}" font-size="9" text-anchor="middle">${f === 1 ? 'end' : label}</text>`);
  }
  const line = tl.memTotalBytes - tl.reserveBytes;
  out.push(`<line x1="${ox + LEFT}" x2="${ox + LEFT + PLOT_W}" y1="${y(line).toFixed(1)}" y2="${y(line).toFixed(1)}" stroke="#e69500" stroke-dasharray="4 3"/>`);
  const xs = tl.t.map(x);
  out.push(polyline(xs, tl.availableBytes.map((a) => y(tl.memTotalBytes - a)), '#d62728'));
  out.push(polyline(xs, tl.availableBytes.map((a, i) => y(tl.memTotalBytes - a - tl.reclaimableBytes[i]!)), '#1f77b4'));
}

/** One SVG document: a chart per node (at most MAX_PLOTTED_NODES, the fullest first), with a legend. */
export function plotAdvice(timelines: readonly NodeTimeline[], title: string): string {
  const fullest = [...timelines].sort((a, b) => Math.min(...a.availableBytes) / a.memTotalBytes - Math.min(...b.availableBytes) / b.memTotalBytes).slice(0, MAX_PLOTTED_NODES);
  const rows = Math.max(1, Math.ceil(fullest.length / COLS));
  const width = COLS * CELL_W;
  const height = 56 + rows * CELL_H;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="12" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    '<line x1="12" x2="36" y1="38" y2="38" stroke="#d62728" stroke-width="2"/><text x="40" y="42" font-size="11">memory in use (MemTotal - MemAvailable)</text>',
    '<line x1="290" x2="314" y1="38" y2="38" stroke="#1f77b4" stroke-width="2"/><text x="318" y="42" font-size="11">in use with what KubeMom would reclaim</text>',
    '<line x1="570" x2="594" y1="38" y2="38" stroke="#e69500" stroke-dasharray="4 3"/><text x="598" y="42" font-size="11">reserve: KubeMom keeps use under it</text>',
  ];
  fullest.forEach((tl, i) => cell(out, tl, (i % COLS) * CELL_W, 50 + Math.floor(i / COLS) * CELL_H));
  if (timelines.length > fullest.length) out.push(`<text x="12" y="${height - 6}" font-size="10">${timelines.length - fullest.length} more nodes in --json</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
