/**
 * The agent when its VM misbehaves: paused, frozen (SIGSTOP), killed and restarted,
 * destroyed and started again. It must time out, report, never crash, and recover.
 */
import { expect } from 'chai';
import { AgentClient } from '../../src/api/client.js';
import { run } from '../../testbed/exec.js';
import { LIBVIRT_URI } from '../../testbed/virsh.js';
import { sharedTestbed } from '../../testbed/testbed.js';
import { MiB, qemuPid, startAgentVm, type AgentVm } from './support.js';

type TargetReply = { applied_bytes: number; goal_bytes: number; clamp: string; actual_bytes: number; phase: string };

function virsh(...args: string[]): Promise<unknown> {
  return run('virsh', ['-q', '-c', LIBVIRT_URI, ...args], { timeoutMs: 60_000 });
}

describe('agent on a real guest: pause, freeze, kill, destroy', function () {
  this.timeout(180_000);
  let a: AgentVm;

  before(async function () {
    this.timeout(600_000);
    const bed = await sharedTestbed();
    a = await startAgentVm(bed, { name: 'agent-life', memoryMiB: 384, requestMiB: 192, annotations: { 'kubemom.io/stats-period': '1' } });
    await a.watcher.waitFor('phase RUNNING', (s) => s.phase === 'PHASE_RUNNING' && s.guest !== null, true);
  });
  after(async () => {
    await a?.close();
  });

  it('dates the running phase from when it saw the guest driver report (not begun earlier), also in Describe', async () => {
    const running = a.watcher.samples.filter((s) => s.phase === 'PHASE_RUNNING');
    const since = running[0]!['phase_since_unix_ms'] as number;
    expect(since).to.be.greaterThan(0).and.at.most(running[0]!['sampled_at_unix_ms'] as number);
    for (const s of running) expect(s).to.include({ phase_since_unix_ms: since, phase_began_earlier: false });
    const d = await a.client.describe({});
    expect(d).to.include({ phase: 'PHASE_RUNNING', phase_since_unix_ms: since, phase_began_earlier: false });
  });

  it('reports a paused guest, refuses to take memory from it, and follows its resume', async () => {
    await virsh('suspend', a.vm.domainName);
    await a.watcher.waitFor('phase PAUSED', (s) => s.phase === 'PHASE_PAUSED');
    const r = await a.client.setTarget({ target_bytes: 200 * MiB, reason: 'test paused' });
    expect(r.clamp).to.equal('CLAMP_NOT_RUNNING');
    expect(r.phase).to.equal('PHASE_PAUSED');
    expect(r.applied_bytes).to.equal(384 * MiB);
    const resumedAt = Date.now();
    await virsh('resume', a.vm.domainName);
    const resumed = await a.watcher.waitFor('phase RUNNING', (s) => s.phase === 'PHASE_RUNNING');
    // Running again since the resume, which the agent saw.
    expect(resumed['phase_since_unix_ms']).to.be.within(resumedAt, resumed['sampled_at_unix_ms'] as number);
    expect(resumed['phase_began_earlier']).to.equal(false);
  });

  it('times out on a frozen QEMU (SIGSTOP), reports it gone with the reason, and recovers on SIGCONT', async () => {
    const pid = qemuPid(a.vm.domainName);
    process.kill(pid, 'SIGSTOP');
    try {
      const gone = await a.watcher.waitFor('phase GONE', (s) => s.phase === 'PHASE_GONE');
      expect(String(gone['unreachable_reason'])).to.match(/no reply within/);
      const d = await a.client.describe({});
      expect(d['phase']).to.equal('PHASE_GONE');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await a.watcher.waitFor('phase RUNNING', (s) => s.phase === 'PHASE_RUNNING' && s.guest !== null);
  });

  it('reports QEMU killed (stale socket), survives, and reconnects when the VM starts again', async () => {
    await a.client.setTarget({ target_bytes: 300 * MiB, reason: 'before kill' });
    process.kill(qemuPid(a.vm.domainName), 'SIGKILL');
    await a.watcher.waitFor('phase GONE', (s) => s.phase === 'PHASE_GONE');
    // The sidecar still answers.
    const d = await a.client.describe({});
    expect(d['phase']).to.equal('PHASE_GONE');
    const r = await a.client.setTarget({ target_bytes: 200 * MiB, reason: 'while gone' });
    expect(r.clamp).to.equal('CLAMP_NOT_RUNNING');
    await new Promise((res) => setTimeout(res, 3000));
    expect(a.watcher.latest?.phase).to.equal('PHASE_GONE');
    const startedAt = Date.now();
    await virsh('start', a.vm.domainName);
    const back = await a.watcher.waitFor('phase RUNNING after restart', (s) => s.phase === 'PHASE_RUNNING' && s.guest !== null);
    // The new QEMU's guest is running since its driver first reported, seen by the agent.
    expect(back['phase_since_unix_ms']).to.be.within(startedAt, back['sampled_at_unix_ms'] as number);
    expect(back['phase_began_earlier']).to.equal(false);
    // A new QEMU starts with its full memory; the agent forgot the old target.
    expect(back['balloon_actual_bytes']).to.equal(384 * MiB);
    expect(back['balloon_target_bytes']).to.equal(0);
  });

  it('reports a destroyed guest as stopping then gone, and follows it when it starts again', async () => {
    const from = a.watcher.samples.length;
    await virsh('destroy', a.vm.domainName);
    await a.watcher.waitFor('phase GONE', (s) => s.phase === 'PHASE_GONE');
    const phases = a.watcher.samples.slice(from).map((s) => s.phase);
    expect(phases).to.include('PHASE_GONE');
    await virsh('start', a.vm.domainName);
    await a.watcher.waitFor('phase STARTING or RUNNING', (s) => s.phase === 'PHASE_STARTING' || s.phase === 'PHASE_RUNNING');
    await a.watcher.waitFor('phase RUNNING', (s) => s.phase === 'PHASE_RUNNING' && s.guest !== null);
    // And it balloons again.
    const r = await a.client.setTarget({ target_bytes: 320 * MiB, reason: 'after restart' });
    expect(r.applied_bytes).to.equal(320 * MiB);
    await a.watcher.waitFor('actual 320 MiB', (s) => s['balloon_actual_bytes'] === 320 * MiB);
  });
});
