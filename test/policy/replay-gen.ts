/**
 * fast-check generators of MOM-style replays (KiB, MOM field names) used by the
 * equivalence and property tests: hosts under and out of pressure, guests that come
 * and go, guests without balloon data, partial steps and feedback.
 */
import fc from 'fast-check';

const kib = (min: number, max: number): fc.Arbitrary<number> => fc.integer({ min, max });

/** A guest's full first sample: balloon_min <= balloon_cur <= balloon_max. */
export const guestFirst = fc
  .record({ max: kib(262144, 16777216), curFrac: fc.double({ min: 0.05, max: 1, noNaN: true }), minFrac: fc.double({ min: 0, max: 0.9, noNaN: true }), unusedFrac: fc.double({ min: 0, max: 0.9, noNaN: true }), noBalloon: fc.boolean() })
  .map(({ max, curFrac, minFrac, unusedFrac, noBalloon }) => {
    const cur = Math.max(1, Math.floor(max * curFrac));
    const min = Math.floor(max * minFrac);
    const unused = Math.floor(cur * unusedFrac);
    if (noBalloon) return { balloon_cur: null, balloon_max: null, balloon_min: null, mem_unused: null, mem_available: max };
    return { balloon_cur: cur, balloon_max: max, balloon_min: min, mem_unused: unused, mem_available: cur, major_fault: 0, swap_in: 0, swap_out: 0 };
  });

/** A later partial guest sample: only some fields change. */
const guestChange = fc.record({ mem_unused: kib(0, 4194304), major_fault: kib(0, 1000) }, { requiredKeys: [] });

const TOTAL = 25165824; // 24 GiB in KiB

const hostFirst = fc.record({ free: fc.oneof(kib(100000, 6000000), kib(100000, TOTAL)), unused: fc.double({ min: 0, max: 1, noNaN: true }), shared: fc.constantFrom(0, 0, 1000), pages: kib(64, 1250), merge: fc.constantFrom(0, 1), run: fc.constantFrom(0, 1), shareable: kib(0, TOTAL * 2) }).map((h) => ({
  mem_available: TOTAL,
  mem_free: h.free,
  mem_unused: Math.floor(h.free * h.unused),
  swap_total: 0,
  swap_usage: 0,
  anon_pages: 0,
  cpu_count: 2,
  ksm_run: h.run,
  ksm_pages_shared: h.shared,
  ksm_pages_to_scan: h.pages,
  ksm_sleep_millisecs: 10,
  ksm_merge_across_nodes: h.merge,
  ksm_shareable: h.shareable,
}));

const hostChange = fc.record({ mem_free: fc.oneof(kib(100000, 6000000), kib(100000, TOTAL)), ksm_pages_shared: fc.constantFrom(0, 500) }, { requiredKeys: [] }).map((h) => {
  const out: Record<string, number> = { ...h };
  if (h.mem_free !== undefined) out.mem_unused = Math.floor(h.mem_free / 2);
  return out;
});

const names = ['vm-a', 'vm-b', 'vm-c', 'vm-d'];

/** A whole replay document. */
export const replayDoc = fc
  .record({
    balloonEnabled: fc.boolean(),
    ksmEnabled: fc.boolean(),
    merge: fc.boolean(),
    feedback: fc.boolean(),
    host: hostFirst,
    guests: fc.uniqueArray(fc.constantFrom(...names), { minLength: 0, maxLength: 4 }).chain((ns) => fc.tuple(...ns.map((n) => guestFirst.map((g) => [n, g] as const)))),
    later: fc.array(
      fc.record({
        host: fc.option(hostChange, { nil: undefined }),
        guests: fc.option(fc.uniqueArray(fc.constantFrom(...names), { maxLength: 4 }).chain((ns) => fc.tuple(...ns.map((n) => fc.oneof(guestChange, guestFirst).map((g) => [n, g] as const)))), { nil: undefined }),
      }),
      { maxLength: 14 },
    ),
  })
  .map((r) => ({
    parameters: { balloonEnabled: r.balloonEnabled, ksmEnabled: r.ksmEnabled ? 1 : 0, ksmMergeAcrossNodes: r.merge },
    feedback: r.feedback,
    steps: [
      { host: r.host, guests: Object.fromEntries(r.guests) },
      ...r.later.map((s) => {
        const step: Record<string, unknown> = {};
        if (s.host) step.host = s.host;
        if (s.guests) step.guests = Object.fromEntries(s.guests);
        return step;
      }),
    ],
  }));
