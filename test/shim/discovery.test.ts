import { expect } from 'chai';
import { mkdirSync, readlinkSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { logger } from '../../src/common/log.js';
import { UNIX_SOCKET_PATH_MAX } from '../../src/common/units.js';
import { scanSockets, SidecarDiscovery } from '../../src/shim/discovery.js';
import { SidecarRegistry } from '../../src/shim/registry.js';
import { DEFAULT_SESSION_OPTIONS, type SessionState } from '../../src/shim/session.js';
import { SimulatedAgent } from '../../testbed/simulated-agent.js';
import { KubeletTree, waitFor } from './kubelet-tree.js';

const fast = { ...DEFAULT_SESSION_OPTIONS, describeDeadlineMs: 300, setTargetDeadlineMs: 300, initialBackoffMs: 200, maxBackoffMs: 1000, statsSilenceMs: 1000 };

function states(registry: SidecarRegistry): Record<string, SessionState> {
  return Object.fromEntries(registry.all().map((s) => [s.found.podUid, s.state]));
}

describe('shim discovery and sidecar sessions', function () {
  let tree: KubeletTree;
  let registry: SidecarRegistry | undefined;

  beforeEach(() => {
    tree = new KubeletTree();
  });
  afterEach(async () => {
    registry?.stop();
    registry = undefined;
    await tree.close();
  });

  it('finds only kubemom sockets in hook-sidecar-<i> directories of the kubelet tree', async () => {
    const agent = await tree.addVm('vm-a');
    // Decoys: a plain file named kubemom.sock, a socket-named file in the wrong directory, a non-UID pod dir.
    const decoyPod = randomUUID();
    const decoyDir = path.dirname(tree.socketPath(decoyPod, 1));
    mkdirSync(decoyDir, { recursive: true });
    writeFileSync(path.join(decoyDir, 'kubemom.sock'), 'not a socket');
    mkdirSync(path.join(tree.root, 'pods', 'not_a_uid!'), { recursive: true });
    const found = scanSockets(tree.root);
    expect(found.map((f) => f.socketPath)).to.deep.equal([agent.options.socketPath]);
    expect(found[0]!.podUid).to.equal(agent.options.podUid);
    expect(found[0]!.container).to.equal('hook-sidecar-0');
  });

  it('connects to 30 sidecars whose socket paths exceed the unix limit, through its own short symlinks', async () => {
    for (let i = 0; i < 30; i++) await tree.addVm(`vm-${i}`);
    expect(Buffer.byteLength(tree.agents[0]!.options.socketPath)).to.be.greaterThan(UNIX_SOCKET_PATH_MAX);
    registry = new SidecarRegistry({ kubeletRoot: tree.root, session: fast, rescanMs: 500 }, logger('test'));
    registry.start();
    const ok = await waitFor(() => registry!.all().length === 30 && registry!.all().every((s) => s.state === 'live'));
    expect(ok, JSON.stringify(states(registry))).to.equal(true);
    const links = readdirSync(registry.symlinkDirectory);
    expect(links).to.have.length(30);
    const targets = links.map((l) => readlinkSync(path.join(registry!.symlinkDirectory, l))).sort();
    expect(targets).to.deep.equal(tree.agents.map((a) => path.dirname(a.options.socketPath)).sort());
    for (const s of registry.all()) expect(Buffer.byteLength(s.address.replace('unix://', ''))).to.be.at.most(UNIX_SOCKET_PATH_MAX);
    // Each session's guest state comes from its own agent's Describe and stats.
    const session = registry.all().find((s) => s.id === 'default/vm-7')!;
    const guest = session.guestState()!;
    expect(guest.guestMemoryBytes).to.equal(tree.agents[7]!.options.guestMemoryBytes);
    expect(guest.history.length).to.be.greaterThan(0);
  });

  it('sees sidecars appear (by watch, before the rescan), vanish and restart', async () => {
    registry = new SidecarRegistry({ kubeletRoot: tree.root, session: fast, rescanMs: 60_000 }, logger('test'));
    mkdirSync(path.join(tree.root, 'pods'), { recursive: true });
    const podUid = randomUUID();
    // The pod's socket directory exists before the shim starts (as the kubelet creates it); the socket comes later.
    mkdirSync(path.dirname(tree.socketPath(podUid)), { recursive: true });
    registry.start();
    const agent = await tree.addVm('vm-late', {}, podUid);
    expect(await waitFor(() => registry!.all()[0]?.state === 'live'), 'appeared by watch').to.equal(true);
    const firstSession = registry.all()[0]!;
    await agent.stop();
    expect(await waitFor(() => registry!.all().length === 0), 'vanished').to.equal(true);
    expect(firstSession.state).to.equal('closed');
    const again = new SimulatedAgent(agent.options);
    await again.start();
    tree.agents.push(again);
    expect(await waitFor(() => registry!.all()[0]?.state === 'live'), 'restarted').to.equal(true);
    expect(registry.all()[0]).to.not.equal(firstSession);
  });

  it('waits for a sidecar that does not know its VM yet (before OnDefineDomain), then takes it', async () => {
    const agent = await tree.addVm('early');
    agent.faults.noVmYet = true;
    registry = new SidecarRegistry({ kubeletRoot: tree.root, session: fast }, logger('test'));
    registry.start();
    expect(await waitFor(() => registry!.all()[0]?.state === 'waiting')).to.equal(true);
    expect(registry.all()[0]!.guestState()).to.equal(undefined);
    agent.faults.noVmYet = false;
    expect(await waitFor(() => registry!.all()[0]?.state === 'live')).to.equal(true);
    expect(registry.all()[0]!.id).to.equal('default/early');
  });

  it('watches each pod socket directory, and drops the watches of pods that are gone', async () => {
    for (let i = 0; i < 3; i++) await tree.addVm(`w-${i}`);
    const found: string[] = [];
    const gone: string[] = [];
    const discovery = new SidecarDiscovery({ kubeletRoot: tree.root, rescanMs: 60_000 }, { onAppear: (s) => found.push(s.podUid), onVanish: (p) => gone.push(p) });
    discovery.start();
    try {
      expect(found).to.have.length(3);
      // pods/, then per pod hook-sidecar-sockets/ and hook-sidecar-0/.
      expect(discovery.watchCount).to.equal(1 + 3 * 2);
      const victim = tree.agents[0]!;
      await victim.stop();
      rmSync(path.join(tree.root, 'pods', victim.options.podUid), { recursive: true, force: true });
      discovery.fullScan();
      expect(gone).to.deep.equal([victim.options.socketPath]);
      expect(discovery.watchCount).to.equal(1 + 2 * 2);
    } finally {
      discovery.stop();
    }
  });

  it('refuses a sidecar whose Describe names another pod, and counts it', async () => {
    await tree.addVm('honest');
    await tree.addVm('liar', { podUid: randomUUID() }, randomUUID());
    let mismatches = 0;
    registry = new SidecarRegistry({ kubeletRoot: tree.root, session: fast }, logger('test'), { onIdentityMismatch: () => mismatches++ });
    registry.start();
    expect(await waitFor(() => registry!.all().filter((s) => s.state === 'live' || s.state === 'refused').length === 2)).to.equal(true);
    const liar = registry.all().find((s) => s.describe?.vm?.name === 'liar')!;
    expect(liar.state).to.equal('refused');
    expect(liar.stateReason).to.equal('pod-uid-mismatch');
    expect(liar.usable(Date.now())).to.equal(false);
    expect(mismatches).to.equal(1);
    expect(registry.identityMismatches).to.equal(1);
  });

  it('marks a hanging sidecar stale within its deadline while the others stay live and fast', async () => {
    const hanging = await tree.addVm('hangs');
    hanging.faults.hangDescribe = true;
    for (let i = 0; i < 5; i++) await tree.addVm(`ok-${i}`);
    const misses: string[] = [];
    // A Describe deadline far longer than five in-process answers take on a loaded machine: the order of events
    // below holds without a stopwatch.
    const session = { ...fast, describeDeadlineMs: 5000 };
    registry = new SidecarRegistry({ kubeletRoot: tree.root, session }, logger('test'), { onDeadlineMiss: (_s, call) => misses.push(call) });
    registry.start();
    expect(await waitFor(() => registry!.all().filter((s) => s.state === 'live').length === 5)).to.equal(true);
    // The healthy five are live before the hanging Describe's deadline has even passed.
    expect(misses).to.deep.equal([]);
    expect(await waitFor(() => misses.includes('Describe'))).to.equal(true);
    const stuck = registry.all().find((s) => s.found.podUid === hanging.options.podUid)!;
    expect(stuck.state).to.be.oneOf(['stale', 'connecting']);
    expect(stuck.usable(Date.now())).to.equal(false);
    // Once it answers again, it recovers after its back-off.
    hanging.faults.hangDescribe = false;
    expect(await waitFor(() => stuck.state === 'live')).to.equal(true);
  });

  it('a SetTarget deadline miss marks the sidecar stale and skipped; its stats going silent does too', async () => {
    const agent = await tree.addVm('slow-set');
    registry = new SidecarRegistry({ kubeletRoot: tree.root, session: fast }, logger('test'));
    registry.start();
    expect(await waitFor(() => registry!.all()[0]?.state === 'live')).to.equal(true);
    const session = registry.all()[0]!;
    agent.faults.hangSetTarget = true;
    // It returns at the deadline, not whenever the sidecar answers (this one never does).
    const outcome = await session.setTarget(GI_1, 'test');
    expect(outcome.kind).to.equal('failed');
    expect(session.state).to.equal('stale');
    expect(session.usable(Date.now())).to.equal(false);
    expect((await session.setTarget(GI_1, 'test')).kind).to.equal('skipped');
    agent.faults.hangSetTarget = false;
    expect(await waitFor(() => session.usable(Date.now())), 'recovers after back-off').to.equal(true);
    expect((await session.setTarget(GI_1, 'test')).kind).to.equal('applied');
    agent.faults.muteStats = true;
    expect(await waitFor(() => !session.usable(Date.now()))).to.equal(true);
    expect(session.stateReason).to.equal('stats-silent');
    agent.faults.muteStats = false;
    expect(await waitFor(() => session.usable(Date.now()))).to.equal(true);
    // Silent for much longer: the session starts over (Describe, a new stream), then is live again.
    agent.faults.muteStats = true;
    const reasons: string[] = [];
    expect(await waitFor(() => (reasons.push(session.stateReason), session.usable(Date.now()), reasons.includes('stats-silent-reconnect')))).to.equal(true);
    agent.faults.muteStats = false;
    expect(await waitFor(() => session.usable(Date.now()))).to.equal(true);
  });
});

const GI_1 = 2 ** 30;
