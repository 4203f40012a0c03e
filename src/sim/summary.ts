/** The human summary of simulation runs: one row per policy. */
import type { SimResult } from './simulator.js';
import { GiB } from '../common/units.js';

function pad(cells: string[][]): string {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

export function summaryTable(results: SimResult[]): string {
  const first = results[0];
  if (!first) return '';
  const head = `${first.scenario}: ${first.guests} guests, ${(first.guestMemoryBytes / GiB).toFixed(1)} GiB of guest memory on a ${(first.nodeMemoryBytes / GiB).toFixed(1)} GiB node (overcommit ${first.overcommit.toFixed(2)}x), seed ${first.seed}, reserve ${(first.reaction.reserveBytes / GiB).toFixed(2)} GiB`;
  const rows = [['policy', 'result', 'guest OOM', 'host OOM', 'evicted', 'min avail GiB', 'under reserve s', 'worst reaction s', 'swap-in MiB', 'under need s', 'autodeflates']];
  for (const r of results) {
    rows.push([
      r.policy,
      r.survived ? 'survived' : `FAILED at ${(r.incidents.find((n) => n.kind !== 'autodeflate')?.atSeconds ?? r.simulatedSeconds).toFixed(0)}s`,
      String(r.failures.guestOom),
      String(r.failures.hostOom),
      String(r.failures.evictions),
      (r.node.minAvailableBytes / GiB).toFixed(2),
      r.node.belowReserveSeconds.toFixed(1),
      r.reaction.episodes.length === 0 ? '-' : `${r.reaction.worstSeconds.toFixed(1)}${r.reaction.unresolved ? '+' : ''}`,
      (r.harm.swapInBytes / 2 ** 20).toFixed(0),
      r.harm.underNeedSeconds.toFixed(0),
      String(r.harm.autodeflates),
    ]);
  }
  return `${head}\n${pad(rows)}\n`;
}
