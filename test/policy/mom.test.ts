/**
 * The `mom` policy against cases built by hand from mom-reference.md (vdsm's
 * 02-balloon, 03-ksm and 04-cputune policies). Each expected value is worked out
 * from the reference's formulas, in KiB, independently of the implementation.
 */
import { expect } from 'chai';
import { momPolicy } from '../../src/policy/mom/policy.js';
import { momCpuTune } from '../../src/policy/mom/cputune.js';
import { momGuestFreePercent } from '../../src/policy/mom/balloon.js';
import { statAvg } from '../../src/policy/mom/stat-avg.js';
import { parseReplay, runReplay, type ReplayStepResult } from '../../src/policy/replay.js';
import type { PolicyInput } from '../../src/policy/types.js';

/** Runs a replay document through `mom` with its parameters. */
function mom(doc: unknown): ReplayStepResult[] {
  const replay = parseReplay(doc);
  return runReplay(replay, momPolicy(replay.parameters as never), { explain: true });
}

const HOST = { mem_available: 1000000, mem_unused: 50000, mem_free: 100000 };
const GUEST = { balloon_cur: 100000, balloon_max: 200000, balloon_min: 10000, mem_unused: 50000, mem_available: 100000 };

function last(results: ReplayStepResult[]): ReplayStepResult {
  return results[results.length - 1]!;
}

describe('mom: StatAvg', () => {
  it('averages the last 10 values, ignoring None, 0.0 when empty', () => {
    expect(statAvg([])).to.equal(0);
    expect(statAvg([null, undefined])).to.equal(0);
    expect(statAvg([1, null, 3])).to.equal(2);
    expect(statAvg([1000, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])).to.equal(5.5);
  });
});

