/**
 * SVG plots of simulation runs, written by hand (a few polylines need no library):
 * per policy, the node's available memory against its reserve and eviction threshold,
 * and each guest's need (dashed) and balloon (memory it has, solid) over time.
 */
import type { SimResult } from './simulator.js';

const GiB = 2 ** 30;
const WIDTH = 960;
const CHART_H = 200;
const LEFT = 60;
const RIGHT = 20;
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function points(xs: number[], ys: number[], x: (v: number) => number, y: (v: number) => number): string {
  return xs.map((t, i) => `${x(t).toFixed(1)},${y(ys[i]!).toFixed(1)}`).join(' ');
}

function niceStep(max: number): number {
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

function chart(out: string[], top: number, title: string, xs: number[], xMax: number, yMax: number, draw: (x: (v: number) => number, y: (v: number) => number) => void): void {
  const plotW = WIDTH - LEFT - RIGHT;
  const x = (t: number) => LEFT + (t / xMax) * plotW;
  const y = (b: number) => top + CHART_H - (Math.max(0, b) / yMax) * CHART_H;
  out.push(`<text x="${LEFT}" y="${top - 6}" font-size="13" font-weight="bold">${esc(title)}</text>`);
  out.push(`<rect x="${LEFT}" y="${top}" width="${plotW}" height="${CHART_H}" fill="none" stroke="#999"/>`);
  const yStep = niceStep(yMax / GiB);
  for (let v = 0; v <= yMax / GiB + 1e-9; v += yStep) {
    out.push(`<line x1="${LEFT}" x2="${LEFT + plotW}" y1="${y(v * GiB).toFixed(1)}" y2="${y(v * GiB).toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${LEFT - 4}" y="${(y(v * GiB) + 4).toFixed(1)}" font-size="10" text-anchor="end">${+v.toFixed(2)} GiB</text>`);
  }
  const xStep = niceStep(xMax);
  for (let v = 0; v <= xMax + 1e-9; v += xStep) {
    out.push(`<text x="${x(v).toFixed(1)}" y="${top + CHART_H + 12}" font-size="10" text-anchor="middle">${+v.toFixed(1)} s</text>`);
  }
  void xs;
  draw(x, y);
}

/** One SVG document with a pair of charts per run. */
export function plotRuns(results: SimResult[]): string {
  const panelH = 2 * CHART_H + 110;
  const height = results.length * panelH + 20;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  results.forEach((r, i) => {
    const tl = r.timeline;
    if (!tl) return;
    const top = 20 + i * panelH + 20;
    const xMax = Math.max(1, tl.tSeconds[tl.tSeconds.length - 1] ?? 1);
    const status = r.survived ? 'survived' : `FAILED: guest OOM ${r.failures.guestOom}, host OOM ${r.failures.hostOom}, evicted ${r.failures.evictions}`;
    chart(out, top, `${r.policy} · ${r.scenario}, ${r.guests} guests, ${r.overcommit.toFixed(2)}x · ${status} · node available memory`, tl.tSeconds, xMax, r.nodeMemoryBytes, (x, y) => {
      const line = (bytes: number, color: string, label: string) => {
        out.push(`<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${y(bytes).toFixed(1)}" y2="${y(bytes).toFixed(1)}" stroke="${color}" stroke-dasharray="4 3"/>`);
        out.push(`<text x="${WIDTH - RIGHT - 4}" y="${(y(bytes) - 3).toFixed(1)}" font-size="10" text-anchor="end" fill="${color}">${label}</text>`);
      };
      line(r.reaction.reserveBytes, '#e69500', 'reserve');
      out.push(`<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${points(tl.tSeconds, tl.availableBytes, x, y)}"/>`);
      for (const inc of r.incidents.filter((n) => n.kind !== 'autodeflate')) {
        out.push(`<line x1="${x(inc.atSeconds).toFixed(1)}" x2="${x(inc.atSeconds).toFixed(1)}" y1="${y(r.nodeMemoryBytes)}" y2="${y(0)}" stroke="#d62728"><title>${esc(`${inc.kind} ${inc.guest} at ${inc.atSeconds}s`)}</title></line>`);
      }
    });
    const maxGuest = Math.max(...tl.guests.map((g) => g.memoryBytes));
    chart(out, top + CHART_H + 45, 'guests: need (dashed) and balloon, memory the guest has (solid)', tl.tSeconds, xMax, maxGuest, (x, y) => {
      tl.guests.forEach((g, k) => {
        const color = PALETTE[k % PALETTE.length]!;
        out.push(`<g><title>${esc(g.id)}</title>`);
        out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.2" points="${points(tl.tSeconds, g.actualBytes, x, y)}"/>`);
        out.push(`<polyline fill="none" stroke="${color}" stroke-width="1" stroke-dasharray="3 2" points="${points(tl.tSeconds, g.needBytes, x, y)}"/>`);
        out.push('</g>');
      });
    });
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
