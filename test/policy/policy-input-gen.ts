/** fast-check generators of PolicyInput (bytes, ms) as the shim would build it. */
import fc from 'fast-check';
import type { GuestSample, GuestState, Phase, PolicyInput } from '../../src/policy/types.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const NOW = 10_000_000;

const phases: Phase[] = ['starting', 'running', 'running', 'running', 'paused', 'migrating', 'stopping'];

export const guestState = (i: number): fc.Arbitrary<GuestState> =>
  fc
    .record({
      memoryMiB: fc.integer({ min: 256, max: 16384 }),
      guaranteedFrac: fc.double({ min: 0, max: 1, noNaN: true }),
      curFrac: fc.double({ min: 0, max: 1, noNaN: true }),
      oddGuaranteed: fc.boolean(),
      noBalloon: fc.boolean(),
      priority: fc.integer({ min: 0, max: 100 }),
      phase: fc.constantFrom(...phases),
      phaseAgeS: fc.integer({ min: 0, max: 600 }),
      samples: fc.array(fc.record({ freeFrac: fc.double({ min: 0, max: 1, noNaN: true }), availExtra: fc.double({ min: 0, max: 0.5, noNaN: true }), swapIn: fc.integer({ min: 0, max: 3 }).map((x) => (x === 3 ? 4096 * 100 : 0)), faults: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 100000 })) }), { minLength: 0, maxLength: 6 }),
    })
    .map((g) => {
      const memory = g.memoryMiB * MiB;
      // Guaranteed sizes such as "1500M" are not whole KiB.
      const guaranteed = g.oddGuaranteed ? Math.floor(memory * g.guaranteedFrac / 1000) * 1000 : Math.floor(memory * g.guaranteedFrac / 1024) * 1024;
      const cur = Math.floor((memory * g.curFrac) / 1024) * 1024;
      let swapIn = 0;
      let faults = 0;
      const history: GuestSample[] = g.samples.map((s, k) => {
        swapIn += s.swapIn;
        faults += s.faults;
        const free = Math.floor(cur * s.freeFrac);
        return { atMs: NOW - (g.samples.length - 1 - k) * 10_000, freeBytes: free, availableBytes: Math.min(cur, Math.floor(free + cur * s.availExtra)), totalBytes: cur, swapInBytes: swapIn, majorFaults: faults, balloonActualBytes: cur };
      });
      const state: GuestState = {
        id: `ns/vm-${i}`, namespace: 'ns', name: `vm-${i}`, uid: `u${i}`, guestMemoryBytes: memory, guaranteedMemoryBytes: guaranteed,
        marginBytes: 0, priority: g.priority, policy: 'p', phase: g.phase, phaseSinceMs: NOW - g.phaseAgeS * 1000, history,
      };
      if (!g.noBalloon) state.balloonActualBytes = cur;
      else for (const s of history) delete s.balloonActualBytes;
      return state;
    });

export const policyInput: fc.Arbitrary<PolicyInput> = fc
  .record({
    totalGiB: fc.integer({ min: 4, max: 64 }),
    availFrac: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 4 }),
    psi: fc.option(fc.record({ some: fc.double({ min: 0, max: 100, noNaN: true }), full: fc.double({ min: 0, max: 50, noNaN: true }) }), { nil: undefined }),
    guests: fc.integer({ min: 0, max: 5 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => guestState(i)))),
    ksm: fc.option(fc.record({ run: fc.constantFrom(0, 1), pages_shared: fc.integer({ min: 0, max: 100000 }), pages_sharing: fc.integer({ min: 0, max: 400000 }), pages_to_scan: fc.integer({ min: 64, max: 1250 }), sleep_millisecs: fc.constantFrom(10, 20, 200), merge_across_nodes: fc.constantFrom(0, 1) }), { nil: undefined }),
    shareableFrac: fc.double({ min: 0, max: 2, noNaN: true }),
    cpu: fc.option(fc.double({ min: 0, max: 100, noNaN: true }), { nil: undefined }),
  })
  .map((h) => {
    const total = h.totalGiB * GiB;
    const input: PolicyInput = {
      nowMs: NOW,
      host: {
        cpuCount: 4,
        evictionHardBytes: 100 * MiB,
        history: h.availFrac.map((f, k) => {
          const avail = Math.floor((total * f) / 1024) * 1024;
          const sample = { atMs: NOW - (h.availFrac.length - 1 - k) * 10_000, memTotalBytes: total, memFreeBytes: Math.floor(avail / 2048) * 1024, memAvailableBytes: avail, buffersBytes: 0, cachedBytes: Math.floor(avail / 2048) * 1024, anonPagesBytes: 0, swapTotalBytes: 0, swapFreeBytes: 0 };
          return h.psi ? { ...sample, psi: { someAvg10: h.psi.some, someAvg60: h.psi.some, fullAvg10: h.psi.full, fullAvg60: h.psi.full, someTotalUs: 0, fullTotalUs: 0 } } : sample;
        }),
      },
      guests: h.guests,
    };
    if (h.ksm) {
      input.host.ksm = h.ksm;
      input.host.ksmShareableBytes = Math.floor(total * h.shareableFrac);
      if (h.cpu !== undefined) input.host.ksmdCpuPercent = h.cpu;
    }
    return input;
  });
