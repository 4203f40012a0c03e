import { expect } from 'chai';
import fc from 'fast-check';
import type { GuestMemoryStats } from '../../src/agent/guest-stats.js';
import {
  defaultGuardConfig,
  floorOf,
  INITIAL_GUARD_STATE,
  observeActual,
  requestTarget,
  tick,
  type GuardConfig,
  type GuardState,
  type Observation,
} from '../../src/agent/guard.js';
import type { Phase } from '../../src/agent/lifecycle.js';

const MiB = 2 ** 20;
const T0 = 1_800_000_000_000;

function stats(over: Partial<GuestMemoryStats> & { availableBytes: number }, atMs: number): GuestMemoryStats {
  return {
    totalBytes: 480 * MiB,
    freeBytes: over.availableBytes,
    diskCachesBytes: 0,
    swapInBytes: 0,
    swapOutBytes: 0,
    majorFaults: 0,
    minorFaults: 0,
    swapInBytesPerSecond: 0,
    swapOutBytesPerSecond: 0,
    majorFaultsPerSecond: 0,
    minorFaultsPerSecond: 0,
    lastUpdateUnixSeconds: Math.floor(atMs / 1000),
    ...over,
  };
}

const config: GuardConfig = defaultGuardConfig({ guestMemoryBytes: 512 * MiB, guaranteedBytes: 128 * MiB, marginBytes: 64 * MiB, periodSeconds: 1 });

function obs(nowMs: number, actual: number, available: number | undefined, phase: Phase = 'running', extra: Partial<GuestMemoryStats> = {}): Observation {
  return {
    nowMs,
    phase,
    actualBytes: actual,
    stats: available === undefined ? undefined : stats({ availableBytes: available, ...extra }, nowMs - 500),
    stale: false,
  };
}

describe('agent guard: clamps every target', () => {
  it('raises a target under the guaranteed memory to it and says so', () => {
    const d = requestTarget(config, INITIAL_GUARD_STATE, obs(T0, 512 * MiB, 450 * MiB), 4096);
    expect(d.goalBytes).to.equal(128 * MiB);
    expect(d.clamp).to.equal('guaranteed');
    expect(d.detail).to.contain('guaranteed');
  });

  it('raises a target under the guest need plus margin to it and says so', () => {
    // The guest uses 512 - 200 = 312 MiB; with the 64 MiB margin nothing under 376 MiB is safe.
    const d = requestTarget(config, INITIAL_GUARD_STATE, obs(T0, 512 * MiB, 200 * MiB), 200 * MiB);
    expect(d.goalBytes).to.equal(376 * MiB);
    expect(d.clamp).to.equal('guest-need');
    expect(d.send).to.equal(384 * MiB); // one 128 MiB step at a 1 s period
  });

  it('lowers a target over the guest memory', () => {
    const d = requestTarget(config, INITIAL_GUARD_STATE, obs(T0, 300 * MiB, 200 * MiB), 4 * 1024 * MiB);
    expect(d.clamp).to.equal('guest-memory');
    expect(d.send).to.equal(512 * MiB);
    expect(d.appliedBytes).to.equal(512 * MiB);
  });

  it('deflates at once, without a step limit', () => {
    const d = requestTarget(config, INITIAL_GUARD_STATE, obs(T0, 128 * MiB, 100 * MiB), 500 * MiB);
    expect(d.send).to.equal(500 * MiB);
    expect(d.clamp).to.equal('none');
  });

  it('inflates in steps and reports the rate limit', () => {
    const d = requestTarget(config, INITIAL_GUARD_STATE, obs(T0, 512 * MiB, 480 * MiB), 256 * MiB);
    expect(d.goalBytes).to.equal(256 * MiB);
    expect(d.send).to.equal(384 * MiB);
    expect(d.clamp).to.equal('rate-limit');
  });

  it('takes the next step only after the last one was reached and a later guest report came in', () => {
    let s = requestTarget(config, INITIAL_GUARD_STATE, obs(T0, 512 * MiB, 480 * MiB), 256 * MiB).state;
    // Not reached yet.
    expect(tick(config, s, obs(T0 + 300, 450 * MiB, 480 * MiB)).send).to.equal(undefined);
    s = observeActual(config, s, T0 + 600, 384 * MiB).state;
    expect(s.reachedAtMs).to.equal(T0 + 600);
    // The report is older than the moment the move was reached.
    const old: Observation = { ...obs(T0 + 900, 384 * MiB, 350 * MiB), stats: stats({ availableBytes: 350 * MiB }, T0) };
    expect(tick(config, s, old).send).to.equal(undefined);
    const fresh: Observation = { ...obs(T0 + 2100, 384 * MiB, 350 * MiB), stats: stats({ availableBytes: 350 * MiB }, T0 + 2000) };
    expect(tick(config, s, fresh).send).to.equal(256 * MiB);
  });

  it('refuses to take memory while the VM is not running or its stats are missing or stale', () => {
    for (const phase of ['starting', 'paused', 'migrating', 'stopping', 'gone'] as Phase[]) {
      const d = requestTarget(config, INITIAL_GUARD_STATE, obs(T0, 512 * MiB, 480 * MiB, phase), 256 * MiB);
      expect(d.send, phase).to.equal(undefined);
      expect(d.clamp, phase).to.equal('not-running');
    }
    expect(requestTarget(config, INITIAL_GUARD_STATE, obs(T0, 512 * MiB, undefined), 256 * MiB).clamp).to.equal('no-fresh-stats');
    const stale = { ...obs(T0, 512 * MiB, 480 * MiB), stale: true };
    expect(requestTarget(config, INITIAL_GUARD_STATE, stale, 256 * MiB).clamp).to.equal('no-fresh-stats');
  });

  it('measures need in balloon-actual units, right with and without autodeflate', () => {
    // autodeflate: total stays 480 MiB while actual is 300 MiB; available 150 MiB -> need 150 MiB.
    const f = floorOf(config, { ...obs(T0, 300 * MiB, 150 * MiB), stats: stats({ availableBytes: 150 * MiB, totalBytes: 480 * MiB }, T0) });
    expect(f.needBytes).to.equal(150 * MiB);
    expect(f.bytes).to.equal(214 * MiB);
  });
});

