/**
 * The QMP client against a real QEMU (q35 under TCG, a virtio-balloon-pci named balloon0,
 * held before boot with -S): commands, errors, events, the one-client-at-a-time monitor,
 * and what happens when QEMU is killed or frozen.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import {
  QmpClient,
  QmpConnectError,
  QmpDisconnectedError,
  QmpError,
  QmpGreetingTimeoutError,
  QmpTimeoutError,
  type QmpClientOptions,
  type QmpEvent,
} from '../../src/qmp/index.js';
import { QemuProcess } from '../../testbed/qemu-process.js';
import { EVENT_DEADLINE_MS } from '../support/deadline.js';

const silent = pino({ level: 'silent' });
const MiB = 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection, got a value');
}

async function until(what: string, cond: () => boolean, timeoutMs = EVENT_DEADLINE_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('QMP client against a real QEMU', function () {
  let dir: string;
  let sock: string;
  const qemus: QemuProcess[] = [];
  const clients: QmpClient[] = [];

  async function startQemu(): Promise<QemuProcess> {
    const q = await QemuProcess.start({ socketPath: sock });
    qemus.push(q);
    return q;
  }

  function client(options: Partial<QmpClientOptions> = {}): QmpClient {
    const c = new QmpClient({ socketPath: sock, log: silent, greetingTimeoutMs: 2000, commandTimeoutMs: 3000, ...options });
    clients.push(c);
    return c;
  }

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'kubemom-qmp-'));
    sock = path.join(dir, 'qmp.sock');
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    for (const q of qemus.splice(0)) await q.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the greeting, negotiates capabilities and queries the status', async () => {
    await startQemu();
    const c = client();
    const greeting = await c.connect();
    expect(greeting.version.major).to.be.at.least(6);
    expect(greeting.capabilities).to.include('oob');
    expect(await c.queryStatus()).to.deep.equal({ status: 'prelaunch', running: false });
  });

  it('finds the balloon device with qom-list /machine/peripheral by its type', async () => {
    await startQemu();
    const c = client();
    await c.connect();
    const props = await c.qomList('/machine/peripheral');
    expect(props).to.deep.include({ name: 'balloon0', type: 'child<virtio-balloon-pci>' });
  });

  it('sets a balloon target, reads query-balloon, and gets/sets a QOM property', async () => {
    await startQemu();
    const c = client();
    await c.connect();
    // QEMU accepts the target; with no guest driver the balloon cannot move, so actual stays at guest memory.
    await c.balloon(64 * MiB);
    expect(await c.queryBalloon()).to.deep.equal({ actual: 128 * MiB });
    await c.qomSet('/machine/peripheral/balloon0', 'guest-stats-polling-interval', 2);
    expect(await c.qomGet('/machine/peripheral/balloon0', 'guest-stats-polling-interval')).to.equal(2);
  });

  it('turns QEMU errors into QmpError', async () => {
    await startQemu();
    const c = client();
    await c.connect();
    const unknown = await rejection(c.execute('no-such-command'));
    expect(unknown).to.be.instanceOf(QmpError);
    expect((unknown as QmpError).errorClass).to.equal('CommandNotFound');
    const noDevice = await rejection(c.qomGet('/machine/peripheral/nothing', 'type'));
    expect(noDevice).to.be.instanceOf(QmpError);
    expect((noDevice as QmpError).errorClass).to.equal('DeviceNotFound');
    expect((noDevice as QmpError).desc).to.include('/machine/peripheral/nothing');
    // The connection is still fine after errors.
    expect((await c.queryStatus()).status).to.equal('prelaunch');
  });

  it('runs several commands in flight and matches every reply', async () => {
    await startQemu();
    const c = client();
    await c.connect();
    const results = await Promise.all([
      c.queryStatus(),
      c.queryBalloon(),
      c.qomList('/machine/peripheral'),
      c.qomGet('/machine/peripheral/balloon0', 'guest-stats-polling-interval'),
      c.queryStatus(),
    ]);
    expect(results[0]).to.deep.equal({ status: 'prelaunch', running: false });
    expect(results[1]).to.deep.equal({ actual: 128 * MiB });
    expect(results[2]).to.be.an('array');
    expect(results[3]).to.equal(0);
    expect(results[4]).to.deep.equal({ status: 'prelaunch', running: false });
  });

  it('delivers RESUME, STOP and SHUTDOWN as typed events, then sees the connection close', async () => {
    const qemu = await startQemu();
    const c = client();
    await c.connect();
    const events: QmpEvent[] = [];
    c.on('event', (e) => events.push(e));
    const stops: number[] = [];
    c.onEvent('STOP', () => stops.push(1));
    const lost: Error[] = [];
    c.on('disconnected', (e) => lost.push(e));
    await c.execute('cont');
    await c.execute('stop');
    expect(await c.queryStatus()).to.deep.equal({ status: 'paused', running: false });
    await c.execute('quit').catch(() => undefined); // QEMU may close before replying
    await until('disconnect', () => lost.length === 1);
    expect(events.map((e) => e.event)).to.deep.equal(['RESUME', 'STOP', 'SHUTDOWN']);
    const shutdown = events[2]!;
    expect(shutdown.event === 'SHUTDOWN' && !('generic' in shutdown) && shutdown.data).to.deep.equal({ guest: false, reason: 'host-qmp-quit' });
    expect(stops).to.have.length(1);
    await until('QEMU exit', () => !qemu.running);
    // A clean exit removes the socket.
    expect(existsSync(sock)).to.equal(false);
  });

  it('gives a second client no greeting until the first leaves', async () => {
    await startQemu();
    const first = client();
    await first.connect();
    const second = client({ greetingTimeoutMs: 300 });
    const err = await rejection(second.connect());
    expect(err).to.be.instanceOf(QmpGreetingTimeoutError);

    const third = client({ greetingTimeoutMs: 3000 });
    const thirdConnected = third.connect();
    await sleep(200);
    expect(third.state).to.equal('connecting');
    await first.close();
    await thirdConnected;
    expect((await third.queryStatus()).status).to.equal('prelaunch');
  });

  it('survives QEMU being killed: rejects in flight, refuses on the stale socket, reconnects after restart', async () => {
    const qemu = await startQemu();
    const c = client({ reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, commandTimeoutMs: 10_000 });
    const lost: Error[] = [];
    c.on('disconnected', (e) => lost.push(e));
    await c.connect();
    // Freeze first so the command is surely in flight when QEMU dies.
    qemu.freeze();
    const inFlight = rejection(c.queryStatus());
    await sleep(50);
    await qemu.kill('SIGKILL');
    const err = await inFlight;
    expect(err).to.be.instanceOf(QmpDisconnectedError);
    expect(lost).to.have.length(1);

    // The socket file stays behind and refuses connections.
    expect(existsSync(sock)).to.equal(true);
    const refused = await rejection(client().connect());
    expect(refused).to.be.instanceOf(QmpConnectError);
    expect((refused as QmpConnectError).code).to.equal('ECONNREFUSED');
    expect(await rejection(c.queryStatus())).to.be.instanceOf(QmpDisconnectedError);

    // A new QEMU binds over the stale socket; the reconnecting client finds it by itself.
    await sleep(300);
    await startQemu();
    await until('reconnection', () => c.state === 'ready');
    expect(c.stats.reconnects).to.equal(1);
    expect((await c.queryStatus()).status).to.equal('prelaunch');
  });

  it('times out commands while QEMU is frozen (SIGSTOP) and recovers after SIGCONT', async () => {
    const qemu = await startQemu();
    const c = client();
    await c.connect();
    qemu.freeze();
    try {
      const started = Date.now();
      const err = await rejection(c.queryStatus({ timeoutMs: 300 }));
      expect(err).to.be.instanceOf(QmpTimeoutError);
      expect(Date.now() - started, 'not before the command timeout').to.be.at.least(250);
      expect(c.state).to.equal('ready');
    } finally {
      qemu.thaw();
    }
    // The late reply arrives after SIGCONT and is dropped; the next command is answered normally.
    await until('late reply', () => c.stats.lateReplies === 1);
    expect(await c.queryStatus()).to.deep.equal({ status: 'prelaunch', running: false });
    expect(c.stats.protocolErrors).to.equal(0);
  });
});
