/**
 * Pod requests are floors: the shim's list+watch of its node's pods against a named fake Kubernetes API server
 * (test/support/fake-kube-api-server.ts: resourceVersions, bookmarks, a 410 Gone, a dropped watch, failed
 * lists), the floors and identity checks drawn from it, the --memory-overcommit fallback, and the shim end to end.
 */
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kubernetesApiFromFlag, shimOptionsFromFlags } from '../../src/cli/shim-command.js';
import { InputError } from '../../src/common/errors.js';
import { logger } from '../../src/common/log.js';
import { KubeApiClient } from '../../src/shim/kube/api-client.js';
import { overcommitFloor, vouchFor } from '../../src/shim/kube/pod-floors.js';
import { podFacts, PodWatch, type PodWatchProblem } from '../../src/shim/kube/pod-watch.js';
import type { CycleResult } from '../../src/shim/loop.js';
import { Shim } from '../../src/shim/shim.js';
import type { Policy, PolicyInput } from '../../src/policy/types.js';
import { FakeKubeApiServer, type FakePod } from '../support/fake-kube-api-server.js';
import { GI, KubeletTree, MI, waitFor } from './kubelet-tree.js';
import { testShimOptions, MINIMAL_SHIM_FLAGS } from './support.js';

const log = logger('test').child({}, { level: 'silent' });

function launcherPod(over: Partial<FakePod> & { uid: string; vmiUid: string; vmiName: string }): FakePod {
  return {
    uid: over.uid,
    namespace: over.namespace ?? 'default',
    name: over.name ?? `virt-launcher-${over.vmiName}-abcde`,
    nodeName: over.nodeName ?? 'node-a',
    labels: { 'kubevirt.io': 'virt-launcher', 'kubevirt.io/created-by': over.vmiUid, 'vm.kubevirt.io/name': over.vmiName, app: 'x', ...over.labels },
    annotations: { 'kubevirt.io/domain': over.vmiName, ...over.annotations },
    containers: over.containers ?? [
      { name: 'compute', memoryRequest: '1224Mi' },
      { name: 'hook-sidecar-0', memoryRequest: '64Mi' },
    ],
  };
}

describe('pod facts from the API', () => {
  it("keeps the compute container's memory request, the pod's total, the KubeVirt labels and the VMI", () => {
    const f = podFacts({
      metadata: { uid: 'u', namespace: 'ns', name: 'virt-launcher-vm-x', labels: { 'kubevirt.io/created-by': 'vmi-uid', 'vm.kubevirt.io/name': 'vm', team: 'a' }, annotations: { 'kubevirt.io/domain': 'vm' } },
      spec: { nodeName: 'n', containers: [{ name: 'compute', resources: { requests: { memory: '1Gi' } } }, { name: 'hook-sidecar-0', resources: { requests: { memory: '64Mi' } } }, { name: 'bad', resources: { requests: { memory: 'lots' } } }] },
      status: { phase: 'Running' },
    })!;
    expect(f).to.deep.include({ uid: 'u', namespace: 'ns', vmiUid: 'vmi-uid', vmiName: 'vm', computeMemoryRequestBytes: GI, podMemoryRequestBytes: GI + 64 * MI, nodeName: 'n', phase: 'Running' });
    expect(f.kubevirtLabels).to.deep.equal({ 'kubevirt.io/created-by': 'vmi-uid', 'vm.kubevirt.io/name': 'vm' });
    expect(f.badQuantities).to.have.length(1);
    expect(podFacts({ metadata: { name: 'no-uid' } })).to.equal(undefined);
    expect(podFacts(null)).to.equal(undefined);
  });

  it('vouches for a sidecar only when its pod runs the VMI it claims', () => {
    const pod = podFacts({ metadata: { uid: 'p', namespace: 'ns', name: 'virt-launcher-vm', labels: { 'kubevirt.io/created-by': 'vmi-1' }, annotations: { 'kubevirt.io/domain': 'vm' } } });
    expect(vouchFor({ namespace: 'ns', name: 'vm', uid: 'vmi-1' }, pod)).to.deep.equal({ kind: 'ok' });
    expect(vouchFor({ namespace: 'ns', name: 'vm', uid: 'vmi-1' }, undefined)).to.deep.equal({ kind: 'unknown' });
    expect(vouchFor({ namespace: 'other', name: 'vm', uid: 'vmi-1' }, pod)).to.include({ kind: 'mismatch' });
    expect(vouchFor({ namespace: 'ns', name: 'victim', uid: 'vmi-1' }, pod)).to.include({ kind: 'mismatch' });
    expect(vouchFor({ namespace: 'ns', name: 'vm', uid: 'vmi-2' }, pod)).to.include({ kind: 'mismatch' });
    const plain = podFacts({ metadata: { uid: 'p', namespace: 'ns', name: 'nginx' } });
    expect(vouchFor({ namespace: 'ns', name: 'vm', uid: 'vmi-1' }, plain)).to.include({ kind: 'mismatch' });
  });

  it("takes the floor from KubeVirt's memoryOvercommit rule when there is no API", () => {
    expect(overcommitFloor(2 * GI, 200)).to.equal(GI);
    expect(overcommitFloor(3 * GI, 150)).to.equal(2 * GI);
    expect(overcommitFloor(2 * GI, 50)).to.equal(2 * GI);
  });
});