describe('mom: balloon policy (02-balloon.policy)', () => {
  const cases: Array<{ name: string; host?: object; guest: object; enabled?: boolean; expect: number | undefined; reason?: string }> = [
    // hfp 0.1 -> gfp 0.1; used 50000; floor max(10000, 60000); size 95000 -> shrink 5 %.
    { name: 'shrinks 5 % under pressure', guest: {}, enabled: true, expect: 95000, reason: 'shrink' },
    // used 90000, floor 100000 = cur: no change big enough.
    { name: 'does not shrink below the guest floor', guest: { mem_unused: 10000 }, enabled: true, expect: undefined },
    // used 92000, floor 102000 > cur: shrink never grows.
    { name: 'shrink never grows a guest', guest: { mem_unused: 8000 }, enabled: true, expect: undefined },
    // used 5000, floor max(97000, 15000) = 97000 > 95000: size 97000.
    { name: 'stops at balloon_min', guest: { mem_unused: 95000, balloon_min: 97000 }, enabled: true, expect: 97000, reason: 'shrink' },
    // balloonEnabled off: grow path; size 100000 * 1.05 = 105000.
    { name: 'grows 5 % when ballooning is disabled', guest: {}, enabled: false, expect: 105000, reason: 'grow' },
    // host not under pressure (hfp 0.5 -> gfp 0.5): floor 50000 + 50000 = 100000 -> 105000.
    { name: 'grows when the host is not under pressure', host: { mem_free: 500000 }, guest: {}, enabled: true, expect: 105000, reason: 'grow' },
    // hfp 0.5: used 100000 + 0.5 * 100000 = 150000 floor.
    { name: 'grows to the floor in one step', host: { mem_free: 500000 }, guest: { mem_unused: 0 }, enabled: true, expect: 150000, reason: 'grow' },
    { name: 'grows no higher than balloon_max', host: { mem_free: 500000 }, guest: { mem_unused: 0, balloon_max: 120000 }, enabled: true, expect: 120000, reason: 'grow' },
    { name: 'does not grow at balloon_max', guest: { balloon_max: 100000 }, expect: undefined },
    // 0.25 % of 100000 is 250: a 200 KiB step is not big enough.
    { name: 'ignores changes under 0.25 %', host: { mem_free: 500000 }, guest: { balloon_max: 100200 }, expect: undefined },
    { name: 'takes a 0.3 % change', host: { mem_free: 500000 }, guest: { balloon_max: 100300 }, expect: 100300, reason: 'grow' },
    // Critical: hfp 0.04 -> gfp -0.05 + 0.04 = -0.01; used 95000; floor 95000 - 1000 = 94000 -> size 95000.
    { name: 'lets the guest go under its free minimum when critical', host: { mem_free: 40000 }, guest: { mem_unused: 5000 }, enabled: true, expect: 95000, reason: 'shrink' },
    // Guaranteed pass overrides the grow path's 105000.
    { name: 'the guaranteed pass overrides', guest: { balloon_cur: 5000, mem_unused: 0, balloon_min: 10000 }, expect: 10000, reason: 'guaranteed' },
    // int() truncation: 33333 * 0.95 = 31666.35 -> 31666.
    { name: 'truncates targets to whole KiB', guest: { balloon_cur: 33333, mem_unused: 33333 }, enabled: true, expect: 31666, reason: 'shrink' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const out = mom({
        parameters: { balloonEnabled: c.enabled ?? false, ksmEnabled: false },
        host: { ...HOST, ...c.host },
        guests: { vm: { ...GUEST, ...c.guest } },
      });
      expect(out).to.have.length(1);
      expect(out[0]!.ran).to.equal(true);
      expect(out[0]!.balloon.vm).to.equal(c.expect);
      if (c.reason) expect(out[0]!.reasons?.vm).to.equal(c.reason);
    });
  }

  it('uses guest_free_percent exactly as vdsm', () => {
    expect(momGuestFreePercent(0.05)).to.equal(-0.05 + 0.05);
    expect(momGuestFreePercent(0.04)).to.equal(-0.05 + 0.04);
    expect(momGuestFreePercent(0.1)).to.equal(0.2 * (0.1 / 0.2));
  });

  it('averages the guest mem_unused over its samples, None ignored', () => {
    // mem_unused samples 0, None, 20000: StatAvg 10000, used 90000, floor 100000: no shrink.
    // With the latest value alone (20000) it would shrink to 95000.
    const steps = [0, null, 20000].map((u) => ({ host: HOST, guests: { vm: { ...GUEST, mem_unused: u } } }));
    const out = mom({ parameters: { balloonEnabled: 1, ksmEnabled: 0 }, steps });
    expect(last(out).balloon).to.deep.equal({});
  });

  it('averages the host mem_free over the last 10 samples', () => {
    // mem_free 300000 then 100000: StatAvg 200000, hfp 0.2 is not < 0.2 so the guest grows.
    const out = mom({
      parameters: { balloonEnabled: true, ksmEnabled: false },
      steps: [{ host: { ...HOST, mem_free: 300000 }, guests: { vm: GUEST } }, { host: { mem_free: 100000 } }],
    });
    expect(last(out).reasons).to.deep.equal({ vm: 'grow' });
    // Ten more samples at 100000 push the 300000 out of the window: shrink.
    const steps: object[] = [{ host: { ...HOST, mem_free: 300000 }, guests: { vm: GUEST } }];
    for (let i = 0; i < 10; i++) steps.push({ host: { mem_free: 100000 } });
    expect(last(mom({ parameters: { balloonEnabled: true, ksmEnabled: false }, steps })).reasons).to.deep.equal({ vm: 'shrink' });
  });

  it('skips a guest without balloon data and runs the rest (MOM would abort)', () => {
    const out = mom({
      parameters: { balloonEnabled: true },
      host: { ...HOST, ksm_run: 0, ksm_pages_shared: 0, ksm_merge_across_nodes: 0, ksm_pages_to_scan: 100, ksm_sleep_millisecs: 10, ksm_shareable: 0 },
      guests: { starting: { balloon_cur: null, balloon_max: null, balloon_min: null, mem_unused: null }, vm: GUEST },
    });
    expect(out[0]!.ran).to.equal(true);
    expect(out[0]!.balloon).to.deep.equal({ vm: 95000 });
    // Nothing shared: merge_across_nodes set; StatAvg(mem_free) 100000 < threshold 200000: KSM runs, boosted.
    expect(out[0]!.ksm).to.deep.equal({ merge_across_nodes: 1, run: 1, sleep_millisecs: 167, pages_to_scan: 400 });
    expect(out[0]!.skipped).to.deep.equal({ starting: 'no balloon data' });
  });

  it('still applies the guaranteed pass to a guest with balloon data but no memory stats', () => {
    const out = mom({ host: HOST, guests: { vm: { ...GUEST, balloon_cur: 5000, mem_unused: null } }, parameters: { ksmEnabled: 0 } });
    expect(out[0]!.balloon).to.deep.equal({ vm: 10000 });
  });

  it('reads the same decisions from byte-sized shim input', () => {
    const KiB = 1024;
    const input: PolicyInput = {
      nowMs: 0,
      host: {
        cpuCount: 2,
        evictionHardBytes: 100 * 2 ** 20,
        history: [{ atMs: 0, memTotalBytes: 1000000 * KiB, memFreeBytes: 50000 * KiB, memAvailableBytes: 0, buffersBytes: 20000 * KiB, cachedBytes: 30000 * KiB, anonPagesBytes: 0, swapTotalBytes: 0, swapFreeBytes: 0 }],
      },
      guests: [{
        id: 'ns/vm', namespace: 'ns', name: 'vm', uid: 'u', guestMemoryBytes: 200000 * KiB, guaranteedMemoryBytes: 10000 * KiB,
        marginBytes: 0, priority: 50, policy: 'mom', phase: 'running', phaseSinceMs: 0, balloonActualBytes: 100000 * KiB,
        history: [{ atMs: 0, freeBytes: 50000 * KiB, totalBytes: 100000 * KiB, balloonActualBytes: 100000 * KiB }],
      }],
    };
    const policy = momPolicy({ balloonEnabled: true });
    const { decisions } = policy.evaluate(input, policy.initialState());
    expect(decisions.balloons).to.deep.equal([{ guestId: 'ns/vm', targetBytes: 95000 * KiB, reason: 'shrink' }]);
    expect(decisions.ksm).to.deep.equal({});
  });
});

