import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyIoLimits } from '../../src/agent/io-tune.js';
import { QmpClient, QmpGreetingTimeoutError } from '../../src/qmp/index.js';
import { ConstantGuestModel, SIMULATED_BALLOON_PATH, SimulatedQemu } from '../../src/kubevirt-sim/simulated-qemu.js';

const MiB = 2 ** 20;

describe('SimulatedQemu (a real QMP server over a guest model)', () => {
  let dir: string;
  let now: number;
  let qemu: SimulatedQemu;
  let guest: ConstantGuestModel;
  const clients: QmpClient[] = [];

  function client(): QmpClient {
    const c = new QmpClient({ socketPath: path.join(dir, 'qmp.sock'), greetingTimeoutMs: 300 });
    clients.push(c);
    return c;
  }

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'km-simq-'));
    now = 1_000_000;
    guest = new ConstantGuestModel(1024 * MiB, 300 * MiB, now);
    qemu = new SimulatedQemu(path.join(dir, 'qmp.sock'), guest, () => now);
    await qemu.start();
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    await qemu.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the QMP commands the agent uses, as QEMU answers them', async () => {
    const qmp = client();
    await qmp.connect();
    expect(await qmp.queryStatus()).to.include({ status: 'running', running: true });
    const devices = await qmp.qomList('/machine/peripheral');
    expect(devices.find((d) => d.type.startsWith('child<virtio-balloon'))?.name).to.equal('balloon0');
    await qmp.qomSet(SIMULATED_BALLOON_PATH, 'guest-stats-polling-interval', 2);
    const stats = (await qmp.qomGet(SIMULATED_BALLOON_PATH, 'guest-stats')) as { stats: Record<string, number>; 'last-update': number };
    expect(stats.stats['stat-total-memory']).to.equal(1024 * MiB);
    expect(stats.stats['stat-available-memory']).to.equal(724 * MiB);
    expect(stats['last-update']).to.equal(1000);
  });

  it("answers query-block with the domain's disks and throttles them as QEMU does (the agent's IO tune finds them)", async () => {
    const withDisks = new SimulatedQemu(path.join(dir, 'disks.sock'), guest, () => now, [{ id: 'ua-rootdisk' }, { id: 'ua-data' }]);
    await withDisks.start();
    const qmp = new QmpClient({ socketPath: path.join(dir, 'disks.sock'), greetingTimeoutMs: 300 });
    clients.push(qmp);
    try {
      await qmp.connect();
      const disks = [
        { name: 'rootdisk', alias: 'ua-rootdisk', device: 'disk' },
        { name: 'data', alias: 'ua-data', device: 'disk' },
      ];
      const states = await applyIoLimits(qmp, disks, { data: { total_iops_sec: 500 } }, {});
      expect(states.map((d) => [d.name, d.error, d.applied])).to.deep.equal([
        ['rootdisk', '', {}],
        ['data', '', { total_iops_sec: 500 }],
      ]);
      expect(withDisks.throttleOf('ua-data')).to.include({ iops: 500, bps: 0 });
      const error = await qmp.blockSetIoThrottle({ id: '/machine/peripheral/ua-data/virtio-backend', bps: 1 }).catch((e: unknown) => e);
      expect(String(error)).to.match(/iops|bps_rd|missing/);
    } finally {
      await withDisks.stop();
    }
  });

  it('moves the balloon at the model pace after a balloon command', async () => {
    const qmp = client();
    await qmp.connect();
    await qmp.balloon(512 * MiB);
    expect((await qmp.queryBalloon()).actual).to.equal(1024 * MiB);
    now += 500; // 400 MiB/s inflation: 200 MiB in half a second
    expect((await qmp.queryBalloon()).actual).to.equal(824 * MiB);
    now += 1000;
    expect((await qmp.queryBalloon()).actual).to.equal(512 * MiB);
  });

  it('greets a second client only when the first leaves, like QEMU', async () => {
    const first = client();
    await first.connect();
    let failure: unknown;
    await client().connect().catch((e) => (failure = e));
    expect(failure).to.be.instanceOf(QmpGreetingTimeoutError);
    await first.close();
    await client().connect();
  });

  it('reports pause and resume as STOP and RESUME', async () => {
    const qmp = client();
    await qmp.connect();
    const events: string[] = [];
    qmp.onEvent('STOP', () => events.push('STOP'));
    qmp.onEvent('RESUME', () => events.push('RESUME'));
    qemu.setPaused(true);
    expect((await qmp.queryStatus()).running).to.equal(false);
    qemu.setPaused(false);
    await new Promise((r) => setTimeout(r, 20));
    expect(events).to.deep.equal(['STOP', 'RESUME']);
  });
});
