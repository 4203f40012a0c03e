/**
 * The kubelet's eviction signals read from this machine's real cgroup fs (v1 or v2, whichever it has), checked
 * against an independent computation (a shell and awk over the same files, the kubelet's formulas written out
 * again); and a real memory cgroup with a limit playing the pods cgroup, with a real process charged to a pod
 * cgroup under it, found by pod UID. Needs root (it creates and removes memory cgroups); leaves none behind.
 */
import { expect } from 'chai';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { logger } from '../../src/common/log.js';
import { detectCgroupLayout, readCgroupMemory, type CgroupLayout } from '../../src/shim/host/cgroup-memory.js';
import { EvictionSignalReader } from '../../src/shim/host/eviction-signals.js';
import { readMeminfo } from '../../src/shim/host/meminfo.js';
import { EVENT_DEADLINE_MS } from '../support/deadline.js';
import type { CycleResult } from '../../src/shim/loop.js';
import { Shim } from '../../src/shim/shim.js';
import type { Policy, PolicyInput } from '../../src/policy/types.js';
import { KubeletTree, waitFor } from './kubelet-tree.js';
import { testShimOptions } from './support.js';

/** Asks every guest for all its memory: the ceiling must stop it. */
const growAll: Policy<null> = {
  name: 'test-grow-all',
  initialState: () => null,
  evaluate: (input: PolicyInput) => ({ decisions: { balloons: input.guests.map((g) => ({ guestId: g.id, targetBytes: g.guestMemoryBytes, reason: 'test-grow' })), ksm: {} }, state: null }),
};

const MiB = 2 ** 20;
const CGROUP_ROOT = process.env.KUBEMOM_CGROUP_ROOT ?? '/sys/fs/cgroup';
const log = logger('test').child({}, { level: 'silent' });

/** The kubelet's working set of one cgroup, by shell and awk alone (no KubeMom code). */
function independentWorkingSet(layout: CgroupLayout, dir: string, isRoot: boolean): number {
  const script =
    layout.version === 'v2' && isRoot
      ? `awk '$1=="anon"{a=$2} $1=="file"{f=$2} $1=="inactive_file"{i=$2} END{w=a+f-i; if (w<0) w=0; printf "%.0f\\n", w}' "$1/memory.stat"`
      : layout.version === 'v2'
        ? `u=$(cat "$1/memory.current"); awk -v u="$u" '$1=="inactive_file"{i=$2} END{w=u-i; if (w<0) w=0; printf "%.0f\\n", w}' "$1/memory.stat"`
        : `u=$(cat "$1/memory.usage_in_bytes"); awk -v u="$u" '$1=="total_inactive_file"{i=$2} END{w=u-i; if (w<0) w=0; printf "%.0f\\n", w}' "$1/memory.stat"`;
  return Number(execFileSync('sh', ['-c', script, 'sh', dir], { encoding: 'utf8' }).trim());
}

function memTotalByAwk(): number {
  return Number(execFileSync('sh', ['-c', `awk '/^MemTotal:/{printf "%.0f\\n", $2*1024}' /proc/meminfo`], { encoding: 'utf8' }).trim());
}

/** `value` lies between two readings taken before and after it, give or take `slack` (memory moves meanwhile). */
function between(value: number, a: number, b: number, slack: number): void {
  expect(value).to.be.within(Math.min(a, b) - slack, Math.max(a, b) + slack);
}

