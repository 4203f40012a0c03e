/**
 * The real-node run's own arithmetic, apart from guests and cgroups (real-node.test.ts runs
 * the whole): the kubelet's allocatable signal from cgroup file texts, the played node's
 * meminfo, the script's guest commands, the figures and the report.
 */
import { expect } from 'chai';
import { allocatableAvailable, parseLimit, parseSample, workingSetOf } from '../../testbed/real-node/cgroup-sample.js';
import { memoryFiles, ownMemoryCgroup } from '../../testbed/real-node/cgroup-tree.js';
import { runFigures, type NodePoint } from '../../testbed/real-node/figures.js';
import { nodeSample } from '../../testbed/real-node/node-view.js';
import { formatRealNodeReport } from '../../testbed/real-node/report.js';
import type { RealNodeResult } from '../../testbed/real-node/run.js';
import { diskMiB, guestSteps, REAL_NODE_SCRIPT } from '../../testbed/real-node/script.js';
import { realNodeScenario, simFigures, simulatorComparison } from '../../testbed/real-node/sim-compare.js';

const MiB = 2 ** 20;

const V1_STAT = ['cache 300', 'rss 50', 'total_cache 4000', 'total_rss 6000', 'total_inactive_file 1500', 'total_active_file 2500', 'inactive_file 7'].join('\n');

