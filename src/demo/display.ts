/**
 * The demo's live view: on a terminal, a table redrawn in place (guests, balloons,
 * the node against its reserve, the latest decisions); otherwise one short plain line
 * per event and a periodic status line, so logs and pipes stay readable. Rendering is
 * pure; `LiveView` writes.
 */
import { shortName, type DecisionView, type DemoEvent, type NodeView } from './report.js';
import { mib, size } from '../common/units.js';

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
  for (const d of last) lines.push(`  ${(d.tMs / 1000).toFixed(1).padStart(6)}s  ${shortName(d.guest).padEnd(14)} -> ${mib(d.targetBytes).padStart(5)} MiB  ${d.reason} (${d.trigger})`);
  return lines;
}

/** Longest line the plain (piped) output writes; longer parts (a policy's reason) are cut. */
export const PLAIN_LINE_MAX = 120;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

function at(tMs: number): string {
  return `t=${(Math.max(0, tMs) / 1000).toFixed(1)}s`.padEnd(9);
}

/** Reclaimed memory now: guest memory minus balloon `actual`, over the guests that reported one. */
export function reclaimedNow(view: NodeView): number {
  let reclaimed = 0;
  for (const g of view.guests) if (g.actualBytes !== undefined) reclaimed += Math.max(0, g.memoryBytes - g.actualBytes);
  return reclaimed;
}

/** One event as one plain line. */
export function renderEvent(e: DemoEvent): string {
  let what: string;
  switch (e.kind) {
    case 'phase':
      what = `phase     ${e.phase}`;
      break;
    case 'reserve':
      what = e.under
        ? `node      available ${size(e.availableBytes)} fell under the reserve (${size(e.thresholdBytes)})`
        : `node      available ${size(e.availableBytes)}, back above the reserve (${size(e.thresholdBytes)})`;
      break;
    case 'eviction':
      what = e.under
        ? `node      available ${size(e.availableBytes)} fell under the eviction threshold (${size(e.thresholdBytes)})`
        : `node      available ${size(e.availableBytes)}, back above the eviction threshold (${size(e.thresholdBytes)})`;
      break;
    case 'decision': {
      const d = e.decision;
      const verb = e.fromBytes === undefined ? 'to' : `${mib(e.fromBytes)} ->`;
      what = `balloon   ${clip(shortName(d.guest), 24)} ${verb} ${mib(d.targetBytes)} MiB  ${clip(d.reason, 40)} (${clip(d.trigger, 20)})`;
      break;
    }
    case 'guest-oom':
      what = `guest OOM a guest's OOM killer ran (${e.total} kill${e.total === 1 ? '' : 's'} so far)`;
      break;
  }
  return clip(`${at(e.tMs)}${what}`, PLAIN_LINE_MAX);
}

/** The periodic status line: the node and the total reclaimed. */
export function renderStatus(view: NodeView): string {
  return clip(
    `${at(view.tMs)}status    available ${size(view.availableBytes)} (reserve ${size(view.reserveBytes)}), reclaimed ${size(reclaimedNow(view))}, neighbour ${size(view.neighbourBytes)}`,
    PLAIN_LINE_MAX,
  );
}

/** What the live view reads from the recorder. */
export interface EventSource {
  readonly recent: readonly DecisionView[];
  readonly events: readonly DemoEvent[];
  readonly eventCount: number;
}

/**
 * Writes the view: on a TTY a table redrawn in place; otherwise one plain line per
 * event (phase, reserve or eviction threshold crossed, balloon decision, guest OOM)
 * and a status line every `statusEveryMs`, so logs and pipes stay readable.
 */
export class LiveView {
  private drawn = 0;
  private shownEvents = 0;
  private lastStatusMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly tty: boolean,
    private readonly title: string,
    private readonly statusEveryMs = 5000,
  ) {
    if (!tty) this.out.write(`${title}\n`);
  }

  update(view: NodeView, source: EventSource): void {
    if (this.tty) {
      const lines = renderTable(view, source.recent, this.title);
      // Back to the top of the previous drawing, clear to the end of the screen, redraw.
      const up = this.drawn > 0 ? `\x1b[${this.drawn}F\x1b[J` : '';
      this.out.write(`${up}${lines.join('\n')}\n`);
      this.drawn = lines.length;
      return;
    }
    const fresh = Math.min(source.events.length, source.eventCount - this.shownEvents);
    const lines = source.events.slice(source.events.length - fresh).map(renderEvent);
    this.shownEvents = source.eventCount;
    if (view.tMs - this.lastStatusMs >= this.statusEveryMs) {
      lines.push(renderStatus(view));
      this.lastStatusMs = view.tMs;
    }
    if (lines.length > 0) this.out.write(`${lines.join('\n')}\n`);
  }
}
