/** Small scenario builders for the simulator tests. */
import type { Policy } from '../../src/policy/types.js';
import { SHIM_CADENCE } from '../../src/sim/cadence.js';
import { scenarioFromObject, type Scenario } from '../../src/sim/scenario.js';
import type { SimPolicy } from '../../src/sim/simulator.js';

/** A scenario from a partial document over a small default one. */
export function testScenario(over: Record<string, unknown> = {}): Scenario {
  return scenarioFromObject({
    name: 'test',
    durationSeconds: 300,
    node: { memory: '8Gi', system: '512Mi', hostCache: '256Mi', vmOverhead: '100Mi' },
    guests: [{ name: 'vm', count: 2, memory: '2Gi', workload: { model: 'steady', level: 0.3 } }],
    ...over,
  });
}

/** A test policy that asks every guest for the same target each run (the guard still clamps). */
export function fixedTargetPolicy(targetBytes: number): SimPolicy {
  const policy: Policy<null> = {
    name: 'fixed-target',
    initialState: () => null,
    evaluate: (input, state) => ({
      decisions: { balloons: input.guests.map((g) => ({ guestId: g.id, targetBytes, reason: 'test' })), ksm: {} },
      state,
    }),
  };
  return { name: 'fixed-target', policy: policy as Policy<unknown>, cadence: SHIM_CADENCE };
}
