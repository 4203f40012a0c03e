/**
 * IO tune on a real guest: a raw disk in the tiny TCG guest under libvirt, throttled
 * through the agent (kubemom.v1 SetIoLimits on the sidecar's socket, QMP
 * block_set_io_throttle), with the guest's own dd measuring that its throughput follows.
 */
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { AgentClient } from '../../src/api/client.js';
import * as virsh from '../../testbed/virsh.js';
import { sharedTestbed, type Testbed } from '../../testbed/testbed.js';
import { MiB, startAgentVm, type AgentVm } from '../agent/support.js';

type DiskState = { name: string; qdev: string; owner_limits: Record<string, number>; applied: Record<string, number>; error: string };

/** Writes `mib` MiB to /dev/vda with O_DIRECT inside the guest; returns MiB/s as the guest measured it. */
async function guestWriteMiBps(a: AgentVm, mib: number): Promise<number> {
  // The guest times itself (its own clock, in ms from /proc/uptime), so console latency does not count.
  const out = await a.vm.console.run(
    `t0=$(cut -d' ' -f1 /proc/uptime); dd if=/dev/zero of=/dev/vda bs=1048576 count=${mib} oflag=direct 2>/dev/null; t1=$(cut -d' ' -f1 /proc/uptime); echo "elapsed $t0 $t1"`,
  );
  const m = /elapsed ([0-9.]+) ([0-9.]+)/.exec(out.join('\n'));
  if (!m) throw new Error(`no timing from the guest: ${out}`);
  const seconds = Number(m[2]) - Number(m[1]);
  return mib / Math.max(seconds, 0.01);
}

/** The disk's throttle as QEMU reports it on libvirt's own monitor (the agent holds the side monitor). */
async function qemuThrottle(domain: string): Promise<Record<string, unknown>> {
  const blocks = (await virsh.qemuMonitorCommand(domain, 'query-block')) as Array<{ qdev?: string; inserted?: Record<string, unknown> }>;
  const disk = blocks.find((b) => b.qdev?.includes('ua-data'));
  if (!disk?.inserted) throw new Error(`query-block has no ua-data disk: ${JSON.stringify(blocks)}`);
  return disk.inserted;
}

