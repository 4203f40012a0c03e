/**
 * Live migration between two real QEMU processes on this machine, as virt-launcher's
 * libvirt does it between two pods: a source running the test guest (TCG) and a target
 * started with `-incoming`, each with a KubeMom agent on its own side monitor, and the
 * test playing libvirt on a second monitor of each.
 *
 * Checked: the balloon size the agent set before migrating arrives intact; no target
 * moves while the migration runs (a SetTarget then is held with CLAMP_MIGRATING); both
 * agents report phase migrating; the target agent takes over; the source agent reports
 * the VM gone; the migration numbers are exported and kept after the migration.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AgentClient } from '../../src/api/client.js';
import { AgentService } from '../../src/agent/service.js';
import { QmpClient } from '../../src/qmp/index.js';
import { ensureGuestImage } from '../../testbed/guest-image.js';
import { runSidecar, type RunningSidecar } from '../../src/hook-sidecar/sidecar.js';
import type { VmConfig } from '../../src/hook-sidecar/vm-config.js';
import { MiB, SampleWatcher, type Sample } from '../agent/support.js';

const GUEST_MIB = 512;

interface Side {
  qemu: ChildProcess;
  control: QmpClient;
  sidecar: RunningSidecar;
  service: AgentService;
  client: AgentClient;
  watcher: SampleWatcher;
}

async function startSide(dir: string, name: string, kernel: { kernelPath: string; initrdPath: string; cmdline: string }, incoming: boolean): Promise<Side> {
  const sideDir = path.join(dir, name);
  const agentSocket = path.join(sideDir, 'agent-qmp.sock');
  const controlSocket = path.join(sideDir, 'control-qmp.sock');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(sideDir, { recursive: true });
  const args = [
    '-machine', 'q35', '-accel', 'tcg', '-m', String(GUEST_MIB), '-smp', '1',
    '-nodefaults', '-no-user-config', '-display', 'none',
    '-kernel', kernel.kernelPath, '-initrd', kernel.initrdPath, '-append', kernel.cmdline,
    '-serial', `file:${path.join(sideDir, 'serial.log')}`,
    '-device', 'virtio-balloon-pci,id=balloon0',
    // The side monitor KubeMom's domain rewrite adds, and libvirt's own.
    '-chardev', `socket,id=kubemom-qmp,path=${agentSocket},server=on,wait=off`, '-mon', 'chardev=kubemom-qmp,mode=control',
    '-qmp', `unix:${controlSocket},server=on,wait=off`,
    ...(incoming ? ['-incoming', 'defer'] : []),
  ];
  const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const control = new QmpClient({ socketPath: controlSocket, reconnect: { initialDelayMs: 50, maxDelayMs: 500 }, commandTimeoutMs: 30_000 });
  await control.connect();
  // libvirt turns on migration events on both sides.
  await control.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
  const service = new AgentService({ podUid: `00000000-0000-4000-8000-00000000000${incoming ? 2 : 1}` });
  const sidecar = await runSidecar({ hooksDir: path.join(sideDir, 'hooks'), qemuHooksDir: path.join(sideDir, 'hooks'), services: [service.service], onVmConfig: (c) => service.onVmConfig(c), onStop: () => service.stop() });
  const config: VmConfig = {
    identity: { namespace: 'testbed', name: 'migrating', uid: 'a1b2c3d4-0000-4000-8000-000000000001' },
    guestMemoryBytes: GUEST_MIB * MiB,
    settings: {
      guaranteedMemoryBytes: 256 * MiB, priority: 50, statsPeriodSeconds: 1, autodeflate: false, freePageReporting: undefined, policy: '',
      memoryMarginBytes: 64 * MiB, ioLimits: {}, ioThrottle: false,
    },
    qmpSocketPath: agentSocket,
  };
  // On a migration target the sidecar learns the same VM (OnDefineDomain runs in prepareMigrationTarget).
  service.onVmConfig(config);
  const client = new AgentClient(sidecar.server.socketPath);
  return { qemu, control, sidecar, service, client, watcher: new SampleWatcher(client) };
}

async function stopSide(side: Side | undefined): Promise<void> {
  if (!side) return;
  side.watcher.close();
  side.client.close();
  await side.sidecar.stop('test done');
  await side.control.close();
  if (side.qemu.exitCode === null && side.qemu.signalCode === null) {
    const exited = new Promise((resolve) => side.qemu.once('exit', resolve));
    side.qemu.kill('SIGKILL');
    await exited;
  }
}

describe('real-migration: a migrating VM keeps its balloon and the target agent takes over', function () {
  this.timeout(300_000);
  let dir: string;
  let source: Side | undefined;
  let target: Side | undefined;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'km-mig-'));
  });
  after(async () => {
    await stopSide(source);
    await stopSide(target);
    rmSync(dir, { recursive: true, force: true });
  });

  it('holds the balloon through the migration, arrives intact, and hands over', async () => {
    const image = await ensureGuestImage();
    source = await startSide(dir, 'src', image, false);
    // Numbers are exported before any migration: all zero.
    const first = await source.watcher.waitFor('a sample with migration numbers', (s) => s['migration'] != null, true);
    expect(first['migration']).to.include({ status: 'none', memory_total_bytes: 0, iteration: 0 });
    await source.watcher.waitFor('guest stats', (s) => s.guest !== null && s.phase === 'PHASE_RUNNING', true);

    // The shim reclaimed memory before the migration.
    const set = await source.client.setTarget({ target_bytes: 384 * MiB, reason: 'test' });
    expect(set['clamp'], String(set['clamp_detail'])).to.be.oneOf(['CLAMP_NONE', 'CLAMP_RATE_LIMIT']);
    await source.watcher.waitFor('balloon at 384 MiB', (s) => Math.abs(Number(s.balloon_actual_bytes) - 384 * MiB) <= 2 * MiB, true);

    target = await startSide(dir, 'dst', image, true);
    const incoming = await target.watcher.waitFor('target migrating (inmigrate)', (s) => s.phase === 'PHASE_MIGRATING', true);
    expect(incoming.phase).to.equal('PHASE_MIGRATING');

    // libvirt's part: incoming side listens, the source migrates and pauses before the switch-over.
    const uri = `unix:${path.join(dir, 'migration.sock')}`;
    await target.control.execute('migrate-incoming', { uri });
    await source.control.execute('migrate-set-capabilities', { capabilities: [{ capability: 'pause-before-switchover', state: true }] });
    const fromSample = source.watcher.samples.length;
    await source.control.execute('migrate', { uri });
    await source.watcher.waitFor('source migrating', (s) => s.phase === 'PHASE_MIGRATING');
    await waitForStatus(source.control, 'pre-switchover', 120_000);

    // Mid-migration the shim asks for more memory back: held, nothing sent.
    const held = await source.client.setTarget({ target_bytes: 300 * MiB, reason: 'test mid-migration' });
    expect(held['clamp']).to.equal('CLAMP_MIGRATING');
    expect(Number(held['applied_bytes'])).to.equal(384 * MiB);
    expect(Number(held['goal_bytes'])).to.equal(300 * MiB);
    const during = await source.watcher.waitFor('numbers while migrating', (s) => s.phase === 'PHASE_MIGRATING' && Number(s.migration?.memory_total_bytes) > 0, true);
    expect(during.migration?.status).to.be.oneOf(['active', 'pre-switchover', 'device']);

    await source.control.execute('migrate-continue', { state: 'pre-switchover' });
    await waitForStatus(source.control, 'completed', 120_000);

    // The source agent: the VM is gone from here, and the last numbers stay.
    const gone = await source.watcher.waitFor(
      'source gone after the migration',
      (s) => s.phase === 'PHASE_GONE' && s.migration?.status === 'completed',
      true,
    );
    expect(String(gone['unreachable_reason'])).to.contain('migrated away');
    const mig = gone.migration!;
    expect(mig.status).to.equal('completed');
    expect(Number(mig.memory_total_bytes)).to.be.at.least(GUEST_MIB * MiB * 0.9);
    expect(Number(mig.memory_processed_bytes)).to.be.greaterThan(0);
    expect(Number(mig['iteration'])).to.be.at.least(1);
    expect(Number(mig['downtime_seconds'])).to.be.greaterThan(0);
    // No target moved on the source from the migration's start to its end.
    const bySource = source.watcher.samples.slice(fromSample).map((s: Sample) => Number(s.balloon_target_bytes));
    expect(new Set(bySource)).to.deep.equal(new Set([384 * MiB]));

    // The target: running with the balloon size that left the source, and its agent in charge.
    await target.watcher.waitFor('target running with stats', (s) => s.phase === 'PHASE_RUNNING' && s.guest !== null, true);
    // A sample read after the switch-over: the one published on QEMU's RESUME event may carry the balloon size read
    // before the device state arrived. The balloon must not have moved since: the target agent sets nothing itself.
    const running = await target.watcher.waitFor('a target sample taken after it runs', (s) => s.phase === 'PHASE_RUNNING' && s.guest !== null);
    const moves = target.watcher.samples.map((s: Sample) => `${s.phase}:${Number(s.balloon_actual_bytes) / MiB}/${Number(s.balloon_target_bytes) / MiB}`);
    expect(Math.abs(Number(running.balloon_actual_bytes) - 384 * MiB), moves.join(' ')).to.be.at.most(2 * MiB);
    const taken = await target.client.setTarget({ target_bytes: 448 * MiB, reason: 'test after migration' });
    expect(taken['clamp']).to.equal('CLAMP_NONE');
    await target.watcher.waitFor('target balloon moved by its agent', (s) => Math.abs(Number(s.balloon_actual_bytes) - 448 * MiB) <= 2 * MiB, true);
  });
});

async function waitForStatus(control: QmpClient, status: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < end) {
    last = String(((await control.execute('query-migrate')) as { status?: string }).status);
    if (last === status) return;
    if (last === 'failed' || last === 'cancelled') throw new Error(`migration ${last}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`migration status ${last}, not ${status}, after ${timeoutMs} ms`);
}