describe('real node: the kubelet signal from cgroup files', () => {
  it('v1: working set = usage - total_inactive_file, allocatable = limit - working set; OOM kills from oom_control', () => {
    const s = parseSample('v1', { usage: '10000\n', limit: '12000\n', stat: V1_STAT, oomEvents: 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n' });
    expect(s).to.deep.equal({ usageBytes: 10000, limitBytes: 12000, inactiveFileBytes: 1500, fileBytes: 4000, anonBytes: 6000, oomKills: 2 });
    expect(workingSetOf(s)).to.equal(8500);
    expect(allocatableAvailable(s)).to.equal(3500);
  });

  it('v2: memory.current, memory.max, inactive_file, memory.events', () => {
    const s = parseSample('v2', { usage: '900', limit: 'max', stat: 'anon 500\nfile 400\ninactive_file 100\n', oomEvents: 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n' });
    expect(s).to.include({ usageBytes: 900, limitBytes: undefined, inactiveFileBytes: 100, fileBytes: 400, anonBytes: 500, oomKills: 1 });
    expect(() => allocatableAvailable(s)).to.throw(/no memory limit/);
  });

  it('the working set never goes below 0; v1 "no limit" is above 2^62; garbage is named', () => {
    expect(workingSetOf(parseSample('v2', { usage: '10', limit: '20', stat: 'inactive_file 50', oomEvents: '' }))).to.equal(0);
    expect(parseLimit('9223372036854771712')).to.equal(undefined);
    expect(() => parseLimit('lots')).to.throw(/byte count or "max", got "lots"/);
    expect(() => parseSample('v1', { usage: 'x', limit: '1', stat: '', oomEvents: '' })).to.throw(/usage must be a byte count, got "x"/);
  });

  it('finds the memory cgroup of a process on v1 and v2, and names the files by version', () => {
    expect(ownMemoryCgroup('v1', '9:name=systemd:/\n4:memory:/process_api/abc\n0::/\n')).to.equal('/process_api/abc');
    expect(ownMemoryCgroup('v1', '5:cpu,memory:/x\n')).to.equal('/x');
    expect(ownMemoryCgroup('v2', '0::/user.slice/session-1.scope\n')).to.equal('/user.slice/session-1.scope');
    expect(() => ownMemoryCgroup('v1', '0::/\n')).to.throw(/names no memory cgroup/);
    expect(memoryFiles('v1', '/c').oomEvents).to.equal('/c/memory.oom_control');
    expect(memoryFiles('v2', '/c')).to.deep.equal({ usage: '/c/memory.current', limit: '/c/memory.max', stat: '/c/memory.stat', oomEvents: '/c/memory.events' });
  });
});

describe('real node: the played node', () => {
  it('MemTotal is the pods limit plus the reservations; memory.available then equals allocatableMemory.available', () => {
    const pods = parseSample('v1', { usage: String(1500 * MiB), limit: String(2048 * MiB), stat: `total_cache ${400 * MiB}\ntotal_rss ${1100 * MiB}\ntotal_inactive_file ${300 * MiB}`, oomEvents: '' });
    const reserved = 256 * MiB;
    const h = nodeSample(pods, reserved, 0);
    expect(h.memTotalBytes).to.equal(2304 * MiB);
    expect(h.memFreeBytes).to.equal((2304 - 256 - 1500) * MiB);
    expect(h.memAvailableBytes).to.equal((548 + 300 + 50) * MiB);
    // The kubelet's memory.available on that node: capacity - (system + pods working set).
    expect(h.memTotalBytes - reserved - workingSetOf(pods)).to.equal(allocatableAvailable(pods));
  });
});

describe('real node: the script', () => {
  it('turns workloads into timed guest commands in time order', () => {
    const steps = guestSteps(
      {
        name: 'g',
        memoryMiB: 512,
        requestMiB: 128,
        workloads: [
          { kind: 'anon', atSeconds: 5, mib: 40, stepMiB: 16, everySeconds: 1 },
          { kind: 'burst', atSeconds: 6, mib: 100, holdSeconds: 10 },
          { kind: 'page-cache', atSeconds: 2, mib: 300 },
        ],
      },
      60,
    );
    expect(steps.map((s) => s.atSeconds)).to.deep.equal([2, 5, 6, 6, 7, 16]);
    expect(steps[0]!.command).to.match(/^sleep 1000000 <\/dev\/vda .*& dd if=\/dev\/vda of=\/dev\/null bs=1048576 count=300/);
    expect(steps.filter((s) => s.label === 'anon step').map((s) => /count=([0-9]+)/.exec(s.command)![1])).to.deep.equal(['16', '16', '8']);
    expect(steps.at(-1)!.command).to.equal('rm -f /hog/burst.*');
  });

  it('a leak steps until the end; a page-cache guest gets a disk larger than its read', () => {
    const leak = guestSteps({ name: 'l', memoryMiB: 512, requestMiB: 128, workloads: [{ kind: 'leak', atSeconds: 5, stepMiB: 8, everySeconds: 4 }] }, 21);
    expect(leak.map((s) => s.atSeconds)).to.deep.equal([5, 9, 13, 17]);
    expect(diskMiB(REAL_NODE_SCRIPT.guests[0]!)).to.be.above(320);
    expect(diskMiB(REAL_NODE_SCRIPT.guests[3]!)).to.equal(0);
  });
});

describe('real node: figures', () => {
  const point = (t: number, availMiB: number): NodePoint => ({ tSeconds: t, availableBytes: availMiB * MiB, workingSetBytes: 0 });
  const base = { balloons: [], guestMemoryBytes: {}, evictionHardBytes: 100 * MiB, reserveBytes: 600 * MiB, squeeze: { startSeconds: 10, endSeconds: 40 } };

  it('time under the threshold and the reserve, each point counting until the next; the lowest point', () => {
    const f = runFigures({ ...base, node: [point(0, 800), point(10, 500), point(12, 50), point(15, 700), point(20, 700)] });
    expect(f.underReserveSeconds).to.equal(5);
    expect(f.underThresholdSeconds).to.equal(3);
    expect(f.minAvailableBytes).to.equal(50 * MiB);
    expect(f.recoverySeconds).to.equal(5);
  });

  it('recovery: 0 without a dip in the squeeze, counted from the squeeze when already under, undefined when never back', () => {
    expect(runFigures({ ...base, node: [point(0, 800), point(20, 800), point(50, 100), point(60, 800)] }).recoverySeconds).to.equal(0);
    expect(runFigures({ ...base, node: [point(5, 100), point(12, 100), point(18, 900)] }).recoverySeconds).to.equal(8);
    expect(runFigures({ ...base, node: [point(5, 900), point(12, 100), point(50, 100)] }).recoverySeconds).to.equal(undefined);
  });

  it('reclaimed memory: guest memory less balloon actual, at its peak and over the squeeze', () => {
    const f = runFigures({
      ...base,
      node: [point(0, 800)],
      guestMemoryBytes: { a: 512 * MiB, b: 512 * MiB },
      balloons: [
        { tSeconds: 0, actualBytes: { a: 512 * MiB, b: 512 * MiB } },
        { tSeconds: 20, actualBytes: { a: 256 * MiB, b: 384 * MiB } },
        { tSeconds: 30, actualBytes: { a: 512 * MiB } },
      ],
    });
    expect(f.peakReclaimedBytes).to.equal(384 * MiB);
    expect(f.meanReclaimedInSqueezeBytes).to.equal(192 * MiB);
  });
});

describe('real node: the report', () => {
  it('one row per policy with ratios against static', () => {
    const result = (policy: 'static' | 'default', under: number, oom: number): RealNodeResult => ({
      policy,
      figures: { underThresholdSeconds: under, underReserveSeconds: 2 * under, minAvailableBytes: 64 * MiB, peakReclaimedBytes: 0, meanReclaimedInSqueezeBytes: 0, recoverySeconds: under === 0 ? 0 : undefined },
      kubepodsOomKills: oom,
      noisyOomKills: 0,
      guests: [{ name: 'a', running: oom === 0, podOomKills: oom, guestOomKills: undefined, consoleOomLines: 0 }],
      node: [],
      balloons: [],
      pods: [],
      reserveBytes: 612 * MiB,
      failedSteps: 0,
    });
    const text = formatRealNodeReport([result('static', 20, 1), result('default', 5, 0)], 60);
    const [head, stat, def] = text.split('\n');
    expect(head).to.match(/^policy\s+cgroup OOM kills/);
    expect(stat).to.match(/^static\s+1\s+0\s+1\s+64\s+20\.0\s+40\.0\s+60\+/);
    expect(def).to.match(/^default\s+0\s+0\s+0\s+64\s+5\.0\s+10\.0\s+60\+ .*0\.25x\s+0\.25x\s+-$/);
  });
});

describe('real node: the mirror scenario', () => {
  it('matches the script: node size, threshold, stats period, duration, guest memory and requests', () => {
    const s = realNodeScenario();
    const MiBs = (b: number): number => b / MiB;
    expect(MiBs(s.node.memoryBytes)).to.equal(REAL_NODE_SCRIPT.kubepodsLimitMiB + REAL_NODE_SCRIPT.reservedMiB);
    expect(MiBs(s.node.systemBytes)).to.equal(REAL_NODE_SCRIPT.reservedMiB);
    expect(MiBs(s.node.evictionHardBytes)).to.equal(REAL_NODE_SCRIPT.evictionHardMiB);
    expect(s.statsPeriodMs).to.equal(REAL_NODE_SCRIPT.statsPeriodSeconds * 1000);
    expect(s.durationMs).to.equal(REAL_NODE_SCRIPT.durationSeconds * 1000);
    const vms = s.groups.filter((g) => g.name !== 'noisy');
    expect(vms.map((g) => [g.name, MiBs(g.memoryBytes), MiBs(g.guaranteedBytes)])).to.deep.equal(REAL_NODE_SCRIPT.guests.map((g) => [g.name, g.memoryMiB, g.requestMiB]));
    expect(MiBs(s.groups.find((g) => g.name === 'noisy')!.memoryBytes)).to.equal(REAL_NODE_SCRIPT.noisy.limitMiB);
  });

  it('static reclaims nothing in the simulator either; the table sets simulated beside real per policy', () => {
    expect(simFigures(realNodeScenario(), 'static').peakReclaimedBytes).to.equal(0);
    const real: RealNodeResult = {
      policy: 'static',
      figures: { underThresholdSeconds: 15, underReserveSeconds: 100, minAvailableBytes: 47 * MiB, peakReclaimedBytes: 0, meanReclaimedInSqueezeBytes: 0, recoverySeconds: 60 },
      kubepodsOomKills: 1,
      noisyOomKills: 0,
      guests: [],
      node: [],
      balloons: [],
      pods: [],
      reserveBytes: 612 * MiB,
      failedSteps: 0,
    };
    const lines = simulatorComparison([real]).split('\n');
    expect(lines[0]).to.match(/^simulator \(real-node, seed 1\)/);
    expect(lines[2]).to.match(/^static\s+0\s+0\s+\+0\s+100\.0\s/);
  });
});