describe('agent guard: protects the guest on its own', () => {
  it('gives memory back at once when available memory falls under the margin', () => {
    const s: GuardState = { ...INITIAL_GUARD_STATE, appliedBytes: 256 * MiB, goalBytes: 256 * MiB, reachedAtMs: T0 - 5000, lastShimContactMs: T0 };
    const d = tick(config, s, obs(T0, 256 * MiB, 20 * MiB));
    expect(d.send).to.be.greaterThan(256 * MiB + 64 * MiB);
    expect(d.state.selfProtectionReason).to.contain('available');
    // No inflation during the cooldown, and the reason says why.
    const r = requestTarget(config, d.state, obs(T0 + 1000, d.send!, 200 * MiB), 200 * MiB);
    expect(r.send).to.equal(undefined);
    expect(r.clamp).to.equal('guest-pressure');
  });

  it('while protecting, keeps what the guest had when it showed pressure, and lets the shim take back what it gave on top', () => {
    const s: GuardState = { ...INITIAL_GUARD_STATE, appliedBytes: 256 * MiB, goalBytes: 256 * MiB, reachedAtMs: T0 - 5000, lastShimContactMs: T0 };
    const protecting = tick(config, s, obs(T0, 256 * MiB, 20 * MiB));
    const held = protecting.send!;
    // The shim then gave 100 MiB more (a guest-growth grant), reached and reported.
    const given: GuardState = { ...protecting.state, appliedBytes: held + 100 * MiB, goalBytes: held + 100 * MiB, reachedAtMs: T0 + 1000 };
    const later: Observation = { ...obs(T0 + 3000, held + 100 * MiB, 400 * MiB), stats: stats({ availableBytes: 400 * MiB }, T0 + 2000) };
    // The node needs memory: the shim asks for 200 MiB; the agent takes back its grant, not what protection holds.
    const r = requestTarget(config, given, later, 200 * MiB);
    expect(r.clamp).to.equal('guest-pressure');
    expect(r.goalBytes).to.equal(held);
    expect(r.send).to.equal(held);
    expect(r.detail).to.contain('nothing under it is taken before');
    // After the cooldown the usual floors apply again.
    const after = requestTarget(config, { ...given, appliedBytes: held, reachedAtMs: T0 + 4000 }, { ...later, nowMs: T0 + config.protectCooldownMs + 5000, stats: stats({ availableBytes: 400 * MiB }, T0 + config.protectCooldownMs + 4000) }, 200 * MiB);
    expect(after.goalBytes).to.be.below(held);
  });

  it('gives memory back on swap-in and on major faults', () => {
    const s: GuardState = { ...INITIAL_GUARD_STATE, appliedBytes: 300 * MiB, reachedAtMs: T0 - 5000 };
    expect(tick(config, s, obs(T0, 300 * MiB, 200 * MiB, 'running', { swapInBytesPerSecond: 10 * MiB })).send).to.be.greaterThan(300 * MiB);
    expect(tick(config, s, obs(T0, 300 * MiB, 200 * MiB, 'running', { majorFaultsPerSecond: 5000 })).send).to.be.greaterThan(300 * MiB);
  });

  it('acts once per guest report, and again if the next report still shows pressure', () => {
    const s: GuardState = { ...INITIAL_GUARD_STATE, appliedBytes: 256 * MiB, reachedAtMs: T0 - 5000 };
    const first = tick(config, s, obs(T0, 256 * MiB, 10 * MiB));
    expect(first.send).to.equal(256 * MiB + 64 * MiB + 54 * MiB);
    expect(tick(config, first.state, obs(T0 + 200, 256 * MiB, 10 * MiB)).send).to.equal(undefined);
    const again = tick(config, first.state, obs(T0 + 1500, 374 * MiB, 10 * MiB));
    expect(again.send).to.be.greaterThan(first.send!);
  });

  it('holds its target when the shim is silent and keeps protecting', () => {
    let s = requestTarget(config, INITIAL_GUARD_STATE, obs(T0, 512 * MiB, 480 * MiB), 128 * MiB).state;
    s = observeActual(config, s, T0 + 500, 384 * MiB).state;
    const later = T0 + config.shimSilenceMs + 1000;
    const d = tick(config, s, obs(later, 384 * MiB, 350 * MiB));
    expect(d.send).to.equal(undefined);
    expect(d.state.holding).to.equal(true);
    expect(d.state.goalBytes).to.equal(384 * MiB);
    expect(d.state.selfProtectionReason).to.contain('silent');
    const p = tick(config, d.state, obs(later + 1000, 384 * MiB, 10 * MiB));
    expect(p.send).to.be.greaterThan(384 * MiB);
  });

  it('abandons an inflation the guest cannot complete', () => {
    let s = requestTarget(config, INITIAL_GUARD_STATE, obs(T0, 512 * MiB, 480 * MiB), 384 * MiB).state;
    const d = observeActual(config, s, T0 + config.stuckMs + 1, 450 * MiB);
    expect(d.send).to.equal(450 * MiB);
    s = d.state;
    expect(s.selfProtectionReason).to.contain('gave only');
  });
});

