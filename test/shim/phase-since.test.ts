/**
 * The start grace after a shim restart: the shim dates each VM's phase from the agent's
 * report (kubemom.v1 phase_since_unix_ms), not from when it discovered the sidecar.
 * Real gRPC SimulatedAgents, the real default policy; the host's memory is modelled.
 */
import { expect } from 'chai';
import { defaultPolicy } from '../../src/balloon/default-policy.js';
import type { Policy } from '../../src/policy/types.js';
import { phaseSinceMs } from '../../src/shim/wire-to-policy.js';
import { Shim, type ShimOptions } from '../../src/shim/shim.js';
import { GI, KubeletTree, waitFor } from './kubelet-tree.js';
import { ModelledHost } from './modelled-host.js';

describe('shim: when a VM entered its phase', () => {
  const NOW = 1_800_000_000_000;
  const base = { phase: 'running' as const, previousPhase: 'running' as const, previousSinceMs: NOW - 5_000, nowMs: NOW };

  it("takes the agent's time when it saw the change, over the shim's own observation", () => {
    expect(phaseSinceMs({ ...base, agentSinceMs: NOW - 600_000, agentBeganEarlier: false })).to.equal(NOW - 600_000);
    expect(phaseSinceMs({ ...base, previousPhase: undefined, agentSinceMs: NOW - 600_000, agentBeganEarlier: false })).to.equal(NOW - 600_000);
  });

  it("keeps the older of the agent's first look and its own when the phase began before the agent looked", () => {
    expect(phaseSinceMs({ ...base, agentSinceMs: NOW - 1_000, agentBeganEarlier: true })).to.equal(NOW - 5_000);
    expect(phaseSinceMs({ ...base, agentSinceMs: NOW - 600_000, agentBeganEarlier: true })).to.equal(NOW - 600_000);
    // A new phase for the shim: its own observation is now.
    expect(phaseSinceMs({ ...base, previousPhase: 'gone', agentSinceMs: NOW - 1_000, agentBeganEarlier: true })).to.equal(NOW - 1_000);
  });

  it("falls back to its own observation for an older sidecar (0), and never dates a phase in the future", () => {
    expect(phaseSinceMs({ ...base, agentSinceMs: 0, agentBeganEarlier: false })).to.equal(NOW - 5_000);
    expect(phaseSinceMs({ ...base, agentSinceMs: undefined, agentBeganEarlier: undefined })).to.equal(NOW - 5_000);
    expect(phaseSinceMs({ ...base, previousPhase: 'starting', agentSinceMs: 0, agentBeganEarlier: false })).to.equal(NOW);
    expect(phaseSinceMs({ ...base, agentSinceMs: NOW + 60_000, agentBeganEarlier: false })).to.equal(NOW);
  });
});

describe('shim restart and the start grace (simulated sidecars, default policy)', function () {
  let kubelet: KubeletTree;
  let host: ModelledHost;
  const shims: Shim<unknown>[] = [];

  beforeEach(() => {
    kubelet = new KubeletTree();
    // 32 GiB node: reserve 1.6 GiB, reclaim starts under 2.56 GiB, critical under 1.6 GiB.
    host = new ModelledHost(32 * GI, 8 * GI);
  });
  afterEach(async () => {
    for (const s of shims.splice(0)) await s.stop();
    await kubelet.close();
    host.close();
  });

  async function startShim(): Promise<Shim<unknown>> {
    const options: ShimOptions = {
      kubeletRoot: kubelet.root,
      ...host.options(),
      periodMs: 300,
      rescanMs: 300,
      session: { describeDeadlineMs: 300, setTargetDeadlineMs: 300, initialBackoffMs: 300, maxBackoffMs: 1000 },
      listen: { host: '127.0.0.1', port: 0 },
    };
    const s = new Shim(options, defaultPolicy() as Policy<unknown>);
    shims.push(s);
    await s.start();
    return s;
  }

  it('reclaims at once from VMs running longer than the grace, while a VM that just started (or an older sidecar) keeps it', async () => {
    // Mostly page cache: outside critical pressure the default policy reclaims cache, not the free memory a guest keeps for bursts.
    const vm = { guestMemoryBytes: 4 * GI, guaranteedMemoryBytes: GI, usedBytes: GI, cacheBytes: 2.5 * GI };
    const tenMinutesAgo = Date.now() - 600_000;
    const old = await Promise.all([0, 1].map((i) => kubelet.addVm(`old-${i}`, { ...vm, phaseSinceMs: tenMinutesAgo })));
    // A sidecar that restarted ten minutes ago and found its guest already running.
    const found = await kubelet.addVm('found-running', { ...vm, phaseSinceMs: tenMinutesAgo, phaseBeganEarlier: true });
    const fresh = await kubelet.addVm('fresh', vm);
    // A sidecar from before phase_since_unix_ms: the shim has only its own observation.
    const legacy = await kubelet.addVm('legacy', { ...vm, phaseSinceMs: 0 });
    const donors = [...old, found];

    // The first shim runs while the node has plenty; then it restarts as the node gets short (not critical).
    const first = await startShim();
    expect(await waitFor(() => first.registry.all().filter((x) => x.state === 'live').length === 5), 'first shim: every sidecar live').to.equal(true);
    await shims.splice(0)[0]!.stop();
    host.setAvailable(2.2 * GI);
    const restartedAt = Date.now();
    const second = await startShim();

    expect(await waitFor(() => donors.every((a) => a.target > 0 && a.target < 4 * GI)), `targets ${donors.map((a) => a.target / GI).join()} GiB`).to.equal(true);
    // Reclaimed at once, not after the 60 s grace the shim would have imposed had it dated every VM from its own
    // start: the inputs below carry each VM's own phase time (no stopwatch needed to tell the two apart).
    // A few more cycles: the VMs in their grace are still not asked for memory.
    const cycles = second.loop.cycles;
    expect(await waitFor(() => second.loop.cycles >= cycles + 5)).to.equal(true);
    for (const a of [fresh, legacy]) {
      for (const r of a.received) expect(r.targetBytes, `${a.options.name} in its start grace`).to.be.at.least(4 * GI);
    }
    const guests = new Map(second.lastCycle!.input.guests.map((g) => [g.name, g]));
    expect(guests.get('old-0')!.phaseSinceMs).to.equal(tenMinutesAgo);
    expect(guests.get('found-running')!.phaseSinceMs).to.equal(tenMinutesAgo);
    expect(guests.get('fresh')!.phaseSinceMs).to.equal(fresh.options.phaseSinceMs);
    expect(guests.get('legacy')!.phaseSinceMs, "an older sidecar's phase is dated from the new shim's own observation").to.be.at.least(restartedAt);
  });
});
