/**
 * The kubelet's eviction signals from cgroup v1 and v2 trees (plain directories in the kernel's layout),
 * bad cgroup input, the host sample and policy input they feed, the default policy's use of them, and the
 * low-memory wake. The same reader on this machine's real cgroup fs: real-cgroup-signals.test.ts.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultPolicy } from '../../src/balloon/default-policy.js';
import { kubeletHeadroom, softThresholdClock, signalTrend } from '../../src/balloon/kubelet-headroom.js';
import type { HostSample, HostState, PolicyInput } from '../../src/policy/types.js';
import { parsePolicyInput } from '../../src/policy/policy-input.js';
import { InputError } from '../../src/common/errors.js';
import { logger } from '../../src/common/log.js';
import { shimOptionsFromFlags } from '../../src/cli/shim-command.js';
import { detectCgroupLayout, findPodCgroup, parseCgroupNumber, podCgroupCandidates, readCgroupMemory, resolveKubepods, workingSet } from '../../src/shim/host/cgroup-memory.js';
import { EvictionSignalReader } from '../../src/shim/host/eviction-signals.js';
import { HostMonitor } from '../../src/shim/host/host-monitor.js';
import { allocatableThresholdBytes, parseEnforceNodeAllocatable, parseGoDuration, parseGracePeriods } from '../../src/shim/host/kubelet-thresholds.js';
import { LowMemoryWatch } from '../../src/shim/host/low-memory-watch.js';
import { MINIMAL_SHIM_FLAGS } from './support.js';
import { CgroupTree, meminfoText } from '../support/cgroup-tree.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const log = logger('test').child({}, { level: 'silent' });

for (const version of ['v1', 'v2'] as const) {
  describe(`kubelet eviction signals on a cgroup ${version} tree`, () => {
    let tree: CgroupTree;
    beforeEach(() => {
      tree = CgroupTree.create(version);
    });
    afterEach(() => tree.remove());

    it('detects the hierarchy and computes both signals as the kubelet does', () => {
      tree.set('', { usageBytes: 10 * GiB, inactiveFileBytes: 3 * GiB });
      tree.set('kubepods.slice', { usageBytes: 6 * GiB, inactiveFileBytes: 1 * GiB, limitBytes: 14 * GiB });
      const layout = detectCgroupLayout(tree.root);
      expect(layout.ok && layout.value.version).to.equal(version);
      const reader = new EvictionSignalReader({ cgroupRoot: tree.root, cgroupDriver: 'auto' }, log);
      const s = reader.read(16 * GiB);
      expect(s.problems).to.deep.equal([]);
      // memory.available = MemTotal - (usage - inactive_file)
      expect(s.rootWorkingSetBytes).to.equal(7 * GiB);
      expect(s.memoryAvailableBytes).to.equal(9 * GiB);
      // allocatableMemory.available = pods limit - (pods usage - inactive_file)
      expect(s.podsWorkingSetBytes).to.equal(5 * GiB);
      expect(s.allocatableAvailableBytes).to.equal(9 * GiB);
      expect(s.allocatableCapacityBytes).to.equal(14 * GiB);
      expect(reader.kubepods()).to.deep.equal({ relative: 'kubepods.slice', driver: 'systemd' });
    });

    it('finds the cgroupfs pods cgroup, and an explicit --kubepods-cgroup anywhere in the tree', () => {
      tree.set('', { usageBytes: 2 * GiB, inactiveFileBytes: 0 });
      tree.set('kubepods', { usageBytes: 1 * GiB, inactiveFileBytes: 0, limitBytes: 3 * GiB });
      tree.set('test/pods', { usageBytes: 100 * MiB, inactiveFileBytes: 0, limitBytes: 1 * GiB });
      expect(new EvictionSignalReader({ cgroupRoot: tree.root, cgroupDriver: 'auto' }, log).read(4 * GiB).allocatableAvailableBytes).to.equal(2 * GiB);
      const explicit = new EvictionSignalReader({ cgroupRoot: tree.root, cgroupDriver: 'auto', kubepodsCgroup: '/test/pods' }, log).read(4 * GiB);
      expect(explicit.allocatableAvailableBytes).to.equal(1 * GiB - 100 * MiB);
    });

    it('has no allocatable signal when the pods cgroup has no limit, and says so', () => {
      tree.set('', { usageBytes: 2 * GiB, inactiveFileBytes: 0 });
      tree.set('kubepods.slice', { usageBytes: 1 * GiB, inactiveFileBytes: 0, limitBytes: 'max' });
      const reasons: string[] = [];
      const s = new EvictionSignalReader({ cgroupRoot: tree.root, cgroupDriver: 'systemd' }, log, { onProblem: (sig, reason) => reasons.push(`${sig} ${reason}`) }).read(4 * GiB);
      expect(s.memoryAvailableBytes).to.equal(2 * GiB);
      expect(s.allocatableAvailableBytes).to.equal(undefined);
      expect(s.podsWorkingSetBytes).to.equal(1 * GiB);
      expect(reasons).to.deep.equal(['allocatableMemory.available no-limit']);
    });

    it('reports missing and garbled files without throwing, and recovers when they are fixed', () => {
      const reasons: string[] = [];
      const reader = new EvictionSignalReader({ cgroupRoot: tree.root, cgroupDriver: 'systemd' }, log, { onProblem: (sig, reason) => reasons.push(`${sig} ${reason}`) });
      tree.set('', { usageBytes: 2 * GiB, inactiveFileBytes: 0 });
      let s = reader.read(4 * GiB);
      expect(s.memoryAvailableBytes).to.equal(2 * GiB);
      expect(s.problems.map((p) => `${p.signal} ${p.problem.reason}`)).to.deep.equal(['allocatableMemory.available missing']);
      tree.set('kubepods.slice', { usageBytes: 1 * GiB, inactiveFileBytes: 0, limitBytes: 3 * GiB });
      tree.write('kubepods.slice', version === 'v2' ? 'memory.max' : 'memory.limit_in_bytes', 'lots\n');
      s = reader.read(4 * GiB);
      expect(s.problems[0]!.problem).to.include({ reason: 'unparsable' });
      expect(s.problems[0]!.problem.detail).to.match(/"lots" is not a byte count/);
      tree.set('kubepods.slice', { usageBytes: 1 * GiB, inactiveFileBytes: 0, limitBytes: 3 * GiB });
      expect(reader.read(4 * GiB).allocatableAvailableBytes).to.equal(2 * GiB);
      rmSync(path.join(tree.dir(''), 'memory.stat'));
      s = reader.read(4 * GiB);
      expect(s.memoryAvailableBytes).to.equal(undefined);
      expect(s.problems.some((p) => p.signal === 'memory.available' && p.problem.reason === 'missing')).to.equal(true);
    });

    it("finds a pod's cgroup by UID under every QoS class and both drivers", () => {
      tree.set('', { usageBytes: 1 * GiB, inactiveFileBytes: 0 });
      const uid = '1f2e3d4c-0000-4000-8000-00000000abcd';
      const layout = detectCgroupLayout(tree.root);
      if (!layout.ok) throw new Error('no layout');
      const under = `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid.replace(/-/g, '_')}.slice`;
      tree.set(under, { usageBytes: 1 * GiB, inactiveFileBytes: 0, limitBytes: 2 * GiB });
      const kubepods = resolveKubepods(layout.value, 'auto');
      expect(findPodCgroup(layout.value, kubepods, uid)).to.equal(under);
      expect(findPodCgroup(layout.value, kubepods, '../../etc')).to.equal(undefined);
      tree.set(`kubepods/besteffort/pod${uid}`, { usageBytes: 1, inactiveFileBytes: 0 });
      expect(findPodCgroup(layout.value, { relative: 'kubepods', driver: 'cgroupfs' }, uid)).to.equal(`kubepods/besteffort/pod${uid}`);
      const pod = readCgroupMemory(layout.value, under);
      expect(pod.ok && pod.value.limitBytes).to.equal(2 * GiB);
    });
  });
}

describe('cgroup parsing rules', () => {
  it("floors the working set at 0 and keeps usage when memory.stat has no inactive file count (cAdvisor's rule)", () => {
    expect(workingSet(100, 30)).to.equal(70);
    expect(workingSet(10, 30)).to.equal(0);
    expect(workingSet(10, undefined)).to.equal(10);
  });

  it("reads `max` and v1's near-2^63 as no limit, and refuses anything else that is not a byte count", () => {
    expect(parseCgroupNumber('f', 'max\n', true)).to.deep.equal({ ok: true, value: undefined });
    expect(parseCgroupNumber('f', '9223372036854771712\n', true)).to.deep.equal({ ok: true, value: undefined });
    expect(parseCgroupNumber('f', '1073741824\n', true)).to.deep.equal({ ok: true, value: GiB });
    expect(parseCgroupNumber('f', 'max', false).ok).to.equal(false);
    expect(parseCgroupNumber('f', '-1', true).ok).to.equal(false);
    expect(parseCgroupNumber('f', '', true).ok).to.equal(false);
  });

  it('names the pod cgroups the kubelet creates', () => {
    expect(podCgroupCandidates('kubepods', 'cgroupfs', 'a-b')).to.deep.equal(['kubepods/poda-b', 'kubepods/burstable/poda-b', 'kubepods/besteffort/poda-b']);
    expect(podCgroupCandidates('kubepods.slice', 'systemd', 'a-b')).to.deep.equal([
      'kubepods.slice/kubepods-poda_b.slice',
      'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-poda_b.slice',
      'kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-poda_b.slice',
    ]);
  });

  it('says which files it looked for when there is no memory controller at all', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'km-nocg-'));
    try {
      mkdirSync(path.join(dir, 'unified'));
      writeFileSync(path.join(dir, 'cgroup.controllers'), 'cpu io\n');
      const d = detectCgroupLayout(dir);
      expect(d.ok).to.equal(false);
      if (!d.ok) expect(d.problem.detail).to.match(/cgroup\.controllers.*memory.*memory\.usage_in_bytes/);
      const s = new EvictionSignalReader({ cgroupRoot: dir, cgroupDriver: 'auto' }, log).read(GiB);
      expect(s.problems.map((p) => p.problem.reason)).to.deep.equal(['no-memory-controller', 'no-memory-controller']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('kubelet thresholds and flags', () => {
  it('parses Go durations and the kubelet grace period syntax', () => {
    expect(parseGoDuration('1m30s')).to.equal(90_000);
    expect(parseGoDuration('500ms')).to.equal(500);
    expect(parseGoDuration('1h')).to.equal(3_600_000);
    expect(parseGoDuration('0')).to.equal(0);
    expect(parseGoDuration('90')).to.equal(undefined);
    expect(parseGoDuration('1m30')).to.equal(undefined);
    expect(parseGracePeriods('--x', 'nodefs.available=1m, memory.available=1m30s')).to.equal(90_000);
    expect(() => parseGracePeriods('--x', 'memory.available=soon')).to.throw(InputError, /Go duration/);
    expect(() => parseGracePeriods('--x', 'memory.available')).to.throw(InputError, /signal=duration/);
  });

  it('copies the hard threshold to allocatableMemory.available only when pods is enforced, a percentage of the pods limit', () => {
    expect(parseEnforceNodeAllocatable('--e', ['pods', 'system-reserved'])).to.equal(true);
    expect(parseEnforceNodeAllocatable('--e', ['none'])).to.equal(false);
    expect(() => parseEnforceNodeAllocatable('--e', ['pod'])).to.throw(InputError, /accepted: pods/);
    expect(allocatableThresholdBytes({ enforcePodsAllocatable: true, evictionHard: { kind: 'percent', percent: 10 } }, 10 * GiB)).to.equal(GiB);
    expect(allocatableThresholdBytes({ enforcePodsAllocatable: true, evictionHard: { kind: 'bytes', bytes: 100 * MiB } }, undefined)).to.equal(100 * MiB);
    expect(allocatableThresholdBytes({ enforcePodsAllocatable: false, evictionHard: { kind: 'bytes', bytes: 100 * MiB } }, GiB)).to.equal(undefined);
  });

  it('takes the cgroup flags and refuses an unknown driver by name', () => {
    const flags = { ...MINIMAL_SHIM_FLAGS, evictionHard: 'memory.available<100Mi' };
    const o = shimOptionsFromFlags({ ...flags, cgroupRoot: '/c', kubepodsCgroup: 'kubepods', cgroupDriver: 'cgroupfs', evictionSoftGracePeriod: 'memory.available=2m', enforceNodeAllocatable: 'none' });
    expect(o).to.include({ cgroupRoot: '/c', kubepodsCgroup: 'kubepods', cgroupDriver: 'cgroupfs', evictionSoftGracePeriodMs: 120_000, enforcePodsAllocatable: false });
    expect(shimOptionsFromFlags({ ...flags, cgroupRoot: '' }).cgroupRoot).to.equal(undefined);
    expect(() => shimOptionsFromFlags({ ...flags, cgroupDriver: 'systemd-ish' })).to.throw(InputError, /--cgroup-driver.*accepted: systemd, cgroupfs, auto/);
  });
});

describe('the kubelet signals in the policy input and the default policy', () => {
  let tree: CgroupTree;
  let dir: string;
  beforeEach(() => {
    tree = CgroupTree.create('v2');
    dir = mkdtempSync(path.join(os.tmpdir(), 'km-proc-'));
  });
  afterEach(() => {
    tree.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  function monitor(enforce = true): HostMonitor {
    writeFileSync(path.join(dir, 'meminfo'), meminfoText(16 * GiB, 12 * GiB));
    return new HostMonitor(
      {
        meminfoFile: path.join(dir, 'meminfo'),
        psiFile: path.join(dir, 'none'),
        vmstatFile: path.join(dir, 'none'),
        scrapePeriodMs: 1000,
        scrapeTimeoutMs: 100,
        evictionHard: { kind: 'percent', percent: 5 },
        kubeletSignals: new EvictionSignalReader({ cgroupRoot: tree.root, cgroupDriver: 'auto' }, log),
        enforcePodsAllocatable: enforce,
      },
      log,
    );
  }

  it('fills both signals and the allocatable threshold into the sample and the host state', () => {
    tree.set('', { usageBytes: 14 * GiB, inactiveFileBytes: 1 * GiB });
    tree.set('kubepods.slice', { usageBytes: 9 * GiB, inactiveFileBytes: 0, limitBytes: 10 * GiB });
    const h = monitor();
    const sample = h.sample(1000, false);
    expect(sample.kubeletMemoryAvailableBytes).to.equal(3 * GiB);
    expect(sample.kubeletAllocatableAvailableBytes).to.equal(1 * GiB);
    const state = h.state({});
    expect(state.evictionHardBytes).to.equal(Math.ceil(0.05 * 16 * GiB));
    expect(state.evictionAllocatableHardBytes).to.equal(Math.ceil(0.05 * 10 * GiB));
    const input: PolicyInput = { nowMs: 1000, host: state, guests: [] };
    expect(() => parsePolicyInput(JSON.parse(JSON.stringify(input)), 'stdin')).to.not.throw();
    // Not enforced: the kubelet evicts on memory.available only.
    const off = monitor(false).sample(1000, false);
    expect(off.kubeletAllocatableAvailableBytes).to.equal(undefined);
  });

  const sample = (atMs: number, extra: Partial<HostSample>): HostSample => ({
    atMs, memTotalBytes: 16 * GiB, memFreeBytes: 8 * GiB, memAvailableBytes: 12 * GiB, buffersBytes: 0, cachedBytes: 4 * GiB, anonPagesBytes: 4 * GiB, swapTotalBytes: 0, swapFreeBytes: 0, ...extra,
  });

  it('measures headroom against each threshold less the fall expected before the next kubelet check', () => {
    const host: HostState = {
      history: [sample(0, { kubeletMemoryAvailableBytes: 4 * GiB, kubeletAllocatableAvailableBytes: 2 * GiB }), sample(2000, { kubeletMemoryAvailableBytes: 3.8 * GiB, kubeletAllocatableAvailableBytes: 2 * GiB })],
      cpuCount: 4,
      evictionHardBytes: 100 * MiB,
      evictionSoftBytes: 1 * GiB,
      evictionAllocatableHardBytes: 500 * MiB,
    };
    expect(signalTrend(host.history, (s) => s.kubeletMemoryAvailableBytes)).to.be.closeTo((-0.2 * GiB) / 2000, 1e-6);
    const [mem, alloc] = kubeletHeadroom(host);
    expect(mem).to.include({ signal: 'memory.available', thresholdBytes: 1 * GiB });
    expect(mem!.growthBytes).to.be.closeTo(1 * GiB, 1);
    expect(mem!.headroomBytes).to.be.closeTo(3.8 * GiB - 1 * GiB - 1 * GiB, 1);
    expect(alloc).to.deep.include({ signal: 'allocatableMemory.available', thresholdBytes: 500 * MiB, growthBytes: 0, headroomBytes: 2 * GiB - 500 * MiB });
  });

  it('starts the soft threshold clock under the soft threshold, carries it, and stops it above', () => {
    const host = (available: number): HostState => ({ history: [sample(0, { kubeletMemoryAvailableBytes: available })], cpuCount: 1, evictionHardBytes: 0, evictionSoftBytes: GiB, evictionSoftGracePeriodMs: 90_000 });
    expect(softThresholdClock(host(2 * GiB), 5000, undefined)).to.equal(undefined);
    expect(softThresholdClock(host(0.5 * GiB), 5000, undefined)).to.deep.equal({ sinceMs: 5000, evictAtMs: 95_000 });
    expect(softThresholdClock(host(0.5 * GiB), 9000, 5000)).to.deep.equal({ sinceMs: 5000, evictAtMs: 95_000 });
  });

  it('reclaims on a warm page cache the kubelet counts as used though MemAvailable looks fine', () => {
    const guest = {
      id: 'ns/vm', namespace: 'ns', name: 'vm', uid: 'u', guestMemoryBytes: 4 * GiB, guaranteedMemoryBytes: 1 * GiB, marginBytes: 64 * MiB, priority: 50, policy: 'default',
      phase: 'running' as const, phaseSinceMs: -600_000, balloonActualBytes: 4 * GiB,
      history: [0, 5000, 10_000].map((atMs) => ({ atMs: atMs - 10_000, totalBytes: 4 * GiB, freeBytes: 1 * GiB, availableBytes: 3 * GiB, diskCachesBytes: 2 * GiB, balloonActualBytes: 4 * GiB, swapInBytes: 0, majorFaults: 0 })),
    };
    const input = (kubelet: number | undefined): PolicyInput => ({
      nowMs: 0,
      host: { history: [sample(0, kubelet === undefined ? {} : { kubeletMemoryAvailableBytes: kubelet })], cpuCount: 4, evictionHardBytes: 100 * MiB },
      guests: [guest],
    });
    const policy = defaultPolicy();
    expect(policy.evaluate(input(undefined), policy.initialState()).decisions.balloons).to.deep.equal([]);
    const squeezed = policy.evaluate(input(300 * MiB), policy.initialState());
    expect(squeezed.decisions.balloons).to.have.length(1);
    expect(squeezed.decisions.balloons[0]!.reason).to.equal('host-critical');
    expect(squeezed.decisions.balloons[0]!.targetBytes).to.be.lessThan(4 * GiB);
  });

  it('wakes the loop when a kubelet signal falls under its line while MemAvailable is far above', () => {
    writeFileSync(path.join(dir, 'meminfo'), meminfoText(16 * GiB, 12 * GiB));
    tree.set('', { usageBytes: 15 * GiB, inactiveFileBytes: 0 });
    tree.set('kubepods.slice', { usageBytes: 9 * GiB, inactiveFileBytes: 0, limitBytes: 14 * GiB });
    const reader = new EvictionSignalReader({ cgroupRoot: tree.root, cgroupDriver: 'auto' }, log);
    const watch = new LowMemoryWatch({ meminfoFile: path.join(dir, 'meminfo'), evictionHard: { kind: 'bytes', bytes: 100 * MiB }, kubeletSignals: (t) => reader.read(t), now: () => 0 });
    const wakes: string[] = [];
    watch.on('low', (_a: number, _l: number, signal: string) => wakes.push(signal));
    watch.check();
    expect(wakes).to.deep.equal(['memory.available']);
    tree.set('', { usageBytes: 4 * GiB, inactiveFileBytes: 0 });
    tree.set('kubepods.slice', { usageBytes: 13 * GiB + 800 * MiB, inactiveFileBytes: 0, limitBytes: 14 * GiB });
    watch.check();
    watch.check();
    expect(wakes).to.deep.equal(['memory.available']);
    const again = new LowMemoryWatch({ meminfoFile: path.join(dir, 'meminfo'), kubeletSignals: (t) => reader.read(t), now: () => 0 });
    again.on('low', (_a: number, _l: number, signal: string) => wakes.push(signal));
    again.check();
    expect(wakes).to.deep.equal(['memory.available', 'allocatableMemory.available']);
  });
});
