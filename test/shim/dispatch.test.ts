import { expect } from 'chai';
import type { BalloonDecision } from '../../src/policy/types.js';
import { dispatchOrder } from '../../src/shim/loop.js';
import type { SidecarSession } from '../../src/shim/session.js';

function sessionWithActual(actual: number): SidecarSession {
  return { latest: { balloonActualBytes: actual > 0 ? actual : undefined } } as unknown as SidecarSession;
}

describe('shim dispatch order', () => {
  it('sends the biggest reclaims first, then the rest in the policy order', () => {
    const byGuest = new Map<string, SidecarSession>([
      ['a', sessionWithActual(1000)],
      ['b', sessionWithActual(5000)],
      ['c', sessionWithActual(3000)],
      ['d', sessionWithActual(100)],
      ['e', sessionWithActual(0)],
    ]);
    const decisions: BalloonDecision[] = [
      { guestId: 'a', targetBytes: 2000, reason: 'grow' }, // grows
      { guestId: 'b', targetBytes: 4000, reason: 'shrink' }, // reclaims 1000
      { guestId: 'c', targetBytes: 1000, reason: 'shrink' }, // reclaims 2000
      { guestId: 'd', targetBytes: 500, reason: 'grow' }, // grows
      { guestId: 'e', targetBytes: 10, reason: 'unknown-actual' },
      { guestId: 'z', targetBytes: 10, reason: 'no-session' },
    ];
    expect(dispatchOrder(decisions, byGuest).map((d) => d.guestId)).to.deep.equal(['c', 'b', 'a', 'd', 'e', 'z']);
  });
});
