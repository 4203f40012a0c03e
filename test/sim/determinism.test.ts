import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/common/paths.js';
import { resolveSimPolicy } from '../../src/sim/policies.js';
import { parseScenario } from '../../src/sim/scenario.js';
import { simulate } from '../../src/sim/simulator.js';

describe('simulator determinism', () => {
  const scenario = parseScenario(readFileSync(path.join(packageRoot, 'scenarios', 'office-day.yaml'), 'utf8'));
  const short = { ...scenario, durationMs: 900_000 };

  for (const name of ['static', 'mom', 'autoballoon']) {
    it(`gives the same result twice for one seed under ${name}`, () => {
      const a = simulate(short, resolveSimPolicy(name), { seed: 42 });
      const b = simulate(short, resolveSimPolicy(name), { seed: 42 });
      expect(JSON.stringify(a)).to.equal(JSON.stringify(b));
    });
  }

  it('gives a different run for another seed', () => {
    const a = simulate(short, resolveSimPolicy('mom'), { seed: 1, timeline: true });
    const b = simulate(short, resolveSimPolicy('mom'), { seed: 2, timeline: true });
    expect(a.timeline!.guests[0]!.needBytes).to.not.deep.equal(b.timeline!.guests[0]!.needBytes);
  });

  it('keeps a guest the same whatever other guests the run holds', () => {
    const few = simulate(short, resolveSimPolicy('static'), { seed: 3, guests: 2 });
    const many = simulate(short, resolveSimPolicy('static'), { seed: 3, guests: 6 });
    expect(few.timeline!.guests[0]!.id).to.equal(many.timeline!.guests[0]!.id);
    expect(few.timeline!.guests[0]!.needBytes).to.deep.equal(many.timeline!.guests[0]!.needBytes);
  });
});
