/**
 * Pod limits are ceilings: the ceiling from a pod cgroup (limit - overhead - margin), the one clamp after the
 * policy, the agent's guard keeping every target and its own give-back under the ceiling, and the shim end to
 * end with simulated sidecars and a pod cgroup in a cgroup v2 tree.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import type { GuestMemoryStats } from '../../src/agent/guest-stats.js';
import { defaultGuardConfig, floorOf, INITIAL_GUARD_STATE, requestTarget, safeTarget, tick, type GuardState, type Observation } from '../../src/agent/guard.js';
import type { GuestState, Policy, PolicyInput } from '../../src/policy/types.js';
import { boundDecisions, podCeiling } from '../../src/shim/pod-bounds.js';
import { staticPolicy } from '../../src/policy/static-policy.js';
import type { CycleResult } from '../../src/shim/loop.js';
import { Shim } from '../../src/shim/shim.js';
import { CgroupTree } from '../support/cgroup-tree.js';
import { GI, KubeletTree, MI, waitFor } from './kubelet-tree.js';
import { testShimOptions } from './support.js';

const T0 = 1_800_000_000_000;

function guest(over: Partial<GuestState> = {}): GuestState {
  return {
    id: 'ns/vm', namespace: 'ns', name: 'vm', uid: 'u', guestMemoryBytes: 4 * GI, guaranteedMemoryBytes: 1 * GI, marginBytes: 64 * MI, priority: 50, policy: 'default',
    phase: 'running', phaseSinceMs: 0, balloonActualBytes: 3 * GI, history: [], ...over,
  };
}

describe('pod ceilings: the rules', () => {
  it('takes the largest overhead seen, in whole 4 MiB steps under limit - overhead - margin', () => {
    expect(podCeiling(4 * GI, 3 * GI + 300 * MI, 3 * GI, undefined, 64 * MI)).to.deep.equal({ overheadBytes: 300 * MI, ceilingBytes: 4 * GI - 364 * MI });
    // The guest has not touched all its memory: working set - actual looks smaller; the old overhead stays.
    expect(podCeiling(4 * GI, 2 * GI, 3 * GI, 300 * MI, 64 * MI).overheadBytes).to.equal(300 * MI);
    expect(podCeiling(4 * GI, 3 * GI + 300 * MI + 1, 3 * GI, undefined, 0).ceilingBytes % (4 * MI)).to.equal(0);
    expect(podCeiling(GI, 2 * GI, 0, undefined, 0).ceilingBytes).to.equal(0);
  });

  it('clamps every decision into [floor, ceiling], the ceiling winning where they cross, and brings down a guest left above it', () => {
    const guests = [
      guest({ id: 'a', ceilingBytes: 2 * GI }),
      guest({ id: 'b', guaranteedMemoryBytes: 3 * GI, ceilingBytes: 2 * GI }),
      guest({ id: 'c', guaranteedMemoryBytes: 1 * GI }),
      guest({ id: 'd', ceilingBytes: 2 * GI, balloonActualBytes: 3 * GI, targetBytes: 3 * GI }),
      guest({ id: 'e', ceilingBytes: 3 * GI, balloonActualBytes: 3 * GI }),
    ];
    const r = boundDecisions(
      [
        { guestId: 'a', targetBytes: 4 * GI, reason: 'grow' },
        { guestId: 'b', targetBytes: 1 * GI, reason: 'host-pressure' },
        { guestId: 'c', targetBytes: 512 * MI, reason: 'host-critical' },
        { guestId: 'x', targetBytes: 1, reason: 'unknown-guest' },
      ],
      guests,
    );
    expect(r.balloons).to.deep.equal([
      { guestId: 'a', targetBytes: 2 * GI, reason: 'grow+pod-ceiling' },
      { guestId: 'b', targetBytes: 2 * GI, reason: 'host-pressure+floor' },
      { guestId: 'c', targetBytes: 1 * GI, reason: 'host-critical+floor' },
      { guestId: 'x', targetBytes: 1, reason: 'unknown-guest' },
      { guestId: 'd', targetBytes: 2 * GI, reason: 'pod-ceiling' },
    ]);
    expect(r.bounded.map((b) => `${b.guestId}:${b.bound}`)).to.deep.equal(['a:pod-ceiling', 'b:floor', 'c:floor', 'd:pod-ceiling']);
  });

  it('never lets a target out of [min(floor, ceiling), min(guest, ceiling)], whatever the policy asks', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.option(fc.double({ min: 0, max: 1.5, noNaN: true })), fc.integer({ min: 0, max: 2 ** 40 }), (gib, floorFraction, ceilingFraction, asked) => {
        const g = guest({ guestMemoryBytes: gib * GI, guaranteedMemoryBytes: Math.floor(gib * GI * floorFraction), ...(ceilingFraction === null ? {} : { ceilingBytes: Math.floor(gib * GI * ceilingFraction) }) });
        const [d] = boundDecisions([{ guestId: g.id, targetBytes: asked, reason: 'p' }], [g]).balloons;
        const upper = Math.min(g.guestMemoryBytes, g.ceilingBytes ?? Infinity);
        expect(d!.targetBytes).to.be.at.most(upper);
        expect(d!.targetBytes).to.be.at.least(Math.min(g.guaranteedMemoryBytes, upper));
      }),
      { numRuns: 300 },
    );
  });
});

function stats(availableBytes: number, atMs: number, over: Partial<GuestMemoryStats> = {}): GuestMemoryStats {
  return {
    totalBytes: 2 * GI, freeBytes: availableBytes, availableBytes, diskCachesBytes: 0, swapInBytes: 0, swapOutBytes: 0, majorFaults: 0, minorFaults: 0,
    swapInBytesPerSecond: 0, swapOutBytesPerSecond: 0, majorFaultsPerSecond: 0, minorFaultsPerSecond: 0, lastUpdateUnixSeconds: Math.floor(atMs / 1000), ...over,
  };
}
const obs = (nowMs: number, actual: number, available: number, over: Partial<GuestMemoryStats> = {}): Observation => ({ nowMs, phase: 'running', actualBytes: actual, stats: stats(available, nowMs - 500, over), stale: false });

describe('pod ceilings: the agent', () => {
  const config = defaultGuardConfig({ guestMemoryBytes: 2 * GI, guaranteedBytes: 512 * MI, marginBytes: 64 * MI, periodSeconds: 1 });

  it('lowers a target above the pod ceiling to it and says so', () => {
    const d = requestTarget(config, INITIAL_GUARD_STATE, obs(T0, 1 * GI, 512 * MI), 2 * GI, { ceilingBytes: 1536 * MI });
    expect(d.clamp).to.equal('pod-ceiling');
    expect(d.goalBytes).to.equal(1536 * MI);
    expect(d.send).to.equal(1536 * MI);
    expect(d.detail).to.match(/pod ceiling/);
    // The next SetTarget without a ceiling lifts it.
    const next = requestTarget(config, d.state, obs(T0 + 1000, 1536 * MI, 1 * GI), 2 * GI, {});
    expect(next.clamp).to.equal('none');
    expect(next.send).to.equal(2 * GI);
  });

  it('gives memory back under guest pressure only up to the ceiling', () => {
    const start: GuardState = { ...INITIAL_GUARD_STATE, appliedBytes: 1 * GI, goalBytes: 1 * GI, reachedAtMs: T0 - 5000, lastShimContactMs: T0, ceilingBytes: 1100 * MI };
    const d = tick(config, start, obs(T0, 1 * GI, 20 * MI));
    expect(d.send).to.equal(1100 * MI);
    expect(d.state.selfProtectionReason).to.match(/up to the pod ceiling/);
    const atCeiling = tick(config, { ...start, appliedBytes: 1100 * MI, ceilingBytes: 1100 * MI }, obs(T0, 1100 * MI, 20 * MI));
    expect(atCeiling.send).to.equal(undefined);
    expect(atCeiling.state.selfProtectionReason).to.match(/nothing given back, the guest is at the pod ceiling/);
  });

  it("takes the node's floor only for a VM without a guarantee of its own, and never lets it past the ceiling", () => {
    const noGuarantee = { ...defaultGuardConfig({ guestMemoryBytes: 2 * GI, guaranteedBytes: 2 * GI, marginBytes: 64 * MI, periodSeconds: 1 }), acceptsNodeFloor: true };
    const own = defaultGuardConfig({ guestMemoryBytes: 2 * GI, guaranteedBytes: 2 * GI, marginBytes: 64 * MI, periodSeconds: 1 });
    const o = obs(T0, 2 * GI, 1800 * MI);
    expect(requestTarget(own, INITIAL_GUARD_STATE, o, 1 * GI, { floorBytes: 1 * GI }).clamp).to.equal('guaranteed');
    const taken = requestTarget(noGuarantee, INITIAL_GUARD_STATE, o, 1 * GI, { floorBytes: 1 * GI });
    expect(taken.goalBytes).to.equal(1 * GI);
    expect(taken.send).to.be.lessThan(2 * GI);
    expect(floorOf(noGuarantee, o, { ...INITIAL_GUARD_STATE, nodeFloorBytes: 1536 * MI, ceilingBytes: 1 * GI }).bytes).to.equal(1 * GI);
    expect(safeTarget(noGuarantee, 100, { ...INITIAL_GUARD_STATE, nodeFloorBytes: 1536 * MI, ceilingBytes: 1 * GI })).to.equal(1 * GI);
  });

  it('never sends QEMU more than the ceiling in force, whatever happens', () => {
    const stepArb = fc.record({
      kind: fc.constantFrom('request', 'tick'),
      dtMs: fc.integer({ min: 0, max: 60_000 }),
      requested: fc.integer({ min: 0, max: 4 * GI }),
      ceiling: fc.option(fc.integer({ min: 0, max: 3 * GI })),
      floor: fc.option(fc.integer({ min: 0, max: 3 * GI })),
      actualFraction: fc.double({ min: 0, max: 1, noNaN: true }),
      availableFraction: fc.double({ min: 0, max: 1, noNaN: true }),
      swapIn: fc.constantFrom(0, 10 * MI),
    });
    fc.assert(
      fc.property(fc.boolean(), fc.array(stepArb, { minLength: 1, maxLength: 30 }), (acceptsNodeFloor, steps) => {
        const cfg = { ...config, acceptsNodeFloor };
        let state: GuardState = INITIAL_GUARD_STATE;
        let now = T0;
        for (const step of steps) {
          now += step.dtMs;
          const actual = Math.floor(cfg.guestMemoryBytes * step.actualFraction);
          const o = obs(now, actual, Math.floor(actual * step.availableFraction), { swapInBytesPerSecond: step.swapIn });
          const bounds = { ...(step.ceiling !== null ? { ceilingBytes: step.ceiling } : {}), ...(step.floor !== null ? { floorBytes: step.floor } : {}) };
          const d = step.kind === 'request' ? requestTarget(cfg, state, o, step.requested, bounds) : tick(cfg, state, o);
          const ceiling = d.state.ceilingBytes;
          if (d.send !== undefined && ceiling !== undefined) expect(d.send).to.be.at.most(ceiling);
          if (d.send !== undefined) expect(d.send).to.be.at.most(cfg.guestMemoryBytes);
          state = d.state;
        }
      }),
      { numRuns: 400 },
    );
  });
});

/** Asks every guest for all its memory: the ceiling must stop it. */
const growAll: Policy<null> = {
  name: 'test-grow-all',
  initialState: () => null,
  evaluate: (input: PolicyInput) => ({ decisions: { balloons: input.guests.map((g) => ({ guestId: g.id, targetBytes: g.guestMemoryBytes, reason: 'test-grow' })), ksm: {} }, state: null }),
};

