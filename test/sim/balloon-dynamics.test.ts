import { expect } from 'chai';
import { BalloonDynamics, MEASURED_BALLOON_TIMINGS } from '../../src/sim/balloon-dynamics.js';
import { Prng } from '../../src/sim/prng.js';

const MiB = 2 ** 20;

function timeToReach(b: BalloonDynamics, target: number, reclaimable: number): number {
  b.setTarget(target);
  let ms = 0;
  while (b.actualBytes !== target && ms < 60_000) {
    b.step(10, reclaimable);
    ms += 10;
  }
  return ms / 1000;
}

describe('balloon dynamics', () => {
  it('inflates 512 to 256 MiB in 0.3 to 0.9 s, as measured under TCG', () => {
    const times: number[] = [];
    for (let seed = 0; seed < 50; seed++) {
      const b = new BalloonDynamics(512 * MiB, MEASURED_BALLOON_TIMINGS, new Prng(seed));
      times.push(timeToReach(b, 256 * MiB, 512 * MiB));
    }
    expect(Math.min(...times)).to.be.at.least(0.3);
    expect(Math.max(...times)).to.be.at.most(0.91);
    expect(Math.max(...times) - Math.min(...times)).to.be.above(0.2);
  });

  it('deflates 256 to 512 MiB in about 0.2 s', () => {
    const b = new BalloonDynamics(256 * MiB, MEASURED_BALLOON_TIMINGS, new Prng(1));
    expect(timeToReach(b, 512 * MiB, 0)).to.be.closeTo(0.2, 0.011);
  });

  it('takes memory the guest must swap out no faster than its swap-out speed', () => {
    const b = new BalloonDynamics(1024 * MiB, MEASURED_BALLOON_TIMINGS, new Prng(1));
    // Nothing reclaimable: every byte is swapped out at 100 MiB/s.
    expect(timeToReach(b, 768 * MiB, 0)).to.be.closeTo(2.56, 0.02);
  });

  it('lets the guest take memory back on its own (autodeflate)', () => {
    const b = new BalloonDynamics(1024 * MiB, MEASURED_BALLOON_TIMINGS, new Prng(1));
    timeToReach(b, 512 * MiB, 1024 * MiB);
    b.forceDeflate(100 * MiB);
    expect(b.actualBytes).to.equal(612 * MiB);
    expect(b.targetBytes).to.equal(612 * MiB);
  });
});
