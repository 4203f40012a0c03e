/**
 * The balloon controller: sends each balloon decision to its VM's sidecar. All calls go out at once, each with its
 * own deadline, so a slow sidecar never delays the others or the next cycle; the biggest reclaims first. An unchanged
 * target is not resent until the heartbeat is due (SetTarget is the agent's sign that the shim is alive).
 */
import { CLAMP_TO_WIRE } from '../../api/kubemom-v1.js';
import type { BalloonDecision } from '../../policy/types.js';
import type { SetTargetOutcome, SidecarSession } from '../session.js';
import type { DecisionRecord, LoopTrigger } from './records.js';

/** What one cycle's balloon decisions became. */
export interface BalloonActuation {
  records: DecisionRecord[];
  /** One promise per SetTarget sent, settled when it answered or missed its deadline. */
  pending: Array<Promise<void>>;
  /** performance.now() when the last SetTarget was sent (undefined: none). */
  lastSendAt: number | undefined;
}

export class BalloonController {
  /** What each sidecar was last asked and when, to avoid resending an unchanged target. */
  private readonly lastRequested = new WeakMap<SidecarSession, { target: number; atMs: number; bounds: string }>();

  constructor(
    /** An unchanged target is sent again after this long. */
    private readonly heartbeatMs: number,
    private readonly onOutcome: (record: DecisionRecord, outcome: SetTargetOutcome | undefined, session: SidecarSession | undefined) => void,
  ) {}

  /** The pod bounds last sent to a sidecar ("0/0": none, or nothing sent yet). */
  boundsSent(session: SidecarSession): string {
    return this.lastRequested.get(session)?.bounds ?? '0/0';
  }

  actuate(balloons: readonly BalloonDecision[], byGuest: ReadonlyMap<string, SidecarSession>, nowMs: number, trigger: LoopTrigger): BalloonActuation {
    const out: BalloonActuation = { records: [], pending: [], lastSendAt: undefined };
    for (const decision of dispatchOrder(balloons, byGuest)) {
      const record: DecisionRecord = { atMs: nowMs, trigger, guestId: decision.guestId, targetBytes: decision.targetBytes, reason: decision.reason };
      out.records.push(record);
      const session = byGuest.get(decision.guestId);
      if (!session) {
        record.outcome = 'unknown-guest';
        this.onOutcome(record, undefined, undefined);
        continue;
      }
      const target = Math.round(decision.targetBytes);
      const applied = session.lastApplied?.appliedBytes;
      const previous = this.lastRequested.get(session);
      const heartbeatDue = previous !== undefined && nowMs - previous.atMs >= this.heartbeatMs;
      // New pod bounds go out at once: the agent's own give-back must stop at the new ceiling.
      const bounds = boundsKey(session);
      if (previous?.target === target && previous.bounds === bounds && !heartbeatDue && applied !== undefined && session.latest?.balloonTargetBytes === applied) {
        record.outcome = 'unchanged';
        this.onOutcome(record, undefined, session);
        continue;
      }
      this.lastRequested.set(session, { target, atMs: nowMs, bounds });
      const call = session.setTarget(target, decision.reason);
      out.lastSendAt = performance.now();
      out.pending.push(
        call.then((outcome) => {
          if (outcome.kind === 'applied') {
            record.outcome = 'applied';
            record.appliedBytes = outcome.response.appliedBytes;
            record.clamp = CLAMP_TO_WIRE[outcome.response.clamp];
          } else {
            record.outcome = outcome.kind === 'skipped' ? `skipped-${outcome.why}` : outcome.why;
            this.lastRequested.delete(session);
          }
          this.onOutcome(record, outcome, session);
        }),
      );
    }
    return out;
  }
}

/** The pod bounds a session would send, as a comparable key. */
export function boundsKey(session: SidecarSession): string {
  return `${session.bounds.ceilingBytes ?? 0}/${session.bounds.floorBytes ?? 0}`;
}

/**
 * The order in which targets are sent: the biggest reclaims first (a call costs
 * the shim about half a millisecond in grpc-js, so with hundreds of changed targets
 * the first ones land noticeably sooner), then everything else in the policy's order.
 */
export function dispatchOrder(balloons: readonly BalloonDecision[], byGuest: ReadonlyMap<string, SidecarSession>): BalloonDecision[] {
  const reclaim = (d: BalloonDecision): number => {
    const actual = byGuest.get(d.guestId)?.latest?.balloonActualBytes ?? 0;
    return actual > 0 ? actual - d.targetBytes : 0;
  };
  return balloons
    .map((d, index) => ({ d, index, r: reclaim(d) }))
    .sort((a, b) => (b.r > 0 || a.r > 0 ? Math.max(b.r, 0) - Math.max(a.r, 0) : 0) || a.index - b.index)
    .map((x) => x.d);
}