describe('IO tune on a real guest: throttle through the agent, measured by dd in the guest', function () {
  this.timeout(240_000);
  let bed: Testbed;
  let a: AgentVm;

  before(async function () {
    this.timeout(600_000);
    bed = await sharedTestbed();
    a = await startAgentVm(bed, {
      name: 'iotune',
      memoryMiB: 256,
      disks: [{ name: 'data', sizeMiB: 64 }],
      cpuLimit: '500m',
      annotations: {
        'kubemom.io/stats-period': '1',
        'kubemom.io/io-throttle': 'true',
        // The owner's own limit: high enough not to slow this test, visible in QEMU.
        'kubemom.io/io-limits.data': 'read_iops_sec=5000,write_iops_sec=5000,write_iops_sec_max=8000,write_iops_sec_max_length=5',
      },
    });
    await a.watcher.waitFor('phase RUNNING', (s) => s.phase === 'PHASE_RUNNING', true);
  });
  after(async () => {
    await a?.close();
  });

  it("finds the VMI's disk in QEMU by its ua- alias and applies the owner's annotation limits at start", async () => {
    const d = await a.client.describe({});
    expect(d.features).to.include('io-limits');
    expect(d.io_throttle).to.equal(true);
    expect(d.disks).to.have.length(1);
    expect(d.disks![0]!.name).to.equal('data');
    expect(d.disks![0]!.qdev).to.match(/ua-data/);
    expect(d.disks![0]!.error).to.equal('');
    expect(d.disks![0]!.applied).to.include({ read_iops_sec: 5000, write_iops_sec: 5000, write_iops_sec_max: 8000, write_iops_sec_max_length: 5 });
    const q = await qemuThrottle(a.vm.domainName);
    expect(q).to.include({ iops_rd: 5000, iops_wr: 5000, iops_wr_max: 8000, iops_wr_max_length: 5, bps: 0 });
    // The guest sees the disk.
    expect((await a.vm.console.run('cat /sys/block/vda/size')).join('')).to.match(/^131072/);
    // CPU facts for CPU-tune reporting.
    expect(d.vcpus).to.equal(1);
    expect(d.cpu_limit_millicores).to.equal(500);
  });

  it("the guest's write throughput follows a throttle set through kubemom.v1, and recovers when it is lifted", async () => {
    const before = await guestWriteMiBps(a, 16);
    const limit = 2 * MiB;
    const set = await a.client.setIoLimits({ limits: { total_bytes_sec: limit }, reason: 'test-throttle' });
    expect(set.disks[0]!.error).to.equal('');
    // The owner's per-direction IOPS stay; the policy's total bytes limit is added (the owner's burst stays on
    // the rate the policy did not lower).
    expect(set.disks[0]!.applied).to.include({ total_bytes_sec: limit, read_iops_sec: 5000, write_iops_sec: 5000 });
    expect(await qemuThrottle(a.vm.domainName)).to.include({ bps: limit });
    const throttled = await guestWriteMiBps(a, 8);
    const lifted = await a.client.setIoLimits({ limits: {}, reason: 'test-lift' });
    expect(lifted.disks![0]!.applied).to.include({ total_bytes_sec: 0, read_iops_sec: 5000 });
    expect(await qemuThrottle(a.vm.domainName)).to.include({ bps: 0, iops_rd: 5000 });
    const after = await guestWriteMiBps(a, 16);
    console.log(`      guest dd write (MiB/s): unthrottled ${before.toFixed(1)}, throttled to 2 MiB/s ${throttled.toFixed(2)}, lifted ${after.toFixed(1)}`);
    // A request that finds the bucket not full passes at once (QEMU's leaky bucket), so the first
    // 1 MiB write is free: 8 MiB take about 3.5 s, 2.3 MiB/s measured. Anything near 2 MiB/s follows the limit.
    expect(throttled).to.be.within(1.5, 2.7);
    expect(before).to.be.above(throttled * 3);
    expect(after).to.be.above(throttled * 3);
  });

  it('refuses bursts from a policy, and mixed total and per-direction rates, naming the field', async () => {
    const err1 = await a.client.setIoLimits({ limits: { total_bytes_sec: MiB, total_bytes_sec_max: 2 * MiB } }).catch((e: grpc.ServiceError) => e);
    expect((err1 as grpc.ServiceError).code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect((err1 as grpc.ServiceError).details).to.match(/limits\.total_bytes_sec_max: is not accepted from a policy/);
    const err2 = await a.client.setIoLimits({ limits: { total_iops_sec: 10, read_iops_sec: 5 } }).catch((e: grpc.ServiceError) => e);
    expect((err2 as grpc.ServiceError).details).to.match(/total_iops_sec: cannot be combined with read_iops_sec/);
  });
});

describe('IO tune on a real guest: opt-in and bad annotations', function () {
  this.timeout(240_000);
  let bed: Testbed;

  before(async function () {
    this.timeout(600_000);
    bed = await sharedTestbed();
  });

  it('a VM that did not opt in refuses a policy throttle but accepts a lift', async () => {
    const a = await startAgentVm(bed, { name: 'iotune-noopt', memoryMiB: 256, disks: [{ name: 'data', sizeMiB: 8 }], annotations: { 'kubemom.io/stats-period': '1' } });
    try {
      const err = await a.client.setIoLimits({ limits: { total_iops_sec: 10 } }).catch((e: grpc.ServiceError) => e);
      expect((err as grpc.ServiceError).code).to.equal(grpc.status.FAILED_PRECONDITION);
      expect((err as grpc.ServiceError).details).to.match(/kubemom\.io\/io-throttle/);
      const ok = await a.client.setIoLimits({ limits: {} });
      expect(ok.disks.map((d) => d.name)).to.deep.equal(['data']);
    } finally {
      await a.close();
    }
  });

  for (const [annotations, message] of [
    [{ 'kubemom.io/io-limits.data': 'total_bytes_sec=fast' }, /io-limits\.data"\]: total_bytes_sec: "fast" is not accepted; use a quantity of bytes per second/],
    [{ 'kubemom.io/io-limits.nosuch': 'total_iops_sec=10' }, /io-limits\.nosuch"\]: the VM has no disk "nosuch"; its disks are: data/],
    [{ 'kubemom.io/io-limits.data': 'read_bytes_sec=1Mi,total_bytes_sec=2Mi' }, /total_bytes_sec cannot be combined with read_bytes_sec/],
    [{ 'kubemom.io/io-throttle': 'yes' }, /io-throttle"\]: "yes" is not accepted; use "true" or "false"/],
  ] as const) {
    it(`OnDefineDomain rejects ${JSON.stringify(annotations)} with a message naming the annotation`, async () => {
      const err = await bed.startVm({ name: 'iotune-bad', memoryMiB: 256, disks: [{ name: 'data', sizeMiB: 8 }], annotations: { ...annotations } }).then(
        async (vm) => {
          await vm.destroy();
          return undefined;
        },
        (e: Error) => e,
      );
      expect(err, 'the VM must not start').to.be.instanceOf(Error);
      expect(err!.message).to.match(message);
    });
  }
});
