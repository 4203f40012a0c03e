/**
 * The agent against real guests: TCG QEMU under libvirt, started through the
 * sidecar's OnDefineDomain by the test bed, driven over real kubemom.v1 gRPC.
 */
import { expect } from 'chai';
import { AgentClient } from '../../src/api/client.js';
import { sharedTestbed, type Testbed } from '../../testbed/testbed.js';
import { MiB, REAL_GUEST_EVENT_DEADLINE_MS, startAgentVm, type AgentVm, type Sample } from './support.js';

type TargetReply = { applied_bytes: number; goal_bytes: number; clamp: string; clamp_detail: string; actual_bytes: number; phase: string };

/** Tolerance for guest stats against the guest's own /proc/meminfo, read within one period of each other. */
const STATS_TOLERANCE_BYTES = 8 * MiB;

describe('agent on a real guest: stats and balloon control', function () {
  this.timeout(180_000);
  let bed: Testbed;
  let a: AgentVm;

  before(async function () {
    this.timeout(600_000);
    bed = await sharedTestbed();
    // 512 MiB guest, 256 MiB guaranteed (its memory request), stats every second, no autodeflate:
    // the guest's MemTotal follows the balloon and over-inflation would kill it.
    a = await startAgentVm(bed, {
      name: 'agent-stats',
      memoryMiB: 512,
      requestMiB: 256,
      annotations: { 'kubemom.io/stats-period': '1', 'kubemom.io/autodeflate': 'false' },
    });
    await a.watcher.waitFor('phase RUNNING with guest stats', (s) => s.phase === 'PHASE_RUNNING' && s.guest !== null, true);
  });
  after(async () => {
    await a?.close();
  });

  it('Describe says who the VM is and how it may be ballooned', async () => {
    const d = await a.client.describe({ client_api_revision: 1 });
    expect(d['vm']).to.include({ namespace: a.vm.vmi.namespace, name: a.vm.vmi.name, uid: a.vm.vmi.uid });
    expect(d['guest_memory_bytes']).to.equal(512 * MiB);
    expect(d['guaranteed_memory_bytes']).to.equal(256 * MiB);
    expect(d['stats_period_seconds']).to.equal(1);
    expect(d['phase']).to.equal('PHASE_RUNNING');
    expect(d['autodeflate']).to.equal(false);
  });

  it(`streams one sample per period that matches the guest's /proc/meminfo within ${STATS_TOLERANCE_BYTES / MiB} MiB`, async () => {
    const first = a.watcher.samples.length;
    const meminfo = await a.vm.console.meminfo();
    const s = await a.watcher.settle();
    const g = s.guest!;
    expect(Math.abs(g['total_bytes']! - meminfo['MemTotal']!)).to.be.at.most(STATS_TOLERANCE_BYTES);
    expect(Math.abs(g['available_bytes']! - meminfo['MemAvailable']!)).to.be.at.most(STATS_TOLERANCE_BYTES);
    expect(Math.abs(g['free_bytes']! - meminfo['MemFree']!)).to.be.at.most(STATS_TOLERANCE_BYTES);
    expect(s['balloon_actual_bytes']).to.equal(512 * MiB);
    expect(s['stale']).to.equal(false);
    // One sample per period (1 s), not a burst: five more samples, each at least half a period after the one before.
    // (The guest answers QEMU's poll when it is scheduled, so a late sample can be followed by an on-time one a
    // little under a period later; how late or early on a loaded machine is no test's business.)
    const from = a.watcher.samples.length;
    await a.watcher.waitFor('five more samples', () => a.watcher.samples.length >= from + 5);
    // (A re-opened stream repeats the latest sample: count each sample once.)
    const times = [...new Set(a.watcher.samples.slice(Math.max(first, from - 1)).map((x) => Number(x['sampled_at_unix_ms'])))];
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!, `sample ${i} after the one before`).to.be.at.least(500);
  });

  it('SetTarget shrinks the guest (its MemTotal drops) and grows it back', async () => {
    const before = (await a.vm.console.meminfo())['MemTotal']!;
    const r = await a.client.setTarget({ target_bytes: 320 * MiB, reason: 'test shrink' });
    expect(r.goal_bytes).to.equal(320 * MiB);
    expect(r.applied_bytes).to.equal(384 * MiB); // one 128 MiB step at a 1 s period
    expect(r.clamp).to.equal('CLAMP_RATE_LIMIT');
    await a.watcher.waitFor('actual 320 MiB', (s) => s['balloon_actual_bytes'] === 320 * MiB);
    const shrunk = (await a.vm.console.meminfo())['MemTotal']!;
    expect(before - shrunk).to.be.within(192 * MiB - 4 * MiB, 192 * MiB + 4 * MiB);

    const back = await a.client.setTarget({ target_bytes: 512 * MiB, reason: 'test grow' });
    expect(back.applied_bytes).to.equal(512 * MiB);
    expect(back.clamp).to.equal('CLAMP_NONE');
    await a.watcher.waitFor('actual 512 MiB', (s) => s['balloon_actual_bytes'] === 512 * MiB);
    expect((await a.vm.console.meminfo())['MemTotal']).to.equal(before);
  });

  it('clamps a target under the guaranteed memory, and one under the guest need, with the reason', async () => {
    await a.watcher.settle();
    const g = await a.client.setTarget({ target_bytes: 4096, reason: 'test guaranteed' });
    expect(g.clamp).to.equal('CLAMP_GUARANTEED');
    expect(g.goal_bytes).to.equal(256 * MiB);
    expect(g.clamp_detail).to.contain('guaranteed');
    await a.watcher.waitFor('actual 256 MiB', (s) => s['balloon_actual_bytes'] === 256 * MiB);
    await a.client.setTarget({ target_bytes: 512 * MiB, reason: 'test grow' });
    await a.watcher.waitFor('actual 512 MiB', (s) => s['balloon_actual_bytes'] === 512 * MiB);

    await a.vm.console.alloc(300);
    await a.watcher.settle();
    try {
      const meminfo = await a.vm.console.meminfo();
      const n = await a.client.setTarget({ target_bytes: 200 * MiB, reason: 'test need' });
      expect(n.clamp).to.equal('CLAMP_GUEST_NEED');
      expect(n.clamp_detail).to.contain('need');
      // Never under what the guest holds: the goal leaves the margin above its use.
      const used = 512 * MiB - meminfo['MemAvailable']!;
      expect(n.goal_bytes).to.be.at.least(used + 64 * MiB - STATS_TOLERANCE_BYTES);
      // The agent gives the margin back over its next periods: wait for it, do not sleep and hope.
      let after = await a.vm.console.meminfo();
      for (const end = Date.now() + REAL_GUEST_EVENT_DEADLINE_MS; after['MemAvailable']! < 64 * MiB - STATS_TOLERANCE_BYTES && Date.now() < end; ) {
        await new Promise((r) => setTimeout(r, 500));
        after = await a.vm.console.meminfo();
      }
      expect(after['MemAvailable']).to.be.at.least(64 * MiB - STATS_TOLERANCE_BYTES);
    } finally {
      await a.vm.console.free();
      await a.client.setTarget({ target_bytes: 512 * MiB, reason: 'test reset' });
    }
  });

  it('gives memory back to a guest that allocates under an inflated balloon before its OOM killer fires', async () => {
    await a.watcher.waitFor('actual 512 MiB', (s) => s['balloon_actual_bytes'] === 512 * MiB, true);
    await a.watcher.settle();
    const r = await a.client.setTarget({ target_bytes: 256 * MiB, reason: 'test inflate' });
    expect(r.goal_bytes).to.equal(256 * MiB);
    await a.watcher.waitFor('actual 256 MiB', (s) => s['balloon_actual_bytes'] === 256 * MiB);
    const start = a.watcher.samples.length;
    // 320 MiB more than the guest then had free, 16 MiB at a time: a workload growing at ~10-20 MiB/s.
    let held = 0;
    for (let i = 0; i < 20; i++) {
      held = await a.vm.console.alloc(16);
      await new Promise((res) => setTimeout(res, 500));
    }
    expect(held).to.equal(320);
    const kernelLog = (await a.vm.console.run('dmesg')).join('\n');
    expect(kernelLog).to.not.match(/Out of memory|oom-kill|invoked oom-killer/i);
    const protectedSamples = a.watcher.samples.slice(start).filter((s) => String(s['self_protection_reason']).includes('pressure'));
    expect(protectedSamples.length, 'the agent reported giving memory back').to.be.greaterThan(0);
    const last = a.watcher.latest as Sample;
    // It gave back well over what the guest had free when the allocation started.
    expect(Number(last['balloon_actual_bytes'])).to.be.greaterThan(256 * MiB + 128 * MiB);
    // While the guest shows pressure the agent refuses to take memory, and says why.
    const refused = await a.client.setTarget({ target_bytes: 256 * MiB, reason: 'test refused' });
    expect(refused.clamp).to.be.oneOf(['CLAMP_GUEST_PRESSURE', 'CLAMP_GUEST_NEED']);
    await a.vm.console.free();
  });
});
