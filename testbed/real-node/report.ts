/**
 * The real-node table: one row per policy, the figures of runs.ts, and ratios against
 * `static` (the node without KubeMom) of the same run.
 */
import type { RealNodeResult } from './run.js';

const MiB = 2 ** 20;

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n');
}

const mib = (bytes: number): string => (bytes / MiB).toFixed(0);
const secs = (s: number | undefined, unresolvedAfter?: number): string => (s === undefined ? `${unresolvedAfter !== undefined ? unresolvedAfter.toFixed(0) : '?'}+` : s.toFixed(1));

/** `a / b` as `0.25x`; `-` when there is no baseline to divide by. */
function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || b === 0) return '-';
  return `${(a / b).toFixed(2)}x`;
}

export function guestOoms(r: RealNodeResult): number {
  return r.guests.reduce((s, g) => s + Math.max(g.guestOomKills ?? 0, g.consoleOomLines > 0 ? 1 : 0), 0);
}

export function formatRealNodeReport(results: RealNodeResult[], squeezeSeconds: number): string {
  const base = results.find((r) => r.policy === 'static');
  const rows = [
    ['policy', 'cgroup OOM kills', 'guest OOM', 'VMs lost', 'min avail MiB', 's < hard', 's < reserve', 'recovery s', 'peak reclaimed MiB', 'reclaimed in squeeze MiB', '< hard / static', '< reserve / static', 'recovery / static'],
  ];
  for (const r of results) {
    const f = r.figures;
    rows.push([
      r.policy,
      `${r.kubepodsOomKills}${r.noisyOomKills > 0 ? ` (${r.noisyOomKills} noisy)` : ''}`,
      String(guestOoms(r)),
      String(r.guests.filter((g) => !g.running).length),
      mib(f.minAvailableBytes),
      f.underThresholdSeconds.toFixed(1),
      f.underReserveSeconds.toFixed(1),
      secs(f.recoverySeconds, squeezeSeconds),
      mib(f.peakReclaimedBytes),
      mib(f.meanReclaimedInSqueezeBytes),
      r === base ? '1.00x' : ratio(f.underThresholdSeconds, base?.figures.underThresholdSeconds),
      r === base ? '1.00x' : ratio(f.underReserveSeconds, base?.figures.underReserveSeconds),
      r === base ? '1.00x' : ratio(f.recoverySeconds, base?.figures.recoverySeconds),
    ]);
  }
  return table(rows);
}

export { table };
