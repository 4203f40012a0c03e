/**
 * The pod bounds on the wire: the real agent behind the real sidecar socket (gRPC over a unix socket), driving
 * the simulator's QEMU (a real QMP server over a guest model), takes SetTargetRequest.ceiling_bytes and
 * floor_bytes: the ceiling lowers targets (CLAMP_POD_CEILING), the floor stands in only for a VM without a
 * guarantee of its own, and Describe says where the guarantee came from.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { AgentClient } from '../../src/api/client.js';
import type { WireSetTargetRequest, WireSetTargetResponse } from '../../src/api/kubemom-v1.js';
import { AgentService } from '../../src/agent/service.js';
import { runSidecar, type RunningSidecar } from '../../src/hook-sidecar/sidecar.js';
import type { VmSettings } from '../../src/hook-sidecar/annotations.js';
import { ConstantGuestModel, SimulatedQemu } from '../../src/kubevirt-sim/simulated-qemu.js';
import { EVENT_DEADLINE_MS } from '../support/deadline.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

type SetTargetAnswer = WireSetTargetResponse;

describe('pod bounds on the kubemom.v1 wire (real agent, simulated QEMU)', function () {
  this.timeout(EVENT_DEADLINE_MS);
  let dir: string;
  let sidecar: RunningSidecar;
  let service: AgentService;
  let client: AgentClient;
  let qemu: SimulatedQemu;

  /** SetTarget with the fields a test gives (the rest proto3's defaults). */
  function setTarget(request: Partial<WireSetTargetRequest>): Promise<SetTargetAnswer> {
    return client.setTarget({ target_bytes: 0, reason: '', ...request });
  }

  async function start(settings: Partial<VmSettings>): Promise<void> {
    dir = mkdtempSync(path.join(os.tmpdir(), 'km-bounds-'));
    qemu = new SimulatedQemu(path.join(dir, 'qmp.sock'), new ConstantGuestModel(2 * GiB, 400 * MiB, Date.now()));
    await qemu.start();
    service = new AgentService({ podUid: '11111111-2222-4333-8444-555555555555' });
    sidecar = await runSidecar({ hooksDir: dir, qemuHooksDir: dir, services: [service.service], onVmConfig: (c) => service.onVmConfig(c), onStop: () => service.stop() });
    service.onVmConfig({
      identity: { namespace: 'ns', name: 'vm', uid: 'vmi-uid' },
      guestMemoryBytes: 2 * GiB,
      qmpSocketPath: path.join(dir, 'qmp.sock'),
      settings: {
        guaranteedMemoryBytes: 2 * GiB, guaranteedSource: 'guest-memory', priority: 50, statsPeriodSeconds: 1, autodeflate: true, freePageReporting: undefined,
        policy: 'default', memoryMarginBytes: 64 * MiB, ioLimits: {}, ioThrottle: false, ...settings,
      },
    });
    client = new AgentClient(sidecar.server.socketPath);
    // Until the agent has a fresh guest report, it takes no memory: wait for one.
    for (const end = Date.now() + EVENT_DEADLINE_MS; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
      const probe = await setTarget({ target_bytes: 2 * GiB, reason: 'probe' });
      if (probe.clamp !== 'CLAMP_NO_FRESH_STATS' && service['agent']?.latest?.guest) break;
    }
  }

  afterEach(async () => {
    client?.close();
    await sidecar?.stop('test done');
    await qemu?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('says in Describe that the guarantee is the guest memory, and takes the floor the shim sends', async () => {
    await start({});
    const d = (await client.describe({ client_api_revision: 1, client_version: 'test' })) as unknown as Record<string, unknown>;
    expect(d['guaranteed_memory_source']).to.equal('guest-memory');
    expect(d['features']).to.include('pod-bounds');
    const refused = await setTarget({ target_bytes: 1 * GiB, reason: 't' });
    expect(refused.clamp).to.equal('CLAMP_GUARANTEED');
    expect(refused.goal_bytes).to.equal(2 * GiB);
    const taken = await setTarget({ target_bytes: 1 * GiB, reason: 't', floor_bytes: 1 * GiB });
    expect(taken.goal_bytes).to.equal(1 * GiB);
    // The agent moves there in steps: QEMU's balloon goes under the guest memory.
    let actual = 2 * GiB;
    for (const end = Date.now() + EVENT_DEADLINE_MS; actual >= 2 * GiB && Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
      actual = qemu.guest.actualBytes(Date.now());
    }
    expect(actual).to.be.lessThan(2 * GiB);
    expect(actual).to.be.at.least(1 * GiB);
  });

  it('lowers a target to the ceiling and answers CLAMP_POD_CEILING; an explicit guarantee ignores the floor', async () => {
    await start({ guaranteedMemoryBytes: 1536 * MiB, guaranteedSource: 'annotation' });
    const capped = await setTarget({ target_bytes: 2 * GiB, reason: 't', ceiling_bytes: 1800 * MiB });
    expect(capped.clamp).to.equal('CLAMP_POD_CEILING');
    expect(capped.goal_bytes).to.equal(1800 * MiB);
    expect(capped.clamp_detail).to.match(/pod ceiling/);
    const floor = await setTarget({ target_bytes: 1 * GiB, reason: 't', floor_bytes: 512 * MiB });
    expect(floor.clamp).to.equal('CLAMP_GUARANTEED');
    expect(floor.goal_bytes).to.equal(1536 * MiB);
  });

  it('refuses a ceiling or floor that is not a byte count', async () => {
    await start({});
    const error = await setTarget({ target_bytes: GiB, reason: 't', ceiling_bytes: 2 ** 60 }).catch((e: grpc.ServiceError) => e);
    expect((error as grpc.ServiceError).code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect((error as grpc.ServiceError).details).to.match(/ceiling_bytes/);
  });
});
