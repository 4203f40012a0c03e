import { expect } from 'chai';
import { counterRate } from '../../src/common/counter-rate.js';

describe('counterRate: one rule for cumulative counters', () => {
  it('is the increase over the interval', () => {
    expect(counterRate(100, 400, 3)).to.equal(100);
    expect(counterRate(400, 400, 2)).to.equal(0);
  });
  it('counts a counter that went down (a guest reboot) from zero', () => {
    expect(counterRate(1000, 30, 10)).to.equal(3);
  });
  it('has no rate over an interval that is not positive', () => {
    expect(counterRate(1, 2, 0)).to.equal(undefined);
    expect(counterRate(1, 2, -1)).to.equal(undefined);
  });
});
