/**
 * The shim end to end: a kubelet-style tree with real SimulatedAgent gRPC servers, the loop, metrics and HTTP
 * endpoints. With this machine's KSM sysfs and a real node-exporter: real-loop.test.ts.
 */
import { expect } from 'chai';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { Shim, type ShimOptions } from '../../src/shim/shim.js';
import type { CycleResult } from '../../src/shim/loop.js';
import { SimulatedAgent, type SimulatedAgentOptions } from '../../testbed/simulated-agent.js';
import { GI, KubeletTree, MI, waitFor } from './kubelet-tree.js';
import { AgentHostProcess, metricValue, shimGet as get, TestSqueezePolicy, testShimOptions, testThrowingPolicy } from './support.js';
import type { Policy } from '../../src/policy/types.js';

function options(root: string, overrides: Partial<ShimOptions> = {}): ShimOptions {
  return testShimOptions(root, { rescanMs: 500, ...overrides });
}

describe('shim loop with simulated sidecars', function () {
  let tree: KubeletTree;
  let shim: Shim<unknown> | undefined;
  const cleanups: Array<() => Promise<void>> = [];

  beforeEach(() => {
    tree = new KubeletTree();
  });
  afterEach(async () => {
    await shim?.stop();
    shim = undefined;
    for (const c of cleanups.splice(0)) await c();
    await tree.close();
  });

  async function startShim(policy: Policy<unknown>, overrides: Partial<ShimOptions> = {}): Promise<Shim<unknown>> {
    shim = new Shim(options(tree.root, overrides), policy);
    await shim.start();
    return shim;
  }

  it('sends every live VM its target concurrently; a hanging sidecar neither delays the others nor the loop', async () => {
    for (let i = 0; i < 12; i++) await tree.addVm(`vm-${i}`);
    const hanging = await tree.addVm('hangs');
    const policy = new TestSqueezePolicy(Number.MAX_SAFE_INTEGER); // always "pressure": squeeze to guaranteed
    const s = await startShim(policy as Policy<unknown>, {
      periodMs: 60_000,
      // A deadline far longer than twelve in-process answers take even on a loaded machine, so the order of events
      // below (every healthy target sent, then the hanging one's deadline) holds without a stopwatch.
      session: { describeDeadlineMs: 1000, setTargetDeadlineMs: 5000, initialBackoffMs: 300, maxBackoffMs: 1000 },
    });
    expect(await waitFor(() => s.registry.all().filter((x) => x.state === 'live').length === 13)).to.equal(true);
    hanging.faults.hangSetTarget = true;
    const result = (await s.loop.runOnce()) as CycleResult;
    expect(result.input.guests).to.have.length(13);
    expect(result.records.map((r) => r.reason)).to.satisfy((r: string[]) => r.every((x) => x === 'test-host-pressure'));
    // Every healthy agent got its target while the hanging one's call was still pending (its deadline not yet hit).
    expect(await waitFor(() => tree.agents.filter((a) => a !== hanging).every((a) => a.received.length === 1))).to.equal(true);
    expect(result.records.find((r) => r.guestId === 'default/hangs')!.outcome).to.equal(undefined);
    await result.settled;
    const stuck = result.records.find((r) => r.guestId === 'default/hangs')!;
    expect(stuck.outcome).to.equal('deadline');
    const ok = result.records.find((r) => r.guestId === 'default/vm-3')!;
    expect(ok.outcome).to.equal('applied');
    // The agent raised 512 MiB to what its guest uses plus its margin (512 + 64 MiB).
    expect(ok.appliedBytes).to.equal(576 * MI);
    expect(ok.clamp).to.equal('CLAMP_GUEST_NEED');
    // The next cycle skips the stale sidecar and does not resend unchanged targets.
    const next = (await s.loop.runOnce()) as CycleResult;
    expect(next.input.guests.map((g) => g.id)).to.not.include('default/hangs');
    expect(next.records.every((r) => r.outcome === 'unchanged')).to.equal(true);
    // Decisions are recorded with their reasons, and served on /decisions.
    const decisions = JSON.parse((await get(s.httpPort!, '/decisions')).text) as Array<{ guestId: string; reason: string }>;
    expect(decisions.some((d) => d.guestId === 'default/vm-0' && d.reason === 'test-host-pressure')).to.equal(true);
    const metrics = (await get(s.httpPort!, '/metrics')).text;
    expect(metricValue(metrics, 'kubemom_vm_decisions_total{namespace="default",name="vm-0",reason="test-host-pressure"}')).to.equal(2);
    expect(metricValue(metrics, 'kubemom_vm_set_target_total{namespace="default",name="hangs",outcome="deadline"}')).to.equal(1);
    expect(metricValue(metrics, 'kubemom_shim_sidecar_deadline_misses_total{call="SetTarget"}')).to.equal(1);
  });

  it('resends an unchanged target once the heartbeat is due, so the agent knows the shim is alive', async () => {
    const agent = await tree.addVm('beat');
    const s = await startShim(new TestSqueezePolicy(Number.MAX_SAFE_INTEGER) as Policy<unknown>, { periodMs: 60_000, heartbeatMs: 400 });
    expect(await waitFor(() => s.registry.all().some((x) => x.state === 'live'))).to.equal(true);
    await ((await s.loop.runOnce()) as CycleResult).settled;
    expect(await waitFor(() => s.registry.all()[0]!.latest?.balloonTargetBytes === agent.target)).to.equal(true);
    const quick = (await s.loop.runOnce()) as CycleResult;
    expect(quick.records.map((r) => r.outcome)).to.deep.equal(['unchanged']);
    await new Promise((r) => setTimeout(r, 450));
    const due = (await s.loop.runOnce()) as CycleResult;
    await due.settled;
    expect(due.records.map((r) => r.outcome)).to.deep.equal(['applied']);
    expect(agent.received).to.have.length(2);
  });

  it('exports per-VM and node metrics, health and readiness, and drops a VM when its sidecar goes', async () => {
    const a = await tree.addVm('web', { guestMemoryBytes: 4 * GI, guaranteedMemoryBytes: GI, usedBytes: GI, balloonRateBytesPerSecond: 16 * GI });
    await tree.addVm('db', { guestMemoryBytes: 2 * GI, guaranteedMemoryBytes: 1 * GI });
    const s = await startShim(new TestSqueezePolicy(Number.MAX_SAFE_INTEGER) as Policy<unknown>);
    const port = s.httpPort!;
    expect(await waitFor(() => a.actual < 4 * GI && s.loop.cycles > 3)).to.equal(true);
    expect(await waitFor(() => a.actual === GI + 64 * MI)).to.equal(true);
    await new Promise((r) => setTimeout(r, 400));
    const text = (await get(port, '/metrics')).text;
    const vm = '{namespace="default",name="web"}';
    expect(metricValue(text, `kubemom_vm_guest_memory_bytes${vm}`)).to.equal(4 * GI);
    expect(metricValue(text, `kubemom_vm_guaranteed_memory_bytes${vm}`)).to.equal(GI);
    // The agent clamps to its use plus margin (1 GiB + 64 MiB): the target metric shows what it applied.
    expect(metricValue(text, `kubemom_vm_balloon_target_bytes${vm}`)).to.equal(GI + 64 * MI);
    expect(metricValue(text, `kubemom_vm_balloon_actual_bytes${vm}`)).to.equal(GI + 64 * MI);
    expect(metricValue(text, `kubemom_vm_reclaimed_bytes${vm}`)).to.equal(3 * GI - 64 * MI);
    expect(metricValue(text, `kubemom_vm_guest_available_bytes${vm}`)).to.equal(64 * MI);
    expect(metricValue(text, `kubemom_vm_clamps_total{namespace="default",name="web",clamp="CLAMP_GUEST_NEED"}`)).to.be.at.least(1);
    expect(metricValue(text, `kubemom_vm_session_state{namespace="default",name="web",state="live"}`)).to.equal(1);
    expect(metricValue(text, 'kubemom_shim_sidecars{state="live"}')).to.equal(2);
    expect(metricValue(text, 'kubemom_host_memory_total_bytes')).to.be.greaterThan(GI);
    expect(metricValue(text, 'kubemom_host_memory_source{source="proc"}')).to.equal(1);
    expect(metricValue(text, 'kubemom_node_overcommit_ratio')).to.be.closeTo((6 * GI) / metricValue(text, 'kubemom_host_memory_total_bytes')!, 1e-9);
    expect(metricValue(text, 'kubemom_host_eviction_hard_threshold_bytes')).to.equal(0);
    // Committed memory: at least the two VMs' floors (their guaranteed memory); headroom is what MemTotal leaves.
    const committed = metricValue(text, 'kubemom_node_committed_memory_bytes')!;
    expect(committed).to.be.at.least(2 * GI);
    expect(metricValue(text, 'kubemom_node_committed_headroom_bytes')).to.equal(metricValue(text, 'kubemom_host_memory_total_bytes')! - committed);
    expect(text).to.match(/^kubemom_shim_loop_duration_seconds_count\{trigger="period"\} [1-9]/m);
    expect((await get(port, '/healthz')).status).to.equal(200);
    expect((await get(port, '/readyz')).status).to.equal(200);
    expect((await get(port, '/nope')).status).to.equal(404);
    await a.stop();
    expect(await waitFor(() => s.registry.all().length === 1)).to.equal(true);
    const after = (await get(port, '/metrics')).text;
    expect(after).to.not.include('name="web"');
    expect(after).to.include('name="db"');
  });

  it('keeps going when a sidecar process dies (socket left behind), and takes it back when it restarts', async () => {
    const podUid = randomUUID();
    const config: SimulatedAgentOptions = {
      socketPath: tree.socketPath(podUid),
      namespace: 'prod',
      name: 'dies',
      uid: randomUUID(),
      podUid,
      guestMemoryBytes: 2 * GI,
      guaranteedMemoryBytes: 512 * MI,
      statsPeriodMs: 200,
    };
    const host = new AgentHostProcess();
    await host.start([config]);
    cleanups.push(() => host.stop());
    const survivor = await tree.addVm('survivor');
    const s = await startShim(new TestSqueezePolicy(Number.MAX_SAFE_INTEGER) as Policy<unknown>);
    expect(await waitFor(() => s.registry.all().filter((x) => x.state === 'live').length === 2)).to.equal(true);
    await host.kill();
    expect(existsSync(config.socketPath), 'a killed sidecar leaves its socket').to.equal(true);
    const dead = s.registry.all().find((x) => x.found.podUid === podUid)!;
    expect(await waitFor(() => dead.state === 'stale')).to.equal(true);
    const cyclesBefore = s.loop.cycles;
    const receivedBefore = survivor.received.length;
    survivor.setUsedBytes(256 * MI);
    expect(await waitFor(() => s.loop.cycles >= cyclesBefore + 3)).to.equal(true);
    expect(s.lastCycle!.input.guests.map((g) => g.id)).to.deep.equal(['default/survivor']);
    // The survivor's new need reaches the policy through its stats stream: wait for the target it causes.
    expect(await waitFor(() => survivor.received.length > receivedBefore), 'a target sent to the survivor').to.equal(true);
    // The sidecar restarts: it binds over the stale socket (new inode) and is taken back.
    const again = new SimulatedAgent(config);
    await again.start();
    tree.agents.push(again);
    expect(await waitFor(() => s.registry.all().some((x) => x.found.podUid === podUid && x.state === 'live'))).to.equal(true);
    expect(await waitFor(() => again.received.length > 0)).to.equal(true);
  });

  it('refuses a sidecar that lies about its pod and never sends it a target', async () => {
    await tree.addVm('honest');
    const liar = await tree.addVm('liar', { podUid: randomUUID() });
    const s = await startShim(new TestSqueezePolicy(Number.MAX_SAFE_INTEGER) as Policy<unknown>);
    expect(await waitFor(() => s.loop.cycles > 3 && s.registry.all().some((x) => x.state === 'refused'))).to.equal(true);
    expect(liar.received).to.have.length(0);
    expect(s.lastCycle!.input.guests.map((g) => g.id)).to.deep.equal(['default/honest']);
    const text = (await get(s.httpPort!, '/metrics')).text;
    expect(metricValue(text, 'kubemom_shim_sidecar_identity_mismatches_total')).to.equal(1);
    expect(metricValue(text, 'kubemom_shim_sidecars{state="refused"}')).to.equal(1);
  });

  it('a policy that throws makes no decision, is counted, and the loop keeps running', async () => {
    const agent = await tree.addVm('vm');
    const s = await startShim(testThrowingPolicy as Policy<unknown>);
    expect(await waitFor(() => s.loop.cycles > 3)).to.equal(true);
    expect(agent.received).to.have.length(0);
    const text = (await get(s.httpPort!, '/metrics')).text;
    expect(metricValue(text, 'kubemom_shim_policy_errors_total')).to.be.at.least(3);
    expect((await get(s.httpPort!, '/healthz')).status).to.equal(200);
  });
});
