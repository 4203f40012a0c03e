/** The demo's final report as text: the figures, then a picture of the run (src/demo/picture.ts). */
import { runPicture } from './picture.js';
import type { DemoReport } from './report.js';
import { size } from '../common/units.js';

/** The report as text: only what happened by the time the run ended, then a picture of the run. */
export function formatReport(r: DemoReport): string[] {
  const lines = [`KubeMom demo report (${r.mode} guests, policy ${r.policy}, ${r.vms} VMs, ${r.seconds} s)`];
  if (r.interrupted) {
    lines.push(
      r.interrupted.atSeconds === undefined
        ? `  INTERRUPTED by ${r.interrupted.signal} while the guests were starting: the timeline never ran; everything was cleaned up`
        : `  INTERRUPTED by ${r.interrupted.signal} at ${r.interrupted.atSeconds} s of ${r.seconds} s: figures cover the run until then; everything was cleaned up`,
    );
    if (r.interrupted.atSeconds === undefined) return lines;
  }
  lines.push(`  overcommit:        ${size(r.guestMemoryBytes)} of guest memory on a ${size(r.nodeMemoryBytes)} node = ${r.overcommitRatio.toFixed(2)}x`);
  const end = r.interrupted ? 'the interruption' : 'the end';
  lines.push(`  reclaimed:         ${size(r.reclaimed.startBytes)} at the start, peak ${size(r.reclaimed.peakBytes)} at ${r.reclaimed.peakAtSeconds} s (balloons then held ${r.backedRatioAtPeak.toFixed(2)}x the node)`);
  lines.push(`                     ${size(r.reclaimed.givenBackBytes)} given back by ${end}, ${size(r.reclaimed.endBytes)} still reclaimed`);
  lines.push(`  node available:    minimum ${size(r.node.minAvailableBytes)} at ${r.node.minAtSeconds} s (reserve ${size(r.reserveBytes)}, eviction threshold ${size(r.evictionHardBytes)})`);
  lines.push(`                     ${r.node.secondsUnderReserve} s under the reserve, ${r.node.secondsUnderEviction} s under the eviction threshold`);
  const p = r.pressure;
  if (p) {
    const reaction = !p.fellUnderReserve
      ? 'the node never fell under its reserve'
      : p.backAboveReserveAfterSeconds === undefined
        ? `the node was still under its reserve at the ${r.interrupted ? 'interruption' : 'end'}`
        : `the node was back above its reserve ${p.backAboveReserveAfterSeconds} s after the event`;
    lines.push(`  pressure event:    noisy neighbour at ${p.eventAtSeconds} s; first reclaim ${p.firstReclaimAfterSeconds === undefined ? 'never sent' : `${p.firstReclaimAfterSeconds} s after`}`);
    lines.push(`                     ${reaction}`);
  } else {
    lines.push('  pressure event:    not reached (the run ended before the noisy neighbour came)');
  }
  lines.push(`  guest OOM kills:   ${r.guestOoms}`);
  const reasons = Object.entries(r.decisions.byReason)
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  lines.push(`  decisions:         ${r.decisions.total} sent (${reasons || 'none'})`);
  if (r.decisions.growAfterPressure !== undefined) lines.push(`                     ${r.decisions.growAfterPressure} grow-backs after the pressure`);
  lines.push(...runPicture(r));
  return lines;
}