describe('agent guard: properties', () => {
  const phases: Phase[] = ['starting', 'running', 'paused', 'migrating', 'stopping', 'gone'];
  const vmArb = fc
    .record({
      guest: fc.integer({ min: 64, max: 65536 }),
      guaranteedFraction: fc.double({ min: 0.01, max: 1, noNaN: true }),
      marginFraction: fc.double({ min: 0, max: 0.5, noNaN: true }),
      period: fc.integer({ min: 1, max: 300 }),
    })
    .map(({ guest, guaranteedFraction, marginFraction, period }) =>
      defaultGuardConfig({
        guestMemoryBytes: guest * MiB,
        guaranteedBytes: Math.max(4096, Math.floor(guest * MiB * guaranteedFraction)),
        marginBytes: Math.floor(guest * MiB * marginFraction),
        periodSeconds: period,
      }),
    );
  const stepArb = fc.record({
    kind: fc.constantFrom('request', 'tick', 'observe'),
    dtMs: fc.integer({ min: 0, max: 120_000 }),
    requested: fc.oneof(fc.integer({ min: 0, max: 2 ** 40 }), fc.constant(4096), fc.constant(0)),
    actualFraction: fc.double({ min: 0, max: 1.2, noNaN: true }),
    availableFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    phase: fc.constantFrom(...phases),
    stale: fc.boolean(),
    swapIn: fc.constantFrom(0, 10 * MiB),
    majorFaults: fc.constantFrom(0, 10_000),
    noStats: fc.boolean(),
  });

  it('never sends a target under the guaranteed memory or over the guest memory, whatever happens', () => {
    fc.assert(
      fc.property(vmArb, fc.array(stepArb, { minLength: 1, maxLength: 40 }), (cfg, steps) => {
        let state: GuardState = INITIAL_GUARD_STATE;
        let now = T0;
        for (const step of steps) {
          now += step.dtMs;
          const actual = Math.floor(cfg.guestMemoryBytes * step.actualFraction);
          const o: Observation = {
            nowMs: now,
            phase: step.phase,
            actualBytes: actual,
            stats: step.noStats
              ? undefined
              : stats({ availableBytes: Math.floor(actual * step.availableFraction), swapInBytesPerSecond: step.swapIn, majorFaultsPerSecond: step.majorFaults }, now - 100),
            stale: step.stale,
          };
          const d =
            step.kind === 'request' ? requestTarget(cfg, state, o, step.requested) : step.kind === 'tick' ? tick(cfg, state, o) : observeActual(cfg, state, now, actual);
          if (d.send !== undefined) {
            expect(d.send).to.be.at.least(cfg.guaranteedBytes);
            expect(d.send).to.be.at.most(cfg.guestMemoryBytes);
          }
          if ('appliedBytes' in d && state.appliedBytes !== undefined) {
            expect(d.appliedBytes).to.be.at.most(cfg.guestMemoryBytes);
          }
          state = d.state;
        }
      }),
      { numRuns: 500 },
    );
  });

  it('never takes more than (available - margin) from a running guest in one move', () => {
    fc.assert(
      fc.property(vmArb, stepArb, (cfg, step) => {
        const actual = cfg.guestMemoryBytes;
        const available = Math.floor(actual * step.availableFraction);
        const o: Observation = { nowMs: T0, phase: 'running', actualBytes: actual, stats: stats({ availableBytes: available }, T0), stale: false };
        const d = requestTarget(cfg, INITIAL_GUARD_STATE, o, step.requested);
        if (d.send !== undefined && d.send < actual) {
          expect(actual - d.send).to.be.at.most(Math.max(0, available - cfg.marginBytes) + 4096);
          expect(actual - d.send).to.be.at.most((cfg.maxInflateBytesPerSecond * cfg.periodMs) / 1000 + 4096);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('never takes memory from a guest that shows pressure', () => {
    fc.assert(
      fc.property(vmArb, stepArb, (cfg, step) => {
        const actual = Math.floor(cfg.guestMemoryBytes * Math.min(1, step.actualFraction));
        const s: GuardState = { ...INITIAL_GUARD_STATE, appliedBytes: actual, reachedAtMs: T0 - 10_000 };
        const o: Observation = { nowMs: T0, phase: 'running', actualBytes: actual, stats: stats({ availableBytes: Math.floor(cfg.marginBytes * 0.5), swapInBytesPerSecond: 10 * MiB }, T0), stale: false };
        const t = tick(cfg, s, o);
        if (t.send !== undefined) expect(t.send).to.be.at.least(actual);
        const r = requestTarget(cfg, t.state, { ...o, nowMs: T0 + 10 }, step.requested);
        if (r.send !== undefined) expect(r.send).to.be.at.least(actual);
      }),
      { numRuns: 500 },
    );
  });
});
