/** Reconnection backoff: bounded, growing, jittered within its band, and checked options. */
import { expect } from 'chai';
import fc from 'fast-check';
import { InputError } from '../../src/common/errors.js';
import { backoffDelay, resolveBackoff } from '../../src/qmp/backoff.js';

describe('QMP reconnect backoff', () => {
  it('grows by the factor from the initial delay up to the maximum', () => {
    const b = resolveBackoff({ initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0 });
    expect([0, 1, 2, 3, 4, 50, 1e9].map((a) => backoffDelay(a, b, 0.7))).to.deep.equal([100, 200, 400, 800, 1000, 1000, 1000]);
  });

  it('stays within [d * (1 - jitter), d] for any attempt and random draw', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 100_000 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 100_000 }), fc.double({ min: 1, max: 1e6, noNaN: true }),
        (attempt, jitter, random, initialDelayMs, extra, factor) => {
          const b = resolveBackoff({ initialDelayMs, maxDelayMs: initialDelayMs + extra, factor, jitter });
          const d = backoffDelay(attempt, b, random);
          expect(Number.isFinite(d)).to.equal(true);
          expect(d).to.be.at.most(b.maxDelayMs);
          const full = initialDelayMs === 0 ? 0 : Math.min(b.maxDelayMs, initialDelayMs * Math.pow(factor, Math.min(attempt, 1000)));
          expect(d).to.be.at.least(full * (1 - jitter) - 1e-9);
        },
      ),
    );
  });

  it('refuses bad options naming the field', () => {
    expect(() => resolveBackoff({ factor: 0.5 })).to.throw(InputError, 'reconnect.factor: must be a finite number >= 1, got 0.5');
    expect(() => resolveBackoff({ initialDelayMs: 500, maxDelayMs: 100 })).to.throw(InputError, 'reconnect.maxDelayMs');
    expect(() => resolveBackoff({ jitter: 2 })).to.throw(InputError, 'reconnect.jitter: must be between 0 and 1, got 2');
    expect(() => resolveBackoff({ maxAttempts: 0 })).to.throw(InputError, 'reconnect.maxAttempts');
  });
});
