/**
 * What the shim hands the policy from a sidecar's Describe and samples (src/shim/wire-to-policy.ts).
 */
import { expect } from 'chai';
import type { Description, StatsSample } from '../../src/api/kubemom-v1.js';
import { guestStateOf, guestSampleOf } from '../../src/shim/wire-to-policy.js';

const MiB = 1024 * 1024;

function description(overrides: Partial<Description> = {}): Description {
  return {
    apiRevision: 1,
    agentVersion: 'test',
    features: [],
    vm: { namespace: 'ns', name: 'vm', uid: 'uid-1', podUid: 'pod-1' },
    guestMemoryBytes: 1024 * MiB,
    guaranteedMemoryBytes: 256 * MiB,
    priority: 50,
    policy: '',
    phase: 'running',
    statsPeriodSeconds: 5,
    memoryMarginBytes: 64 * MiB,
    autodeflate: false,
    disks: [],
    ioThrottle: false,
    vcpus: 0,
    cpuLimitMillicores: 0,
    cpuRequestMillicores: 0,
    phaseSinceMs: 0,
    phaseBeganEarlier: false,
    unmanaged: undefined,
    guaranteedMemorySource: 'annotation',
    ...overrides,
  };
}

const facts = { phaseSinceMs: 1000, history: [], ioLimitsSent: {}, nowMs: 5000 };

describe('wire to policy: the guest the policy sees', () => {
  it('passes the VM\'s autodeflate on, so the policy can keep more headroom for a balloon that undoes itself', () => {
    expect(guestStateOf(description({ autodeflate: true }), undefined, facts)!.autodeflate).to.equal(true);
    expect(guestStateOf(description({ autodeflate: false }), undefined, facts)!.autodeflate).to.equal(false);
  });

  it('leaves the guest\'s swap unknown (QEMU\'s balloon stats carry swap traffic, not its size)', () => {
    expect(guestStateOf(description(), undefined, facts)!.swapBytes).to.equal(undefined);
  });

  it('takes the guest memory from the latest sample after a hotplug, and the identity, floor and margin from Describe', () => {
    const latest = { memory: { guestBytes: 2048 * MiB }, phase: 'running', balloonActualBytes: 1536 * MiB } as unknown as StatsSample;
    const state = guestStateOf(description(), latest, facts)!;
    expect(state.id).to.equal('ns/vm');
    expect(state.guestMemoryBytes).to.equal(2048 * MiB);
    expect(state.guaranteedMemoryBytes).to.equal(256 * MiB);
    expect(state.marginBytes).to.equal(64 * MiB);
    expect(state.balloonActualBytes).to.equal(1536 * MiB);
  });

  it('is undefined before the sidecar knows its VM', () => {
    expect(guestStateOf(description({ vm: undefined }), undefined, facts)).to.equal(undefined);
  });

  it('dates a sample without its own time by now', () => {
    const sample = { sampledAtMs: 0, balloonActualBytes: 100 } as unknown as StatsSample;
    expect(guestSampleOf(sample, 42).atMs).to.equal(42);
  });
});
