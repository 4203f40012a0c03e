/**
 * The shim's start check that it reads the kubelet's own pods cgroup (src/shim/host/pods-limit.ts).
 */
import { expect } from 'chai';
import { PODS_LIMIT_TOLERANCE, podsLimitMismatch } from '../../src/shim/host/pods-limit.js';

const GiB = 1024 ** 3;

describe('the pods cgroup limit check at start', () => {
  it('agrees when the limit is MemTotal - systemReserved - kubeReserved, within the tolerance', () => {
    expect(podsLimitMismatch(16 * GiB, 1 * GiB, 15 * GiB)).to.equal(undefined);
    const slack = Math.floor(PODS_LIMIT_TOLERANCE * 16 * GiB);
    expect(podsLimitMismatch(16 * GiB, 1 * GiB, 15 * GiB + slack)).to.equal(undefined);
    expect(podsLimitMismatch(16 * GiB, 1 * GiB, 15 * GiB - slack)).to.equal(undefined);
  });

  it('names the limit found and the one expected when the cgroup is another one (a wrong driver or path)', () => {
    expect(podsLimitMismatch(16 * GiB, 1 * GiB, 4 * GiB)).to.deep.equal({ limitBytes: 4 * GiB, expectedBytes: 15 * GiB });
    expect(podsLimitMismatch(16 * GiB, 1 * GiB, 15 * GiB + 0.03 * 16 * GiB)).to.deep.equal({ limitBytes: 15 * GiB + 0.03 * 16 * GiB, expectedBytes: 15 * GiB });
  });

  it('says nothing when the pods cgroup has no limit (allocatable not enforced)', () => {
    expect(podsLimitMismatch(16 * GiB, 1 * GiB, undefined)).to.equal(undefined);
  });
});
