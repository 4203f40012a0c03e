/**
 * The demo's live view: on a terminal, a table redrawn in place (guests, balloons,
 * the node against its reserve, the latest decisions); otherwise one plain line per
 * update, so logs and pipes stay readable. Rendering is pure; `LiveView` writes.
 */
import type { DecisionView, NodeView } from './report.js';
import { size } from './report.js';

const MiB = 2 ** 20;

function mib(bytes: number | undefined): string {
  return bytes === undefined ? '-' : String(Math.round(bytes / MiB));
}

/** A bar of `width` cells: `used` of `total`, with a mark at `mark`. */
export function bar(value: number, total: number, width: number, mark?: number): string {
  const cells = Math.max(0, Math.min(width, Math.round((value / total) * width)));
  const chars: string[] = Array.from({ length: width }, (_, i) => (i < cells ? '#' : '.'));
  if (mark !== undefined) {
    const at = Math.max(0, Math.min(width - 1, Math.round((mark / total) * width)));
    chars[at] = '|';
  }
  return chars.join('');
}

/** The full-screen view. */
export function renderTable(view: NodeView, decisions: readonly DecisionView[], title: string): string[] {
  const lines: string[] = [];
  const t = (view.tMs / 1000).toFixed(1);
  lines.push(`${title}   t=${t}s   ${view.phase}`);
  const status = view.availableBytes < view.evictionHardBytes ? 'UNDER EVICTION THRESHOLD' : view.availableBytes < view.reserveBytes ? 'under reserve' : 'ok';
  lines.push(
    `node: available ${size(view.availableBytes)} of ${size(view.totalBytes)}  reserve ${size(view.reserveBytes)}  [${bar(view.availableBytes, view.totalBytes, 40, view.reserveBytes)}] ${status}`,
  );
  lines.push(`      noisy neighbour ${size(view.neighbourBytes)}   PSI some avg10 ${view.psiSome10.toFixed(1)} %   guest OOM kills ${view.guestOoms}`);
  lines.push('');
  lines.push(`${'guest'.padEnd(10)} ${'MiB: need'.padStart(10)} ${'actual'.padStart(7)} ${'target'.padStart(7)} ${'of'.padStart(6)}  balloon (# actual, | need)      shim`);
  for (const g of view.guests) {
    lines.push(
      `${g.name.padEnd(10)} ${mib(g.needBytes).padStart(10)} ${mib(g.actualBytes).padStart(7)} ${mib(g.targetBytes).padStart(7)} ${mib(g.memoryBytes).padStart(6)}  [${bar(g.actualBytes ?? g.memoryBytes, g.memoryBytes, 24, g.needBytes)}]  ${g.session}`,
    );
  }
  lines.push('');
  lines.push('latest decisions:');
  const last = decisions.slice(-6);
  if (last.length === 0) lines.push('  (none yet: the policy holds while the node is calm)');
  for (const d of last) lines.push(`  ${(d.tMs / 1000).toFixed(1).padStart(6)}s  ${d.guest.padEnd(14)} -> ${mib(d.targetBytes).padStart(5)} MiB  ${d.reason} (${d.trigger})`);
  return lines;
}

/** One plain line: the node, the total reclaimed, decisions since the previous line. */
export function renderLine(view: NodeView, newDecisions: readonly DecisionView[]): string {
  let reclaimed = 0;
  for (const g of view.guests) if (g.actualBytes !== undefined) reclaimed += Math.max(0, g.memoryBytes - g.actualBytes);
  const reasons = new Map<string, number>();
  for (const d of newDecisions) reasons.set(d.reason, (reasons.get(d.reason) ?? 0) + 1);
  const decided = [...reasons].map(([r, n]) => `${r} x${n}`).join(', ');
  const balloons = view.guests.map((g) => `${g.name}=${mib(g.actualBytes)}/${mib(g.needBytes)}`).join(' ');
  return `t=${(view.tMs / 1000).toFixed(1)}s available ${size(view.availableBytes)} (reserve ${size(view.reserveBytes)}) neighbour ${size(view.neighbourBytes)} reclaimed ${size(reclaimed)} | actual/need MiB ${balloons} | decisions: ${decided || 'none'} | ${view.phase}`;
}

/** Writes the view: redrawn in place on a TTY, plain lines otherwise. */
export class LiveView {
  private drawn = 0;
  private shownDecisions = 0;

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly tty: boolean,
    private readonly title: string,
  ) {}

  update(view: NodeView, decisions: readonly DecisionView[], decisionCount: number): void {
    if (this.tty) {
      const lines = renderTable(view, decisions, this.title);
      // Back to the top of the previous drawing, clear to the end of the screen, redraw.
      const up = this.drawn > 0 ? `\x1b[${this.drawn}F\x1b[J` : '';
      this.out.write(`${up}${lines.join('\n')}\n`);
      this.drawn = lines.length;
    } else {
      const fresh = decisions.slice(Math.max(0, decisions.length - (decisionCount - this.shownDecisions)));
      this.out.write(`${renderLine(view, fresh)}\n`);
    }
    this.shownDecisions = decisionCount;
  }
}