describe('real cgroup fs: the kubelet eviction signals', function () {
  this.timeout(EVENT_DEADLINE_MS);
  const detected = detectCgroupLayout(CGROUP_ROOT);
  if (!detected.ok) throw new Error(`${CGROUP_ROOT}: ${detected.problem.detail}`);
  const layout = detected.value;

  it(`computes memory.available on this machine's root cgroup (${layout.version}) as the kubelet would`, () => {
    const reader = new EvictionSignalReader({ cgroupRoot: CGROUP_ROOT, cgroupDriver: 'auto' }, log);
    const memTotal = readMeminfo('/proc/meminfo', Date.now()).memTotalBytes;
    expect(memTotal).to.equal(memTotalByAwk());
    const before = reader.read(memTotal);
    const independent = memTotal - independentWorkingSet(layout, layout.memoryRoot, true);
    const after = reader.read(memTotal);
    expect(before.memoryAvailableBytes, JSON.stringify(before.problems)).to.be.a('number');
    // Other processes run on this machine: allow what they may allocate between three reads a few µs apart.
    between(independent, before.memoryAvailableBytes!, after.memoryAvailableBytes!, 64 * MiB);
    expect(before.memoryAvailableBytes).to.be.within(0, memTotal);
  });

  describe('a real memory cgroup playing kubepods, with a pod cgroup found by UID', () => {
    const base = `kubemom-test-${process.pid}`;
    const kubepods = `${base}/kubepods.slice`;
    const uid = '7d3c1f0e-2b4a-4c6d-8e9f-0a1b2c3d4e5f';
    const pod = `${kubepods}/kubepods-burstable.slice/kubepods-burstable-pod${uid.replace(/-/g, '_')}.slice`;
    const created: string[] = [];
    let child: ChildProcess | undefined;

    /** Creates a memory cgroup (on v2 the parent hands the memory controller down first). */
    function mkcg(relative: string): void {
      const dir = path.join(layout.memoryRoot, relative);
      if (layout.version === 'v2') writeFileSync(path.join(path.dirname(dir), 'cgroup.subtree_control'), '+memory');
      mkdirSync(dir);
      created.push(dir);
    }

    before(async () => {
      for (const rel of [base, kubepods, `${kubepods}/kubepods-burstable.slice`, pod]) mkcg(rel);
      writeFileSync(path.join(layout.memoryRoot, kubepods, layout.version === 'v2' ? 'memory.max' : 'memory.limit_in_bytes'), String(256 * MiB));
      writeFileSync(path.join(layout.memoryRoot, pod, layout.version === 'v2' ? 'memory.max' : 'memory.limit_in_bytes'), String(192 * MiB));
      // A process that allocates 48 MiB only after it sits in the pod cgroup, so the charge lands there.
      child = spawn(process.execPath, ['-e', "process.stdin.once('data',()=>{globalThis.b=Buffer.alloc(48<<20,1);process.stdout.write('ready\\n')});setInterval(()=>{},1e6)"], { stdio: ['pipe', 'pipe', 'inherit'] });
      await once(child, 'spawn');
      writeFileSync(path.join(layout.memoryRoot, pod, 'cgroup.procs'), String(child.pid));
      child.stdin!.write('go\n');
      await once(child.stdout!, 'data');
    });

    after(async () => {
      if (child && child.exitCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
      for (const dir of created.reverse()) if (existsSync(dir)) rmdirSync(dir);
    });

    it('computes allocatableMemory.available from the limit and working set, as the independent computation does', () => {
      const reader = new EvictionSignalReader({ cgroupRoot: CGROUP_ROOT, cgroupDriver: 'auto', kubepodsCgroup: kubepods }, log);
      const memTotal = memTotalByAwk();
      const s1 = reader.read(memTotal);
      const independent = 256 * MiB - independentWorkingSet(layout, path.join(layout.memoryRoot, kubepods), false);
      const s2 = reader.read(memTotal);
      expect(s1.allocatableCapacityBytes, JSON.stringify(s1.problems)).to.equal(256 * MiB);
      between(independent, s1.allocatableAvailableBytes!, s2.allocatableAvailableBytes!, 4 * MiB);
      // The 48 MiB the process touched are in the pods cgroup's working set.
      expect(s1.podsWorkingSetBytes).to.be.at.least(48 * MiB);
      expect(s1.allocatableAvailableBytes).to.be.at.most(256 * MiB - 48 * MiB);
    });

    it('gives the shim the signals and the pod ceiling from the real cgroups: the loop sends no target above the ceiling', async () => {
      const tree = new KubeletTree();
      const shim = new Shim(testShimOptions(tree.root, { cgroupRoot: CGROUP_ROOT, kubepodsCgroup: kubepods, periodMs: 60_000 }), growAll);
      try {
        await tree.addVm('real-pod', { guestMemoryBytes: 256 * MiB, guaranteedMemoryBytes: 64 * MiB }, uid);
        await shim.start();
        expect(await waitFor(() => shim.registry.all().some((x) => x.state === 'live' && x.latest !== undefined))).to.equal(true);
        const result = (await shim.loop.runOnce()) as CycleResult;
        await result.settled;
        const sample = result.input.host.history.at(-1)!;
        expect(sample.kubeletMemoryAvailableBytes).to.be.within(0, sample.memTotalBytes);
        expect(sample.kubeletAllocatableAvailableBytes).to.be.at.most(256 * MiB - 48 * MiB);
        // The simulated guest holds all its 256 MiB as far as its balloon says; the pod cgroup (192 MiB) holds
        // the real process: overhead 0 (working set under actual), ceiling = 192 MiB - 0 - 64 MiB.
        const guest = result.input.guests[0]!;
        expect(guest.ceilingBytes).to.equal(128 * MiB);
        expect(result.records[0]).to.include({ targetBytes: 128 * MiB, bound: 'pod-ceiling' });
        const metrics = await shim.metrics.scrape();
        expect(metrics).to.match(/kubemom_host_eviction_signal_available_bytes\{signal="memory.available"\} \d+/);
        expect(metrics).to.match(/kubemom_host_eviction_signal_available_bytes\{signal="allocatableMemory.available"\} \d+/);
      } finally {
        await shim.stop();
        await tree.close();
      }
    });

    it("finds the pod's cgroup by UID and reads its limit and usage", () => {
      const reader = new EvictionSignalReader({ cgroupRoot: CGROUP_ROOT, cgroupDriver: 'auto', kubepodsCgroup: kubepods }, log);
      const found = reader.podCgroup(uid);
      expect(found?.relative).to.equal(pod);
      const memory = readCgroupMemory(found!.layout, found!.relative);
      expect(memory.ok && memory.value.limitBytes).to.equal(192 * MiB);
      if (memory.ok) {
        expect(memory.value.usageBytes).to.be.at.least(48 * MiB);
        expect(Number(readFileSync(path.join(layout.memoryRoot, pod, layout.version === 'v2' ? 'memory.current' : 'memory.usage_in_bytes'), 'utf8'))).to.be.at.least(48 * MiB);
      }
    });
  });
});
