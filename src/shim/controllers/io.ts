/**
 * The IO controller: sends each VM's policy IO limits to its sidecar, only when they changed (the sidecar keeps them
 * until told otherwise), with the SetTarget deadline.
 */
import type { Logger } from '../../common/log.js';
import { sameRates } from '../../balloon/io-pressure.js';
import type { IoDecision } from '../../policy/types.js';
import type { SidecarSession } from '../session.js';

export function actuateIo(
  decisions: readonly IoDecision[],
  byGuest: ReadonlyMap<string, SidecarSession>,
  log: Logger,
  onOutcome: ((guestId: string, outcome: 'applied' | 'skipped' | 'error') => void) | undefined,
): Array<Promise<void>> {
  const pending: Array<Promise<void>> = [];
  for (const io of decisions) {
    const session = byGuest.get(io.guestId);
    if (!session || sameRates(session.ioLimitsSent, io.limits)) continue;
    pending.push(
      session.setIoLimits(io.limits, io.reason).then((outcome) => {
        const line = { guest: io.guestId, limits: io.limits, reason: io.reason, outcome };
        if (outcome === 'error') log.warn(line, 'SetIoLimits failed');
        else log.info(line, 'IO limits decision');
        onOutcome?.(io.guestId, outcome);
      }),
    );
  }
  return pending;
}
