/** MOM-style replays: input format, partial steps, guest list semantics, feedback, determinism. */
import { expect } from 'chai';
import fc from 'fast-check';
import { momPolicy } from '../../src/policy/mom/policy.js';
import { defaultPolicy } from '../../src/balloon/default-policy.js';
import { parseReplay, runReplay } from '../../src/policy/replay.js';
import type { Policy, PolicyInput } from '../../src/policy/types.js';
import { InputError } from '../../src/common/errors.js';
import { replayDoc } from './replay-gen.js';

const HOST = { mem_available: 1000000, mem_free: 100000, mem_unused: 50000 };
const GUEST = { balloon_cur: 100000, balloon_max: 200000, balloon_min: 10000, mem_unused: 50000 };

/** A policy that records the inputs it was given (to check what the replay builds). */
function recorder(): { policy: Policy<null>; inputs: PolicyInput[] } {
  const inputs: PolicyInput[] = [];
  return {
    inputs,
    policy: { name: 'recorder', initialState: () => null, evaluate: (input, state) => { inputs.push(input); return { decisions: { balloons: [], ksm: {} }, state }; } },
  };
}

describe('replay', () => {
  it('prints exactly step, ran, balloon and ksm per step', () => {
    const out = runReplay(parseReplay({ parameters: { balloonEnabled: 1, ksmEnabled: 0 }, host: HOST, guests: { vm: GUEST } }), momPolicy({ balloonEnabled: true, ksmEnabled: false }));
    expect(out).to.deep.equal([{ step: 0, ran: true, balloon: { vm: 95000 }, ksm: {} }]);
  });

  it('keeps missing host and guest fields from the previous step', () => {
    const r = recorder();
    runReplay(parseReplay({ steps: [{ host: HOST, guests: { vm: GUEST } }, { host: { mem_free: 200000 } }, { guests: { vm: { mem_unused: 1000 } } }] }), r.policy);
    const last = r.inputs[2]!;
    expect(last.host.history.map((h) => (h.memFreeBytes + h.cachedBytes) / 1024)).to.deep.equal([100000, 200000, 200000]);
    expect(last.host.history[2]!.memTotalBytes).to.equal(1000000 * 1024);
    const g = last.guests[0]!;
    expect(g.history.map((s) => s.freeBytes! / 1024)).to.deep.equal([50000, 50000, 1000]);
    expect(g.balloonActualBytes).to.equal(100000 * 1024);
    expect(g.guestMemoryBytes).to.equal(200000 * 1024);
  });

  it('ends guests not listed in a guests step and starts new names fresh', () => {
    const r = recorder();
    runReplay(parseReplay({ steps: [
      { host: HOST, guests: { a: GUEST, b: GUEST } },
      {},
      { guests: { b: {}, c: GUEST } },
      { guests: { a: GUEST, b: {}, c: {} } },
    ] }), r.policy);
    expect(r.inputs.map((i) => i.guests.map((g) => g.id))).to.deep.equal([['a', 'b'], ['a', 'b'], ['b', 'c'], ['b', 'c', 'a']]);
    // b kept its history through every step; a came back as a new VM with one sample.
    expect(r.inputs[3]!.guests.map((g) => g.history.length)).to.deep.equal([4, 2, 1]);
    expect(r.inputs[3]!.guests[2]!.uid).to.not.equal(r.inputs[0]!.guests[0]!.uid);
  });

  it('keeps only the last 10 samples per monitor', () => {
    const r = recorder();
    const steps: object[] = [{ host: HOST, guests: { vm: GUEST } }];
    for (let i = 0; i < 15; i++) steps.push({});
    runReplay(parseReplay({ steps }), r.policy);
    expect(r.inputs[15]!.host.history).to.have.length(10);
    expect(r.inputs[15]!.guests[0]!.history).to.have.length(10);
  });

  it('with feedback applies targets and KSM writes before the next step', () => {
    const doc = {
      parameters: { balloonEnabled: true },
      feedback: true,
      steps: [
        { host: { ...HOST, ksm_run: 0, ksm_pages_shared: 5, ksm_merge_across_nodes: 1, ksm_pages_to_scan: 100, ksm_sleep_millisecs: 10, ksm_shareable: 900000 }, guests: { vm: GUEST } },
        {},
        { guests: { vm: { balloon_cur: 100000 } } },
      ],
    };
    const out = runReplay(parseReplay(doc), momPolicy({ balloonEnabled: true }));
    expect(out.map((s) => s.balloon.vm)).to.deep.equal([95000, 90250, 95000]);
    // KSM: run 1 written once, then only pages_to_scan changes (400 -> 700); the step's own balloon_cur wins.
    expect(out.map((s) => s.ksm)).to.deep.equal([{ run: 1, pages_to_scan: 400, sleep_millisecs: 167 }, { pages_to_scan: 700 }, { pages_to_scan: 1000 }]);
    const without = runReplay(parseReplay({ ...doc, feedback: false }), momPolicy({ balloonEnabled: true }));
    expect(without.map((s) => s.balloon.vm)).to.deep.equal([95000, 95000, 95000]);
    expect(without.map((s) => s.ksm)).to.deep.equal([{ run: 1, pages_to_scan: 400, sleep_millisecs: 167 }, { run: 1, pages_to_scan: 400, sleep_millisecs: 167 }, { run: 1, pages_to_scan: 400, sleep_millisecs: 167 }]);
  });

  it('does not run a step whose host lacks mem_free (MOM: host monitor not ready)', () => {
    const out = runReplay(parseReplay({ steps: [{ host: { mem_available: 1000 }, guests: { vm: GUEST } }, { host: { mem_free: 500 } }] }), momPolicy(), { explain: true });
    expect(out[0]).to.deep.equal({ step: 0, ran: false, balloon: {}, ksm: {}, reason: 'host monitor is not ready: mem_free is missing' });
    expect(out[1]!.ran).to.equal(true);
  });

  it('the None-guest difference: MOM would abort the cycle, KubeMom runs it without that guest', () => {
    const doc = { parameters: { balloonEnabled: true, ksmEnabled: false }, steps: [{ host: HOST, guests: { vm: GUEST, booting: { mem_unused: 1000 } } }, { guests: { vm: {}, booting: { balloon_cur: 50000, balloon_max: 100000, balloon_min: 60000 } } }] };
    const out = runReplay(parseReplay(doc), momPolicy({ balloonEnabled: true, ksmEnabled: false }), { explain: true });
    expect(out[0]).to.deep.include({ ran: true, balloon: { vm: 95000 }, skipped: { booting: 'no balloon data' } });
    // Once its balloon data flows it is handled, guaranteed pass included.
    expect(out[1]!.balloon).to.deep.equal({ vm: 95000, booting: 60000 });
  });

  it('rejects bad input naming the field and what is accepted', () => {
    const bad: Array<[unknown, RegExp]> = [
      [[], /replay: must be a JSON object/],
      [{ steps: {} }, /steps: must be an array/],
      [{ steps: [{ host: { mem_free: 'x' } }] }, /steps\[0\]\.host\.mem_free: is "x"; accepted: a finite number or null/],
      [{ steps: [{ guests: { vm: { phase: 'booting' } } }] }, /steps\[0\]\.guests\.vm\.phase: is "booting"; accepted: starting, running/],
      [{ steps: [{ hosts: {} }] }, /steps\[0\]\.hosts: is not a step field/],
      [{ parameters: { balloonEnabled: 'yes' }, steps: [] }, /parameters\.balloonEnabled: is "yes"; accepted: true\/false or a number/],
      [{ feedback: 1, steps: [] }, /feedback: is 1; accepted: true or false/],
      [{ parameters: {} }, /steps: is missing/],
    ];
    for (const [doc, message] of bad) {
      expect(() => parseReplay(doc), JSON.stringify(doc)).to.throw(InputError, message);
    }
  });

  it('is deterministic for mom and default (fast-check)', () => {
    fc.assert(
      fc.property(replayDoc, (doc) => {
        const replay = parseReplay(doc);
        const { balloonEnabled, ksmEnabled } = replay.parameters;
        for (const make of [(): Policy<unknown> => momPolicy(replay.parameters as never) as Policy<unknown>, (): Policy<unknown> => defaultPolicy({ balloonEnabled: balloonEnabled!, ksmEnabled: ksmEnabled! }) as Policy<unknown>]) {
          expect(JSON.stringify(runReplay(replay, make()))).to.equal(JSON.stringify(runReplay(parseReplay(JSON.parse(JSON.stringify(doc))), make())));
        }
      }),
      { numRuns: 100 },
    );
  });
});
