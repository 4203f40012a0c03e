import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AgentClient } from '../../src/api/client.js';
import { encodeSample, type WireStatsSample } from '../../src/api/kubemom-v1.js';
import { AgentService } from '../../src/agent/service.js';
import { runSidecar, type RunningSidecar } from '../../src/hook-sidecar/sidecar.js';
import { EVENT_DEADLINE_MS } from '../support/deadline.js';

/** A running VM's sample taken at `atMs`, as the agent encodes it. */
function sample(atMs: number, selfProtectionReason = ''): WireStatsSample {
  return encodeSample({
    sampledAtMs: atMs,
    phase: 'running',
    phaseSinceMs: 0,
    phaseBeganEarlier: false,
    guest: undefined,
    stale: false,
    balloonActualBytes: undefined,
    balloonTargetBytes: undefined,
    balloonGoalBytes: undefined,
    selfProtectionReason,
    unreachableReason: '',
    holding: false,
    unmanaged: undefined,
    migration: undefined,
    memory: undefined,
  });
}

describe('kubemom.v1 service on the sidecar socket (real gRPC, no VM yet)', () => {
  let dir: string;
  let sidecar: RunningSidecar;
  let service: AgentService;
  let client: AgentClient;
  const podUid = '6f1c2b3a-1111-4222-8333-944455566677';

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'km-svc-'));
    service = new AgentService({ podUid, maxQueuedSamples: 4 });
    sidecar = await runSidecar({ hooksDir: dir, qemuHooksDir: dir, services: [service.service], onVmConfig: (c) => service.onVmConfig(c), onStop: () => service.stop() });
    client = new AgentClient(sidecar.server.socketPath);
  });
  after(async () => {
    client.close();
    await sidecar.stop('test done');
    rmSync(dir, { recursive: true, force: true });
  });

  it('Describe answers with the API revision, features and the pod UID before the VM is known', async () => {
    const d = await client.describe({ client_api_revision: 1, client_version: 'test' });
    expect(d['api_revision']).to.equal(1);
    expect(d['features']).to.include.members(['stats-stream', 'set-target']);
    expect((d['vm'] as Record<string, unknown>)['pod_uid']).to.equal(podUid);
    expect(d['phase']).to.equal('PHASE_UNSPECIFIED');
  });

  it('SetTarget before the VM is known fails with FAILED_PRECONDITION', async () => {
    const err = await client.setTarget({ target_bytes: 2 ** 28, reason: 't' }).catch((e: grpc.ServiceError) => e);
    expect((err as grpc.ServiceError).code).to.equal(grpc.status.FAILED_PRECONDITION);
  });

  it('WatchStats gives the latest sample first, then each new one', async () => {
    service.broadcast.publish(sample(1));
    const call = client.watchStats();
    call.on('error', () => undefined); // the cancel below ends it with CANCELLED
    const got: number[] = [];
    await new Promise<void>((resolve) => {
      call.on('data', (s: WireStatsSample) => {
        got.push(s.sampled_at_unix_ms);
        if (got.length === 1) service.broadcast.publish(sample(2));
        if (got.length === 2) resolve();
      });
    });
    call.cancel();
    expect(got).to.deep.equal([1, 2]);
  });

  it('drops a WatchStats consumer that stops reading instead of buffering for ever', async () => {
    service.broadcast.publish(sample(50)); // the latest, sent on subscribing
    const call = client.watchStats();
    let status: grpc.StatusObject | undefined;
    let error: grpc.ServiceError | undefined;
    call.on('status', (s: grpc.StatusObject) => (status = s));
    call.on('error', (e: grpc.ServiceError) => (error = e));
    let paused = false;
    call.on('data', () => {
      if (!paused) call.pause();
      paused = true;
    });
    const big = 'x'.repeat(64 * 1024);
    // The stream is subscribed once its first sample has arrived.
    for (const end = Date.now() + EVENT_DEADLINE_MS; !paused && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
    expect(paused, 'the stream delivered its first sample').to.equal(true);
    const before = service.broadcast.size;
    for (let i = 0; i < 400 && service.broadcast.size === before; i++) {
      service.broadcast.publish(sample(100 + i, big));
      await new Promise((r) => setImmediate(r));
    }
    expect(service.broadcast.size).to.equal(before - 1);
    call.resume();
    for (const end = Date.now() + EVENT_DEADLINE_MS; !error && !status && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50));
    expect(error?.code ?? status?.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
  });
});