describe('mom: KSM policy (03-ksm.policy)', () => {
  const KSM = { ksm_run: 0, ksm_pages_shared: 10, ksm_merge_across_nodes: 1, ksm_pages_to_scan: 100, ksm_sleep_millisecs: 10, ksm_shareable: 900000 };
  const cases: Array<{ name: string; host: object; params?: object; expect: object }> = [
    // threshold 200000; committed 900000: 1100000 >= MemTotal -> run; StatAvg(mem_free) 100000 < threshold -> boost.
    // sleep = max(10, 10 * 16777216 / 1000000 = 167.77216) -> 167.
    { name: 'starts KSM and boosts under pressure', host: {}, expect: { run: 1, sleep_millisecs: 167, pages_to_scan: 400 } },
    { name: 'decays pages_to_scan when free memory is above the threshold', host: { mem_free: 250000 }, expect: { run: 1, sleep_millisecs: 167, pages_to_scan: 64 } },
    { name: 'clamps pages_to_scan to 1250', host: { ksm_pages_to_scan: 1200 }, expect: { run: 1, sleep_millisecs: 167, pages_to_scan: 1250 } },
    // plenty free and little committed: run = action = 0, already 0 -> nothing written.
    { name: 'writes nothing when KSM is already stopped and not needed', host: { mem_free: 500000, ksm_shareable: 100000 }, expect: {} },
    { name: 'stops a running KSM that is not needed', host: { mem_free: 500000, ksm_shareable: 100000, ksm_run: 1 }, expect: { run: 0 } },
    { name: 'sets merge_across_nodes while nothing is shared', host: { ksm_pages_shared: 0, ksm_merge_across_nodes: 0, ksm_run: 1, ksm_pages_to_scan: 400, ksm_sleep_millisecs: 167 }, expect: { merge_across_nodes: 1, pages_to_scan: 700 } },
    { name: 'unmerges (run 2) when KSM gets disabled with shared pages', host: {}, params: { ksmEnabled: false }, expect: { run: 2 } },
    { name: 'stops (run 0) when disabled with nothing shared', host: { ksm_pages_shared: 0, ksm_run: 1 }, params: { ksmEnabled: false }, expect: { run: 0 } },
    { name: 'unmerges when merge_across_nodes must change', host: { ksm_merge_across_nodes: 0 }, expect: { run: 2 } },
    // 24 GiB host: 10 * 16777216 / 25165824 = 6.67 -> 10, equal to the live 10: not written.
    { name: 'floors sleep_millisecs at 10 and writes only changed values', host: { mem_available: 25165824, mem_free: 1000000, ksm_shareable: 25165824 }, expect: { run: 1, pages_to_scan: 400 } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const out = mom({ parameters: { ...c.params }, host: { ...HOST, ...KSM, ...c.host }, guests: {} });
      expect(out[0]!.ran).to.equal(true);
      expect(out[0]!.ksm).to.deep.equal(c.expect);
    });
  }

  it('does not run at all when a KSM field is missing (MOM fails the cycle)', () => {
    const out = mom({ parameters: { balloonEnabled: true }, host: { ...HOST, ...KSM, ksm_pages_shared: null }, guests: { vm: GUEST } });
    expect(out[0]).to.include({ ran: false });
    expect(out[0]!.balloon).to.deep.equal({});
    expect(out[0]!.reason).to.match(/ksm_pages_shared/);
  });
});

describe('mom: CPU tune (04-cputune.policy)', () => {
  const cases = [
    { cpus: 1, vcpus: 1, limit: 50, quota: 50000, period: 100000 },
    { cpus: 120, vcpus: 100, limit: 50, quota: 60000, period: 100000 },
    { cpus: 1, vcpus: 100, limit: 10, quota: 1100, period: 1100000 },
    { cpus: 120, vcpus: 100, limit: 100, quota: -1, period: 100000 },
  ];
  for (const c of cases) {
    it(`cpus ${c.cpus}, vcpus ${c.vcpus}, limit ${c.limit} -> quota ${c.quota}, period ${c.period} (vdsm's expectation)`, () => {
      expect(momCpuTune({ cpuTuneEnabled: true, vcpuUserLimit: c.limit, hostCpuCount: c.cpus, vcpuCount: c.vcpus })).to.deep.equal({ quota: c.quota, period: c.period });
    });
  }
  it('is unlimited when CPU tune is disabled', () => {
    expect(momCpuTune({ cpuTuneEnabled: false, vcpuUserLimit: 10, hostCpuCount: 1, vcpuCount: 1 })).to.deep.equal({ quota: -1, period: 100000 });
  });
});
