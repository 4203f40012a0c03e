/**
 * Passthrough VMs (VFIO: hostDevices, gpus, SR-IOV interfaces) are observed only:
 * the sidecar still returns a valid domain, the guard never takes memory, and the
 * reason reaches Describe, the samples and the shim's metrics.
 */
import { expect } from 'chai';
import { defineDomain } from '../../src/hook-sidecar/callbacks.js';
import { parseDomain } from '../../src/hook-sidecar/domain-rewrite.js';
import { passthroughReason } from '../../src/hook-sidecar/passthrough.js';
import { defaultGuardConfig, INITIAL_GUARD_STATE, requestTarget, tick } from '../../src/agent/guard.js';
import { unmanagedVerdict } from '../../src/agent/unmanaged.js';
import { fixtureDomainXml, vmiWith } from '../support/fixtures.js';

const MiB = 2 ** 20;
const paths = { hooksDir: '/hooks', qemuHooksDir: '/var/run/kubevirt-hooks/hook-sidecar-0' };

describe('passthrough VMs are observed only', () => {
  it('names every VFIO device kind the VMI asks for', () => {
    const reason = passthroughReason({
      hostDevices: [{ name: 'nvme0', deviceName: 'example.com/nvme' }],
      gpus: [{ name: 'gpu1', deviceName: 'nvidia.com/GA102' }],
      interfaces: [{ name: 'default', masquerade: {} }, { name: 'fast', sriov: {} }],
    });
    expect(reason).to.contain('hostDevices nvme0').and.contain('gpus gpu1').and.contain('SR-IOV interfaces fast');
    expect(reason).to.not.contain('default');
    expect(reason).to.contain('never inflated');
  });

  it('finds nothing in a VMI with bridge, masquerade and disks only', () => {
    expect(passthroughReason({ disks: [{ name: 'root' }], interfaces: [{ name: 'default', masquerade: {} }, { name: 'b', bridge: {} }] })).to.equal(undefined);
    expect(passthroughReason(undefined)).to.equal(undefined);
  });

  it('the sidecar still returns a valid domain and saves the reason in the VM config', () => {
    const vmi = vmiWith({}, (v) => {
      (v.spec.domain as Record<string, unknown>)['devices'] = { gpus: [{ name: 'gpu1', deviceName: 'nvidia.com/GA102' }] };
    });
    const { xml, config } = defineDomain(fixtureDomainXml, vmi, paths);
    expect(() => parseDomain(xml)).to.not.throw();
    expect(xml).to.contain('<memballoon').and.contain('qemu:commandline');
    expect(config.observeOnlyReason).to.contain('gpus gpu1');
  });

  it('a VM without passthrough devices has no observe-only reason', () => {
    expect(defineDomain(fixtureDomainXml, vmiWith(), paths).config.observeOnlyReason).to.equal(undefined);
  });

  const config = { ...defaultGuardConfig({ guestMemoryBytes: 512 * MiB, guaranteedBytes: 128 * MiB, marginBytes: 64 * MiB, periodSeconds: 1 }), observeOnlyReason: 'passthrough devices (gpus gpu1)' };
  const T0 = 1_800_000_000_000;
  const stats = {
    totalBytes: 480 * MiB, freeBytes: 400 * MiB, availableBytes: 400 * MiB, diskCachesBytes: 0, swapInBytes: 0, swapOutBytes: 0, majorFaults: 0, minorFaults: 0,
    swapInBytesPerSecond: 0, swapOutBytesPerSecond: 0, majorFaultsPerSecond: 0, minorFaultsPerSecond: 0, lastUpdateUnixSeconds: T0 / 1000,
  };

  it('the guard refuses every inflation with clamp observe-only and the reason, and never sends less than the guest memory', () => {
    let state = INITIAL_GUARD_STATE;
    for (const requested of [4096, 128 * MiB, 300 * MiB, 511 * MiB]) {
      const d = requestTarget(config, state, { nowMs: T0, phase: 'running', actualBytes: 512 * MiB, stats, stale: false }, requested);
      expect(d.clamp).to.equal('observe-only');
      expect(d.appliedBytes).to.equal(512 * MiB);
      expect(d.send).to.equal(undefined);
      expect(d.detail).to.contain('gpus gpu1');
      state = d.state;
      const t = tick(config, state, { nowMs: T0 + 1000, phase: 'running', actualBytes: 512 * MiB, stats, stale: false });
      // At most the balloon's full size is (re)sent: nothing is taken.
      if (t.send !== undefined) expect(t.send).to.equal(512 * MiB);
      state = t.state;
    }
  });

  it('still gives memory back when someone else had inflated the balloon', () => {
    const d = requestTarget(config, INITIAL_GUARD_STATE, { nowMs: T0, phase: 'running', actualBytes: 300 * MiB, stats, stale: false }, 512 * MiB);
    expect(d.clamp).to.not.equal('observe-only');
    expect(d.send).to.equal(512 * MiB);
  });

  it('the verdict is passthrough while the side monitor answers', () => {
    const v = unmanagedVerdict({ observeOnlyReason: 'passthrough devices (x)', definedAtMs: 0, everConnected: true, socketExists: true, nowMs: 10 ** 6, graceMs: 30_000 });
    expect(v).to.deep.equal({ kind: 'passthrough', reason: 'passthrough devices (x)' });
  });
});
