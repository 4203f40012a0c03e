/**
 * IO tune end to end: the node shim (default policy) finds a real guest's sidecar in a
 * kubelet-style tree, sees IO pressure, throttles the opted-in VM's disk through
 * kubemom.v1 SetIoLimits (QMP block_set_io_throttle), and lifts it when the pressure ends;
 * the guest's own dd measures the effect, and the shim's metrics show the limits.
 *
 * The IO PSI file is a simulated one the test writes (the model is the point: this
 * shared machine's real IO pressure comes and goes with other jobs); the shim reads it
 * exactly as /proc/pressure/io.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPolicy } from '../../src/policy/registry.js';
import { Shim } from '../../src/shim/shim.js';
import { sharedTestbed, type Testbed } from '../../testbed/testbed.js';
import * as virsh from '../../testbed/virsh.js';
import { MiB, startAgentVm, type AgentVm } from '../agent/support.js';
import { waitFor } from '../shim/kubelet-tree.js';

const POD_UID = '00000000-0000-4000-8000-000000000000';

function psiText(someAvg10: number, someAvg60: number): string {
  return `some avg10=${someAvg10.toFixed(2)} avg60=${someAvg60.toFixed(2)} avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n`;
}

async function qemuBps(domain: string): Promise<number> {
  const blocks = (await virsh.qemuMonitorCommand(domain, 'query-block')) as Array<{ qdev?: string; inserted?: { bps?: number } }>;
  return blocks.find((b) => b.qdev?.includes('ua-data'))?.inserted?.bps ?? -1;
}

async function guestWriteMiBps(a: AgentVm, mib: number): Promise<number> {
  const out = (await a.vm.console.run(`t0=$(cut -d' ' -f1 /proc/uptime); dd if=/dev/zero of=/dev/vda bs=1048576 count=${mib} oflag=direct 2>/dev/null; t1=$(cut -d' ' -f1 /proc/uptime); echo "elapsed $t0 $t1"`)).join('\n');
  const m = /elapsed ([0-9.]+) ([0-9.]+)/.exec(out);
  if (!m) throw new Error(`no timing from the guest: ${out}`);
  return mib / Math.max(Number(m[2]) - Number(m[1]), 0.01);
}

describe('IO tune end to end: the shim throttles a real guest under IO pressure and lifts it after', function () {
  this.timeout(240_000);
  let bed: Testbed;
  let a: AgentVm;
  let shim: Shim<unknown> | undefined;
  let dir: string;
  let psiFile: string;

  before(async function () {
    this.timeout(600_000);
    bed = await sharedTestbed();
    // Priority 50: the default policy's throttle is ioThrottleBytesSec as given.
    a = await startAgentVm(bed, {
      name: 'iotune-shim',
      memoryMiB: 256,
      disks: [{ name: 'data', sizeMiB: 32 }],
      cpuLimit: '1',
      annotations: { 'kubemom.io/stats-period': '1', 'kubemom.io/io-throttle': 'true', 'kubemom.io/priority': '50' },
    });
    await a.watcher.waitFor('phase RUNNING', (s) => s.phase === 'PHASE_RUNNING', true);
    dir = mkdtempSync(path.join(os.tmpdir(), 'km-shim-io-'));
    // The kubelet's view of the pod: the sidecar's hook directory (a symlink to the real one) in its emptyDir.
    const socketsDir = path.join(dir, 'kubelet', 'pods', POD_UID, 'volumes', 'kubernetes.io~empty-dir', 'hook-sidecar-sockets');
    mkdirSync(socketsDir, { recursive: true });
    symlinkSync(path.dirname(a.vm.sidecar.server.socketPath), path.join(socketsDir, 'hook-sidecar-0'));
    psiFile = path.join(dir, 'simulated-io-pressure');
    writeFileSync(psiFile, psiText(0, 0));
  });
  after(async () => {
    await shim?.stop();
    await a?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('throttles at IO PSI >= 20 (the guest writes at the limit), holds, and lifts under 5; metrics show it', async () => {
    const limit = 2 * MiB;
    const policy = createPolicy('default', { ioThrottleBytesSec: limit, ioThrottleIopsSec: 0 }, () => '');
    shim = new Shim(
      {
        kubeletRoot: path.join(dir, 'kubelet'),
        meminfoFile: '/proc/meminfo',
        psiFile: '/proc/pressure/memory',
        ioPsiFile: psiFile,
        vmstatFile: '/proc/vmstat',
        procRoot: '/proc',
        periodMs: 300,
        rescanMs: 500,
        session: { describeDeadlineMs: 2000, setTargetDeadlineMs: 2000, initialBackoffMs: 300, maxBackoffMs: 1000 },
        listen: { host: '127.0.0.1', port: 0 },
      },
      policy,
    );
    await shim.start();
    const s = shim;
    expect(await waitFor(() => s.registry.all().some((x) => x.state === 'live'), 100), 'the shim finds the sidecar').to.equal(true);

    writeFileSync(psiFile, psiText(35, 12));
    expect(await waitFor(() => s.registry.all()[0]?.ioLimitsSent.total_bytes_sec === limit, 100), 'SetIoLimits sent').to.equal(true);
    expect(await qemuBps(a.vm.domainName)).to.equal(limit);
    const throttled = await guestWriteMiBps(a, 8);

    const metrics = await (await fetch(`http://127.0.0.1:${s.httpPort}/metrics`)).text();
    const labels = `namespace="${a.vm.vmi.namespace}",name="${a.vm.vmi.name}"`;
    expect(metrics).to.include(`kubemom_vm_io_limit{${labels},disk="data",limit="total_bytes_sec"} ${limit}`);
    expect(metrics).to.include(`kubemom_vm_cpu_limit_cores{${labels},source="kubernetes"} 1`);
    expect(metrics).to.match(new RegExp(`kubemom_vm_cpu_limit_cores\\{${labels},source="mom"\\} 1\\b`));
    expect(metrics).to.include(`kubemom_vm_mom_vcpu_period_seconds{${labels}} 0.1`);

    // Between the levels: held.
    writeFileSync(psiFile, psiText(10, 10));
    await new Promise((r) => setTimeout(r, 1500));
    expect(await qemuBps(a.vm.domainName)).to.equal(limit);

    writeFileSync(psiFile, psiText(1, 2));
    expect(await waitFor(() => Object.keys(s.registry.all()[0]?.ioLimitsSent ?? { x: 1 }).length === 0, 100), 'throttle lifted').to.equal(true);
    expect(await qemuBps(a.vm.domainName)).to.equal(0);
    const lifted = await guestWriteMiBps(a, 16);
    console.log(`      guest dd write (MiB/s) through the shim: throttled (2 MiB/s) ${throttled.toFixed(2)}, lifted ${lifted.toFixed(1)}`);
    expect(throttled).to.be.within(1.5, 2.7);
    expect(lifted).to.be.above(throttled * 3);
  });
});
