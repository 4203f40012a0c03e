/**
 * The QMP client against FakeQmpServer, a misbehaving monitor written for these tests:
 * garbage, split and huge lines, no greeting, slow, out-of-order and missing replies.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { InputError, InputTooLargeError } from '../../src/common/errors.js';
import {
  QmpClient,
  QmpClosedError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpError,
  QmpGreetingTimeoutError,
  QmpLimitError,
  QmpProtocolError,
  QmpTimeoutError,
  type QmpClientOptions,
  type QmpEvent,
} from '../../src/qmp/index.js';
import { FakeQmpServer, standardReply, type FakeCommand, type FakeConnection } from './fake-qmp-server.js';

const silent = pino({ level: 'silent' });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection, got a value');
}

describe('QMP client against FakeQmpServer', () => {
  let dir: string;
  let sock: string;
  let fake: FakeQmpServer | undefined;
  const clients: QmpClient[] = [];

  function client(options: Partial<QmpClientOptions> = {}): QmpClient {
    const c = new QmpClient({ socketPath: sock, log: silent, greetingTimeoutMs: 1000, commandTimeoutMs: 2000, ...options });
    clients.push(c);
    return c;
  }

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'kubemom-qmp-'));
    sock = path.join(dir, 'qmp.sock');
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    await fake?.close();
    fake = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the greeting, negotiates capabilities, and matches a reply to its command', async () => {
    fake = await FakeQmpServer.start(sock);
    const c = client();
    const greeting = await c.connect();
    expect(greeting.version).to.deep.equal({ major: 7, minor: 2, micro: 0, package: 'fake' });
    expect(greeting.capabilities).to.deep.equal(['oob']);
    expect(c.state).to.equal('ready');
    expect(fake.received[0]?.execute).to.equal('qmp_capabilities');
    expect(await c.queryStatus()).to.deep.equal({ status: 'running', running: true });
  });

  it('fails with QmpConnectError ENOENT when no socket exists', async () => {
    const err = await rejection(client().connect());
    expect(err).to.be.instanceOf(QmpConnectError);
    expect((err as QmpConnectError).code).to.equal('ENOENT');
  });

  it('times out waiting for a greeting that never comes', async () => {
    fake = await FakeQmpServer.start(sock, { greeting: false });
    const started = Date.now();
    const err = await rejection(client({ greetingTimeoutMs: 200 }).connect());
    expect(err).to.be.instanceOf(QmpGreetingTimeoutError);
    expect(Date.now() - started, 'not before the greeting timeout').to.be.at.least(150);
    expect(err.message).to.include('another client may hold the monitor');
  });

  it('refuses a peer whose first line is not a greeting', async () => {
    fake = await FakeQmpServer.start(sock, { greeting: 'HTTP/1.1 400 Bad Request\r\n' });
    const c = client();
    const err = await rejection(c.connect());
    expect(err).to.be.instanceOf(QmpProtocolError);
    expect(err.message).to.include('expected a QMP greeting first');
    expect(c.state).to.equal('disconnected');
  });

  it('survives garbage lines: reports a protocol error and keeps serving commands', async () => {
    fake = await FakeQmpServer.start(sock);
    const c = client();
    const errors: QmpProtocolError[] = [];
    c.on('protocolError', (e) => errors.push(e));
    await c.connect();
    fake.connections[0]!.write('this is not json\r\n[1,2,3]\r\n{"neither": "qmp"}\r\n{"error": "no class"}\r\n\r\n');
    expect((await c.queryStatus()).running).to.equal(true);
    expect(errors.map((e) => e.message)).to.deep.equal([
      'invalid QMP line: not JSON (Unexpected token \'h\', "this is not json" is not valid JSON)',
      'invalid QMP line: not a JSON object',
      'invalid QMP line: object has none of "return", "error", "event", "QMP"',
      'invalid QMP line: error reply without string "class" and "desc"',
    ]);
    expect(c.stats.protocolErrors).to.equal(4);
    expect(c.state).to.equal('ready');
  });

  it('reassembles a reply written one byte at a time', async () => {
    fake = await FakeQmpServer.start(sock, {
      handler: (cmd, conn) => {
        if (cmd.execute !== 'query-status') return standardReply(cmd, conn);
        const bytes = Buffer.from(JSON.stringify({ return: { status: 'paused', running: false }, id: cmd.id }) + '\r\n');
        void (async () => {
          for (const b of bytes) {
            conn.write(Buffer.from([b]));
            await sleep(1);
          }
        })();
      },
    });
    const c = client();
    await c.connect();
    expect(await c.queryStatus()).to.deep.equal({ status: 'paused', running: false });
  });

  it('handles several messages (an event, two replies) in one chunk', async () => {
    const held: FakeCommand[] = [];
    fake = await FakeQmpServer.start(sock, {
      handler: (cmd, conn) => {
        if (cmd.execute === 'qmp_capabilities') return standardReply(cmd, conn);
        held.push(cmd);
        if (held.length < 2) return;
        conn.write(
          JSON.stringify({ event: 'STOP', timestamp: { seconds: 1, microseconds: 2 } }) + '\r\n' +
          JSON.stringify({ return: 'first', id: held[0]!.id }) + '\r\n' +
          JSON.stringify({ return: 'second', id: held[1]!.id }) + '\r\n',
        );
      },
    });
    const c = client();
    const events: QmpEvent[] = [];
    c.on('event', (e) => events.push(e));
    await c.connect();
    expect(await Promise.all([c.execute('a'), c.execute('b')])).to.deep.equal(['first', 'second']);
    expect(events).to.deep.equal([{ event: 'STOP', data: {}, timestamp: { seconds: 1, microseconds: 2 } }]);
  });

  it('drops the connection on a line longer than maxLineBytes and rejects what is in flight', async () => {
    fake = await FakeQmpServer.start(sock, {
      handler: (cmd, conn) => {
        if (cmd.execute === 'qmp_capabilities') return standardReply(cmd, conn);
        // 64 KiB without a newline, in several writes: never buffered beyond the bound.
        for (let i = 0; i < 16; i++) conn.write('x'.repeat(4096));
      },
    });
    const c = client({ maxLineBytes: 8192 });
    const lost: Error[] = [];
    c.on('disconnected', (e) => lost.push(e));
    await c.connect();
    const err = await rejection(c.execute('flood'));
    expect(err).to.be.instanceOf(QmpDisconnectedError);
    expect(err.message).to.include('maxLineBytes (8192 bytes)');
    expect((err as Error & { cause?: unknown }).cause).to.be.instanceOf(QmpLimitError);
    await sleep(20);
    expect(c.state).to.equal('disconnected');
    expect(lost).to.have.length(1);
    expect(lost[0]!.message).to.include('maxLineBytes (8192 bytes)');
  });

  it('accepts a long line that is within maxLineBytes', async () => {
    const big = 'y'.repeat(100_000);
    fake = await FakeQmpServer.start(sock, {
      handler: (cmd, conn) => (cmd.execute === 'big' ? conn.reply(cmd.id, big) : standardReply(cmd, conn)),
    });
    const c = client({ maxLineBytes: 200_000 });
    await c.connect();
    expect(await c.execute('big')).to.equal(big);
  });

  it('times out a slow reply, drops it when it comes late, and serves the next command', async () => {
    fake = await FakeQmpServer.start(sock, {
      handler: (cmd, conn) => {
        if (cmd.execute === 'slow') setTimeout(() => conn.reply(cmd.id, 'too late'), 300);
        else standardReply(cmd, conn);
      },
    });
    const c = client();
    await c.connect();
    const err = await rejection(c.execute('slow', undefined, { timeoutMs: 100 }));
    expect(err).to.be.instanceOf(QmpTimeoutError);
    expect(err.message).to.equal('QMP slow: no reply within 100 ms');
    expect(c.pendingCommands).to.equal(0);
    await sleep(350);
    expect(c.stats.lateReplies).to.equal(1);
    expect(c.stats.protocolErrors).to.equal(0);
    expect((await c.queryStatus()).status).to.equal('running');
  });

  it('matches replies that come out of order', async () => {
    const held: FakeCommand[] = [];
    let conn: FakeConnection | undefined;
    fake = await FakeQmpServer.start(sock, {
      handler: (cmd, c) => {
        if (cmd.execute === 'qmp_capabilities') return standardReply(cmd, c);
        held.push(cmd);
        conn = c;
      },
    });
    const c = client();
    await c.connect();
    const replies = ['one', 'two', 'three'].map((name) => c.execute(name));
    await fake.waitFor('three');
    for (const cmd of [...held].reverse()) conn!.reply(cmd.id, `answer to ${cmd.execute}`);
    expect(await Promise.all(replies)).to.deep.equal(['answer to one', 'answer to two', 'answer to three']);
  });

  it('rejects the command in flight when the server disconnects mid-command', async () => {
    fake = await FakeQmpServer.start(sock, {
      handler: (cmd, conn) => (cmd.execute === 'qmp_capabilities' ? standardReply(cmd, conn) : conn.destroy()),
    });
    const c = client();
    const lost: Error[] = [];
    c.on('disconnected', (e) => lost.push(e));
    await c.connect();
    const [a, b] = await Promise.all([rejection(c.execute('x')), rejection(c.execute('y'))]);
    expect(a).to.be.instanceOf(QmpDisconnectedError);
    expect(b).to.be.instanceOf(QmpDisconnectedError);
    expect(lost).to.have.length(1);
    expect(c.state).to.equal('disconnected');
    const err = await rejection(c.queryStatus());
    expect(err).to.be.instanceOf(QmpDisconnectedError);
    expect(err.message).to.include('not connected');
  });

  it('turns a QEMU error reply into a QmpError with class and description', async () => {
    fake = await FakeQmpServer.start(sock);
    const c = client();
    await c.connect();
    const err = await rejection(c.execute('nope'));
    expect(err).to.be.instanceOf(QmpError);
    expect((err as QmpError).errorClass).to.equal('CommandNotFound');
    expect((err as QmpError).desc).to.equal('The command nope has not been found');
    expect((err as QmpError).command).to.equal('nope');
  });

  it('reports a reply whose id matches nothing it sent as a protocol error', async () => {
    fake = await FakeQmpServer.start(sock);
    const c = client();
    const errors: Error[] = [];
    c.on('protocolError', (e) => errors.push(e));
    await c.connect();
    fake.connections[0]!.reply('not-ours', {});
    fake.connections[0]!.error(undefined, 'GenericError', 'JSON parse error');
    expect((await c.queryStatus()).running).to.equal(true);
    expect(errors.map((e) => e.message)).to.deep.equal(['QMP reply with unknown id "not-ours"', 'QMP reply with unknown id none']);
  });

  it('bounds the commands in flight with maxPendingCommands', async () => {
    fake = await FakeQmpServer.start(sock, {
      handler: (cmd, conn) => (cmd.execute === 'qmp_capabilities' ? standardReply(cmd, conn) : undefined),
    });
    const c = client({ maxPendingCommands: 3, commandTimeoutMs: 300 });
    await c.connect();
    const inFlight = [1, 2, 3].map(() => rejection(c.execute('never')));
    const err = await rejection(c.execute('one-too-many'));
    expect(err).to.be.instanceOf(QmpLimitError);
    expect((err as QmpLimitError).limit).to.equal('maxPendingCommands');
    expect(err.message).to.include('3 commands already in flight');
    // The connection stays up; the earlier commands end by their own timeout.
    for (const e of await Promise.all(inFlight)) expect(e).to.be.instanceOf(QmpTimeoutError);
    expect(c.state).to.equal('ready');
  });

  it('refuses to send a command larger than maxLineBytes, and bad input, without sending it', async () => {
    fake = await FakeQmpServer.start(sock);
    const c = client({ maxLineBytes: 1000 });
    await c.connect();
    const big = await rejection(c.qomSet('/machine', 'x', 'z'.repeat(2000)));
    expect(big).to.be.instanceOf(InputTooLargeError);
    expect(big.message).to.match(/^qom-set arguments: is \d+ bytes; at most 1000 bytes are accepted$/);
    const neg = await rejection(c.balloon(-1));
    expect(neg).to.be.instanceOf(InputError);
    expect(neg.message).to.equal('balloon.value: must be a positive integer number of bytes, got -1');
    expect(fake.received.map((x) => x.execute)).to.deep.equal(['qmp_capabilities']);
  });

  it('delivers typed events, generic ones, and survives a throwing listener', async () => {
    fake = await FakeQmpServer.start(sock);
    const c = client();
    await c.connect();
    const seen: unknown[] = [];
    c.onEvent('BALLOON_CHANGE', () => {
      throw new Error('listener bug');
    });
    c.onEvent('BALLOON_CHANGE', (data) => seen.push(['balloon', data.actual]));
    c.onEvent('SHUTDOWN', (data) => seen.push(['shutdown', data.guest, data.reason]));
    c.onEvent('DEVICE_DELETED', (data) => seen.push(['deleted', data]));
    const all: QmpEvent[] = [];
    c.on('event', (e) => all.push(e));
    const errors: Error[] = [];
    c.on('protocolError', (e) => errors.push(e));
    const conn = fake.connections[0]!;
    conn.event('BALLOON_CHANGE', { actual: 1073741824 });
    conn.event('BALLOON_CHANGE', { actual: 'lots' });
    conn.event('SHUTDOWN', { guest: true, reason: 'guest-shutdown' });
    conn.event('DEVICE_DELETED', { path: '/machine/peripheral/x' });
    await c.queryStatus();
    expect(seen).to.deep.equal([
      ['balloon', 1073741824],
      ['shutdown', true, 'guest-shutdown'],
      ['deleted', { path: '/machine/peripheral/x' }],
    ]);
    expect(all.map((e) => ('generic' in e ? `${e.event}:generic` : e.event))).to.deep.equal([
      'BALLOON_CHANGE',
      'BALLOON_CHANGE:generic',
      'SHUTDOWN',
      'DEVICE_DELETED:generic',
    ]);
    expect(errors.map((e) => e.message)).to.deep.equal(['QMP event BALLOON_CHANGE with an unexpected payload']);
  });

  it('reconnects with backoff after losing the connection', async () => {
    fake = await FakeQmpServer.start(sock);
    const c = client({ reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
    const connected: number[] = [];
    c.on('connected', () => connected.push(Date.now()));
    await c.connect();
    fake.connections[0]!.destroy();
    await fake.waitFor('qmp_capabilities', 2);
    await sleep(20);
    expect(c.state).to.equal('ready');
    expect(connected).to.have.length(2);
    expect(c.stats.reconnects).to.equal(1);
    expect((await c.queryStatus()).running).to.equal(true);
  });

  it('keeps retrying until the server appears, and gives up after maxAttempts', async () => {
    const c = client({ reconnect: { initialDelayMs: 10, maxDelayMs: 40 } });
    const connecting = c.connect();
    await sleep(100);
    fake = await FakeQmpServer.start(sock);
    expect((await connecting).version.package).to.equal('fake');

    const other = path.join(dir, 'absent.sock');
    const d = client({ socketPath: other, reconnect: { initialDelayMs: 5, maxAttempts: 3 } });
    const gaveUp: Error[] = [];
    d.on('gaveUp', (e) => gaveUp.push(e));
    const err = await rejection(d.connect());
    expect(err).to.be.instanceOf(QmpConnectError);
    expect(gaveUp).to.have.length(1);
  });

  it('cancels a reconnect wait on close()', async () => {
    // A wait longer than the test's timeout: only close() can end it.
    const c = client({ reconnect: { initialDelayMs: 3_600_000, maxDelayMs: 3_600_000 } });
    const connecting = rejection(c.connect());
    await sleep(50);
    await c.close();
    expect(await connecting).to.be.instanceOf(QmpClosedError);
    expect(c.state).to.equal('closed');
    expect(await rejection(c.queryStatus())).to.be.instanceOf(QmpClosedError);
  });

  it('rejects pending commands with QmpClosedError on close()', async () => {
    fake = await FakeQmpServer.start(sock, {
      handler: (cmd, conn) => (cmd.execute === 'qmp_capabilities' ? standardReply(cmd, conn) : undefined),
    });
    const c = client();
    await c.connect();
    const pending = rejection(c.execute('never'));
    await fake.waitFor('never');
    await c.close();
    expect(await pending).to.be.instanceOf(QmpClosedError);
  });

  it('refuses a greeting that is valid JSON but not a valid greeting', async () => {
    fake = await FakeQmpServer.start(sock, { greeting: JSON.stringify({ QMP: { version: {} } }) + '\n' });
    const err = await rejection(client().connect());
    expect(err).to.be.instanceOf(QmpProtocolError);
    expect(err.message).to.include('greeting');
  });
});