describe('the pod watch against a fake Kubernetes API server', function () {
  let api: FakeKubeApiServer;
  let watch: PodWatch;
  let dir: string;
  const problems: PodWatchProblem[] = [];

  beforeEach(async () => {
    api = new FakeKubeApiServer();
    await api.start();
    dir = mkdtempSync(path.join(os.tmpdir(), 'km-sa-'));
    writeFileSync(path.join(dir, 'token'), 'secret-token\n');
    api.token = 'secret-token';
    problems.length = 0;
  });
  afterEach(async () => {
    watch?.stop();
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function startWatch(node = 'node-a'): PodWatch {
    watch = new PodWatch(new KubeApiClient({ server: new URL(api.url), tokenFile: path.join(dir, 'token') }), { nodeName: node, initialBackoffMs: 20, maxBackoffMs: 100, watchTimeoutSeconds: 30 }, log, { onProblem: (p) => problems.push(p) });
    watch.start();
    return watch;
  }

  it("lists its node's pods only, with the token, then watches from the list's resourceVersion with bookmarks", async () => {
    api.add(launcherPod({ uid: 'p1', vmiUid: 'v1', vmiName: 'one' }));
    api.add(launcherPod({ uid: 'p2', vmiUid: 'v2', vmiName: 'two', nodeName: 'node-b' }));
    const w = startWatch();
    expect(await waitFor(() => w.synced && api.openWatches === 1)).to.equal(true);
    expect([...w.pods.keys()]).to.deep.equal(['p1']);
    expect(api.requests[0]).to.equal('/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a');
    const watchQuery = new URL(api.requests[1]!, api.url).searchParams;
    expect(Object.fromEntries(watchQuery)).to.deep.include({ watch: '1', allowWatchBookmarks: 'true', resourceVersion: String(api.resourceVersion), fieldSelector: 'spec.nodeName=node-a' });
    api.add(launcherPod({ uid: 'p3', vmiUid: 'v3', vmiName: 'three' }));
    api.update(launcherPod({ uid: 'p1', vmiUid: 'v1', vmiName: 'one', containers: [{ name: 'compute', memoryRequest: '2Gi' }] }));
    api.remove('p3');
    api.add(launcherPod({ uid: 'p4', vmiUid: 'v4', vmiName: 'elsewhere', nodeName: 'node-b' }));
    expect(await waitFor(() => w.get('p1')?.computeMemoryRequestBytes === 2 * GI && w.resourceVersion === String(api.resourceVersion - 1))).to.equal(true);
    expect([...w.pods.keys()]).to.deep.equal(['p1']);
    expect(problems).to.deep.equal([]);
  });

  it('resumes a dropped watch from the last bookmark, without listing again', async () => {
    const w = startWatch();
    expect(await waitFor(() => w.synced && api.openWatches === 1)).to.equal(true);
    api.bookmark();
    const bookmarked = String(api.resourceVersion);
    expect(await waitFor(() => w.resourceVersion === bookmarked)).to.equal(true);
    api.dropWatches();
    api.add(launcherPod({ uid: 'late', vmiUid: 'v', vmiName: 'late' }));
    expect(await waitFor(() => w.get('late') !== undefined)).to.equal(true);
    expect(w.lists).to.equal(1);
    const resumed = api.requests.filter((r) => r.includes('watch=1')).map((r) => new URL(r, api.url).searchParams.get('resourceVersion'));
    expect(resumed.at(-1)).to.equal(bookmarked);
    expect(problems).to.include('dropped');
  });

  it('lists again after a 410 Gone and sees what changed meanwhile', async () => {
    api.add(launcherPod({ uid: 'old', vmiUid: 'v', vmiName: 'old' }));
    const w = startWatch();
    expect(await waitFor(() => w.synced && api.openWatches === 1)).to.equal(true);
    // The watch's resourceVersion falls out of the server's history while it is away.
    api.dropWatches();
    api.remove('old');
    api.add(launcherPod({ uid: 'new', vmiUid: 'v2', vmiName: 'new' }));
    api.compact();
    expect(await waitFor(() => w.lists === 2 && w.get('new') !== undefined)).to.equal(true);
    expect(w.get('old')).to.equal(undefined);
    expect(problems).to.include('gone');
  });

  it('retries failed lists and a wrong token with back-off, never throwing', async () => {
    api.failNextLists(2);
    const w = startWatch();
    expect(await waitFor(() => w.synced)).to.equal(true);
    expect(problems.filter((p) => p === 'list-error')).to.have.length(2);
    w.stop();
    writeFileSync(path.join(dir, 'token'), 'wrong\n');
    problems.length = 0;
    const refused = startWatch();
    expect(await waitFor(() => problems.length >= 2)).to.equal(true);
    expect(refused.synced).to.equal(false);
    // The token is read for every request: the rotated one works without a restart.
    writeFileSync(path.join(dir, 'token'), 'secret-token\n');
    expect(await waitFor(() => refused.synced)).to.equal(true);
  });
});

/** Reclaims everything it can: whatever it asks, the floor must hold. */
const squeezeAll: Policy<null> = {
  name: 'test-squeeze-all',
  initialState: () => null,
  evaluate: (input: PolicyInput) => ({ decisions: { balloons: input.guests.map((g) => ({ guestId: g.id, targetBytes: 256 * MI, reason: 'test-squeeze' })), ksm: {} }, state: null }),
};

describe('pod requests are floors: the shim end to end', function () {
  let tree: KubeletTree;
  let api: FakeKubeApiServer;
  let shim: Shim<unknown> | undefined;
  beforeEach(async () => {
    tree = new KubeletTree();
    api = new FakeKubeApiServer();
    await api.start();
  });
  afterEach(async () => {
    await shim?.stop();
    shim = undefined;
    await api.stop();
    await tree.close();
  });

  it("floors a VM without a guarantee at its pod's memory request and keeps an impostor from getting a target", async () => {
    const podUid = randomUUID();
    const vmiUid = randomUUID();
    api.add(launcherPod({ uid: podUid, vmiUid, vmiName: 'web' }));
    const agent = await tree.addVm('web', { uid: vmiUid, guestMemoryBytes: 2 * GI, guaranteedMemoryBytes: 2 * GI, guaranteedMemorySource: 'guest-memory' }, podUid);
    // A sidecar in its own pod claiming the VM "db", while its pod runs VMI "cache".
    const impostorPod = randomUUID();
    api.add(launcherPod({ uid: impostorPod, vmiUid: 'cache-uid', vmiName: 'cache' }));
    const impostor = await tree.addVm('db', { uid: 'cache-uid', guestMemoryBytes: 2 * GI, guaranteedMemoryBytes: 512 * MI }, impostorPod);
    shim = new Shim(testShimOptions(tree.root, { periodMs: 60_000, kubernetes: { api: { server: new URL(api.url) }, nodeName: 'node-a', initialBackoffMs: 20 } }), squeezeAll);
    await shim.start();
    const s = shim;
    expect(await waitFor(() => s.pods!.synced && s.registry.all().filter((x) => x.state === 'live' && x.latest !== undefined).length === 2)).to.equal(true);
    const result = (await s.loop.runOnce()) as CycleResult;
    await result.settled;
    expect(result.input.guests.map((g) => g.name)).to.deep.equal(['web']);
    const web = result.input.guests[0]!;
    expect(web.guaranteedMemoryBytes).to.equal(1224 * MI);
    expect(result.records.find((r) => r.guestId === 'default/web')).to.include({ targetBytes: 1224 * MI, bound: 'floor' });
    expect(agent.received.at(-1)).to.include({ targetBytes: 1224 * MI, floorBytes: 1224 * MI });
    expect(impostor.received).to.deep.equal([]);
    const metrics = await s.metrics.scrape();
    expect(metrics).to.contain(`kubemom_vm_node_floor_bytes{namespace="default",name="web",source="pod-request"} ${1224 * MI}`);
    expect(metrics).to.contain('kubemom_shim_sidecar_impostors_total 1');
    expect(metrics).to.contain('kubemom_shim_floor_source{source="kubernetes-api"} 1');
    expect(metrics).to.contain('kubemom_shim_kubernetes_api_synced 1');
    expect(metrics).to.contain(`kubemom_vm_pod_info{namespace="default",name="web",pod="virt-launcher-web-abcde",vmi_uid="${vmiUid}"} 1`);
  });

  it('gives no target to a sidecar whose pod the synced watch has not listed, until the pod shows', async () => {
    const podUid = randomUUID();
    const vmiUid = randomUUID();
    const agent = await tree.addVm('late', { uid: vmiUid, guestMemoryBytes: 2 * GI, guaranteedMemoryBytes: 512 * MI }, podUid);
    shim = new Shim(testShimOptions(tree.root, { periodMs: 60_000, kubernetes: { api: { server: new URL(api.url) }, nodeName: 'node-a', initialBackoffMs: 20 } }), squeezeAll);
    await shim.start();
    const s = shim;
    expect(await waitFor(() => s.pods!.synced && s.registry.all().some((x) => x.state === 'live' && x.latest !== undefined))).to.equal(true);
    const before = (await s.loop.runOnce()) as CycleResult;
    await before.settled;
    expect(before.input.guests).to.deep.equal([]);
    expect(agent.received).to.deep.equal([]);
    // A pod exists in the API before its containers start: here its event only arrives now.
    api.add(launcherPod({ uid: podUid, vmiUid, vmiName: 'late' }));
    expect(await waitFor(() => s.pods!.get(podUid) !== undefined)).to.equal(true);
    const after = (await s.loop.runOnce()) as CycleResult;
    await after.settled;
    expect(after.input.guests.map((g) => g.name)).to.deep.equal(['late']);
    expect(agent.received.at(-1)).to.include({ targetBytes: 512 * MI });
    expect(await s.metrics.scrape()).to.contain('kubemom_shim_sidecar_impostors_total 0');
  });

  it('falls back to --memory-overcommit without the API, and says so in a metric', async () => {
    const agent = await tree.addVm('web', { guestMemoryBytes: 3 * GI, guaranteedMemoryBytes: 3 * GI, guaranteedMemorySource: 'guest-memory' });
    const explicit = await tree.addVm('owned', { guestMemoryBytes: 2 * GI, guaranteedMemoryBytes: 1536 * MI, guaranteedMemorySource: 'annotation' });
    shim = new Shim(testShimOptions(tree.root, { periodMs: 60_000, memoryOvercommitPercent: 150, kubernetesApiOff: '--kubernetes-api off' }), squeezeAll);
    await shim.start();
    const s = shim;
    expect(await waitFor(() => s.registry.all().filter((x) => x.state === 'live' && x.latest !== undefined).length === 2)).to.equal(true);
    const result = (await s.loop.runOnce()) as CycleResult;
    await result.settled;
    expect(result.input.guests.find((g) => g.name === 'web')!.guaranteedMemoryBytes).to.equal(2 * GI);
    expect(result.input.guests.find((g) => g.name === 'owned')!.guaranteedMemoryBytes).to.equal(1536 * MI);
    expect(agent.received.at(-1)).to.include({ targetBytes: 2 * GI, floorBytes: 2 * GI });
    expect(explicit.received.at(-1)).to.include({ floorBytes: 0 });
    expect(await s.metrics.scrape()).to.contain('kubemom_shim_floor_source{source="memory-overcommit"} 1');
  });
});

describe('the Kubernetes API flags', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'km-saflags-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('auto uses the in-cluster service account, and is off (saying why) without one', () => {
    expect(kubernetesApiFromFlag('auto', {}, dir).off).to.match(/KUBERNETES_SERVICE_HOST/);
    expect(kubernetesApiFromFlag('auto', { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, dir).off).to.match(/no service account token/);
    writeFileSync(path.join(dir, 'token'), 't');
    const on = kubernetesApiFromFlag('auto', { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' }, dir).config!;
    expect(on.server.href).to.equal('https://[fd00::1]:6443/');
    expect(on).to.include({ tokenFile: path.join(dir, 'token'), caFile: path.join(dir, 'ca.crt') });
    expect(kubernetesApiFromFlag('off').off).to.equal('--kubernetes-api off');
    expect(kubernetesApiFromFlag('http://127.0.0.1:8001', {}, dir).config!.server.href).to.equal('http://127.0.0.1:8001/');
    expect(() => kubernetesApiFromFlag('sometimes')).to.throw(InputError, /--kubernetes-api.*accepted: auto, off/);
  });

  it('refuses a bad --memory-overcommit and a missing node name by name', () => {
    const flags = { ...MINIMAL_SHIM_FLAGS };
    expect(shimOptionsFromFlags({ ...flags, memoryOvercommit: '150' }).memoryOvercommitPercent).to.equal(150);
    expect(() => shimOptionsFromFlags({ ...flags, memoryOvercommit: '1.5' })).to.throw(InputError, /--memory-overcommit.*whole percentage/);
    expect(() => shimOptionsFromFlags({ ...flags, kubernetesApi: 'http://127.0.0.1:1' })).to.throw(InputError, /--node-name/);
    expect(shimOptionsFromFlags({ ...flags, kubernetesApi: 'http://127.0.0.1:1', nodeName: 'n' }).kubernetes!.nodeName).to.equal('n');
    expect(shimOptionsFromFlags({ ...flags, kubernetesApi: 'off' }).kubernetesApiOff).to.equal('--kubernetes-api off');
  });
});
