/**
 * Memory hotplug as KubeVirt v1.6+ does it, on a real TCG guest: boot RAM plus a virtio-mem
 * device whose requested-size the test changes (KubeVirt's part), while KubeMom holds the
 * balloon at a reclaimed size. QEMU's balloon counts boot RAM only; the agent must report
 * the whole guest and keep what it reclaimed. Every number is checked against the guest's
 * own MemTotal, and requested-size is never touched by the agent.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AgentClient } from '../../src/api/client.js';
import { AgentService } from '../../src/agent/service.js';
import { runSidecar, type RunningSidecar } from '../../src/hook-sidecar/sidecar.js';
import type { VmConfig } from '../../src/hook-sidecar/vm-config.js';
import { QmpClient } from '../../src/qmp/index.js';
import { GuestConsole } from '../../testbed/guest-console.js';
import { ensureGuestImage } from '../../testbed/guest-image.js';
import { MiB, SampleWatcher, type Sample } from '../agent/support.js';

const BOOT_MIB = 512;

describe('real-hotplug: a virtio-mem hotplug while KubeMom holds the balloon', function () {
  this.timeout(300_000);
  let dir: string;
  let qemu: ChildProcess | undefined;
  let control: QmpClient | undefined;
  let sidecar: RunningSidecar | undefined;
  let client: AgentClient | undefined;
  let watcher: SampleWatcher | undefined;
  let console_: GuestConsole | undefined;

  after(async () => {
    watcher?.close();
    client?.close();
    console_?.close();
    await sidecar?.stop('test done');
    await control?.close();
    if (qemu && qemu.exitCode === null && qemu.signalCode === null) {
      const exited = new Promise((resolve) => qemu!.once('exit', resolve));
      qemu.kill('SIGKILL');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reports boot + plugged memory, keeps the reclaimed amount, and matches the guest', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'km-hp-'));
    const image = await ensureGuestImage();
    const agentSocket = path.join(dir, 'agent-qmp.sock');
    const controlSocket = path.join(dir, 'control-qmp.sock');
    const serial = path.join(dir, 'serial0');
    qemu = spawn(
      'qemu-system-x86_64',
      [
        '-machine', 'q35', '-accel', 'tcg', '-smp', '1',
        // As KubeVirt's converter does for a hotplug-eligible VMI: boot memory, a maximum, a virtio-mem device.
        '-m', `${BOOT_MIB}M,maxmem=${BOOT_MIB + 1024}M`,
        '-object', 'memory-backend-ram,id=vmem0,size=1G', '-device', 'virtio-mem-pci,id=ua-virtio-mem,memdev=vmem0,requested-size=0,block-size=2M',
        '-device', 'virtio-balloon-pci,id=balloon0',
        '-nodefaults', '-no-user-config', '-display', 'none',
        '-kernel', image.kernelPath, '-initrd', image.initrdPath, '-append', `${image.cmdline} memhp_default_state=online_movable`,
        '-chardev', `socket,id=ser0,path=${serial},server=on,wait=off`, '-serial', 'chardev:ser0',
        '-chardev', `socket,id=kubemom-qmp,path=${agentSocket},server=on,wait=off`, '-mon', 'chardev=kubemom-qmp,mode=control',
        '-qmp', `unix:${controlSocket},server=on,wait=off`,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    control = new QmpClient({ socketPath: controlSocket, reconnect: { initialDelayMs: 50, maxDelayMs: 500 }, commandTimeoutMs: 30_000 });
    await control.connect();
    const service = new AgentService({ podUid: '00000000-0000-4000-8000-0000000000a1' });
    sidecar = await runSidecar({ hooksDir: path.join(dir, 'hooks'), qemuHooksDir: path.join(dir, 'hooks'), services: [service.service], onVmConfig: (c) => service.onVmConfig(c), onStop: () => service.stop() });
    const config: VmConfig = {
      identity: { namespace: 'testbed', name: 'hotplug', uid: 'a1b2c3d4-0000-4000-8000-0000000000a1' },
      guestMemoryBytes: BOOT_MIB * MiB,
      settings: {
        guaranteedMemoryBytes: 256 * MiB, priority: 50, statsPeriodSeconds: 1, autodeflate: false, freePageReporting: undefined, policy: '',
        memoryMarginBytes: 64 * MiB, ioLimits: {}, ioThrottle: false,
      },
      qmpSocketPath: agentSocket,
    };
    service.onVmConfig(config);
    client = new AgentClient(sidecar.server.socketPath);
    watcher = new SampleWatcher(client);
    console_ = new GuestConsole(serial);
    await console_.connect(120_000);
    await watcher.waitFor('guest stats', (s) => s.guest !== null && s.phase === 'PHASE_RUNNING', true);
    const bootTotal = (await console_.meminfo()).MemTotal!;
    // The kernel's own reserve: boot RAM the guest never sees in MemTotal.
    const reserve = BOOT_MIB * MiB - bootTotal;

    // KubeMom reclaims 128 MiB.
    await client.setTarget({ target_bytes: (BOOT_MIB - 128) * MiB, reason: 'test' });
    await watcher.waitFor('balloon at 384 MiB', (s) => Math.abs(Number(s.balloon_actual_bytes) - 384 * MiB) <= 2 * MiB, true);
    expect(Math.abs((await console_.meminfo()).MemTotal! - (384 * MiB - reserve))).to.be.at.most(4 * MiB);

    // KubeVirt hotplugs 256 MiB (virtio-mem requested-size).
    await control.execute('qom-set', { path: '/machine/peripheral/ua-virtio-mem', property: 'requested-size', value: 256 * MiB });
    const plugged = await watcher.waitFor(
      'virtio-mem plugged',
      (s) => Number((s['memory'] as Record<string, number> | null)?.['plugged_memory_bytes']) === 256 * MiB,
    );
    const memory = plugged['memory'] as { boot_memory_bytes: number; guest_memory_bytes: number; virtio_mem: Array<Record<string, number | string>> };
    expect(Number(memory.boot_memory_bytes)).to.equal(BOOT_MIB * MiB);
    expect(Number(memory.guest_memory_bytes)).to.equal((BOOT_MIB + 256) * MiB);
    expect(memory.virtio_mem).to.have.length(1);
    expect(memory.virtio_mem[0]).to.include({ id: 'ua-virtio-mem' });
    expect(Number(memory.virtio_mem[0]!['size_bytes'])).to.equal(256 * MiB);
    expect(Number(memory.virtio_mem[0]!['requested_size_bytes'])).to.equal(256 * MiB);
    // The balloon still holds the 128 MiB: actual counts the whole guest.
    const after = await watcher.waitFor('actual with the plugged memory', (s: Sample) => Math.abs(Number(s.balloon_actual_bytes) - (384 + 256) * MiB) <= 2 * MiB, true);
    expect(Number(after.balloon_target_bytes)).to.be.closeTo((384 + 256) * MiB, 2 * MiB);
    const guestNow = (await console_.meminfo()).MemTotal!;
    expect(Math.abs(guestNow - ((384 + 256) * MiB - reserve))).to.be.at.most(4 * MiB);
    const described = await client.describe({ client_api_revision: 1, client_version: 'test' });
    expect(Number(described['guest_memory_bytes'])).to.equal((BOOT_MIB + 256) * MiB);

    // Giving everything back reaches the whole guest, boot + plugged.
    const full = await client.setTarget({ target_bytes: (BOOT_MIB + 256) * MiB, reason: 'test' });
    expect(Number(full['applied_bytes'])).to.equal((BOOT_MIB + 256) * MiB);
    await watcher.waitFor('balloon fully deflated', (s) => Math.abs(Number(s.balloon_actual_bytes) - (BOOT_MIB + 256) * MiB) <= 2 * MiB, true);
    expect(Math.abs((await console_.meminfo()).MemTotal! - ((BOOT_MIB + 256) * MiB - reserve))).to.be.at.most(4 * MiB);
    // QEMU's own balloon numbers are relative to boot RAM; KubeVirt's requested-size is untouched.
    expect(Math.abs(((await control.execute('query-balloon')) as { actual: number }).actual - BOOT_MIB * MiB)).to.be.at.most(2 * MiB);
    expect(await control.execute('qom-get', { path: '/machine/peripheral/ua-virtio-mem', property: 'requested-size' })).to.equal(256 * MiB);
  });
});