describe('pod ceilings: the shim end to end (simulated sidecars, a cgroup v2 tree)', () => {
  let tree: KubeletTree;
  let cgroups: CgroupTree;
  let shim: Shim<unknown> | undefined;
  beforeEach(() => {
    tree = new KubeletTree();
    cgroups = CgroupTree.create('v2');
    cgroups.set('', { usageBytes: 8 * GI, inactiveFileBytes: GI });
    cgroups.set('kubepods.slice', { usageBytes: 6 * GI, inactiveFileBytes: 0, limitBytes: 30 * GI });
  });
  afterEach(async () => {
    await shim?.stop();
    shim = undefined;
    await tree.close();
    cgroups.remove();
  });

  it("reads the pod's limit and overhead, sends no target above the ceiling, and reports the autodeflate risk", async () => {
    const podUid = randomUUID();
    const pod = `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${podUid.replace(/-/g, '_')}.slice`;
    // Guest 2 GiB at full size, 300 MiB of QEMU and virt-launcher around it, a limit of guest + 256 MiB.
    cgroups.set(pod, { usageBytes: 2 * GI + 300 * MI, inactiveFileBytes: 0, limitBytes: 2 * GI + 256 * MI });
    const agent = await tree.addVm('capped', { guestMemoryBytes: 2 * GI, guaranteedMemoryBytes: 512 * MI }, podUid);
    const other = await tree.addVm('free', { guestMemoryBytes: 2 * GI, guaranteedMemoryBytes: 512 * MI });
    shim = new Shim(testShimOptions(tree.root, { cgroupRoot: cgroups.root, periodMs: 60_000 }), growAll);
    await shim.start();
    const s = shim;
    expect(await waitFor(() => s.registry.all().filter((x) => x.state === 'live' && x.latest !== undefined).length === 2)).to.equal(true);
    const result = (await s.loop.runOnce()) as CycleResult;
    await result.settled;
    const ceiling = 2 * GI + 256 * MI - 300 * MI - 64 * MI;
    const capped = result.input.guests.find((g) => g.name === 'capped')!;
    expect(capped.ceilingBytes).to.equal(ceiling);
    expect(result.input.guests.find((g) => g.name === 'free')!.ceilingBytes).to.equal(undefined);
    const record = result.records.find((r) => r.guestId === 'default/capped')!;
    expect(record).to.include({ targetBytes: ceiling, bound: 'pod-ceiling', reason: 'test-grow+pod-ceiling' });
    expect(agent.received.at(-1)!.targetBytes).to.equal(ceiling);
    expect(other.received.at(-1)?.targetBytes ?? 2 * GI).to.equal(2 * GI);
    expect(s.registry.all().find((x) => x.describe?.vm?.name === 'capped')!.bounds).to.deep.equal({ ceilingBytes: ceiling });
    const metrics = await s.metrics.scrape();
    expect(metrics).to.contain(`kubemom_vm_pod_ceiling_bytes{namespace="default",name="capped"} ${ceiling}`);
    expect(metrics).to.contain(`kubemom_vm_pod_memory_limit_bytes{namespace="default",name="capped"} ${2 * GI + 256 * MI}`);
    expect(metrics).to.contain(`kubemom_vm_pod_overhead_bytes{namespace="default",name="capped"} ${300 * MI}`);
    expect(metrics).to.contain('kubemom_vm_autodeflate_past_ceiling{namespace="default",name="capped"} 1');
    expect(metrics).to.contain('kubemom_vm_bounded_decisions_total{namespace="default",name="capped",bound="pod-ceiling"} 1');
    // The guest held 2 GiB, above its ceiling, when the shim first looked.
    expect(metrics).to.match(/kubemom_vm_pod_ceiling_crossings_total\{namespace="default",name="capped",cause="[a-z]+"\} 1/);
  });

  it('sends nothing of its own under a passive policy (observe), even to a guest above its ceiling', async () => {
    const podUid = randomUUID();
    cgroups.set(`kubepods.slice/kubepods-pod${podUid.replace(/-/g, '_')}.slice`, { usageBytes: 2 * GI + 300 * MI, inactiveFileBytes: 0, limitBytes: 2 * GI });
    const agent = await tree.addVm('watched', { guestMemoryBytes: 2 * GI, guaranteedMemoryBytes: 512 * MI }, podUid);
    shim = new Shim(testShimOptions(tree.root, { cgroupRoot: cgroups.root, periodMs: 60_000 }), staticPolicy('observe') as Policy<unknown>);
    await shim.start();
    const s = shim;
    expect(await waitFor(() => s.registry.all().some((x) => x.state === 'live' && x.latest !== undefined))).to.equal(true);
    const result = (await s.loop.runOnce()) as CycleResult;
    await result.settled;
    expect(result.input.guests[0]!.ceilingBytes).to.be.lessThan(2 * GI);
    expect(result.records).to.deep.equal([]);
    expect(agent.received).to.deep.equal([]);
  });

  it('counts a pod cgroup it cannot read and goes on without a ceiling, never crashing', async () => {
    const podUid = randomUUID();
    const pod = `kubepods.slice/kubepods-pod${podUid.replace(/-/g, '_')}.slice`;
    cgroups.set(pod, { usageBytes: GI, inactiveFileBytes: 0, limitBytes: 3 * GI });
    cgroups.write(pod, 'memory.max', 'plenty\n');
    await tree.addVm('garbled', { guestMemoryBytes: 2 * GI, guaranteedMemoryBytes: 512 * MI }, podUid);
    shim = new Shim(testShimOptions(tree.root, { cgroupRoot: cgroups.root, periodMs: 60_000 }), growAll);
    await shim.start();
    const s = shim;
    expect(await waitFor(() => s.registry.all().some((x) => x.state === 'live' && x.latest !== undefined))).to.equal(true);
    const result = (await s.loop.runOnce()) as CycleResult;
    expect(result.input.guests[0]!.ceilingBytes).to.equal(undefined);
    expect(await s.metrics.scrape()).to.contain('kubemom_shim_pod_cgroup_read_errors_total{reason="unparsable"}');
  });
});
