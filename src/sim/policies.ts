/**
 * The policies the simulator can drive, by name, with the cadence their real loop
 * runs at. `mom`, `default` and policy files come from the policy engine's registry
 * (src/policy/registry.ts): the same objects the shim runs, never a copy. `static`
 * and `autoballoon` are the benchmark baselines.
 */
import { INPUT_LIMITS, readInputText } from '../common/read-input.js';
import { InputError } from '../common/errors.js';
import { autoballoonPolicy } from '../policy/autoballoon.js';
import { createPolicy } from '../policy/registry.js';
import { staticPolicy } from '../policy/static-policy.js';
import type { Policy } from '../policy/types.js';
import { AUTOBALLOON_CADENCE, MOM_CADENCE, SHIM_CADENCE, type Cadence } from './cadence.js';
import type { SimPolicy } from './simulator.js';

const readText = (file: string): string => readInputText(file, '--policy', INPUT_LIMITS.policyFile);

const BUILT_IN: Record<string, { make: () => Policy<unknown>; cadence: Cadence }> = {
  static: { make: () => staticPolicy() as Policy<unknown>, cadence: SHIM_CADENCE },
  // Ballooning on, as oVirt clusters that overcommit run it (vdsm ships it off).
  mom: { make: () => createPolicy('mom', { balloonEnabled: true }, readText), cadence: MOM_CADENCE },
  autoballoon: { make: () => autoballoonPolicy() as Policy<unknown>, cadence: AUTOBALLOON_CADENCE },
  default: { make: () => createPolicy('default', {}, readText), cadence: SHIM_CADENCE },
};

/** Names accepted by `--policy` (a declarative policy file, *.yaml, is accepted too). */
export function simPolicyNames(): string[] {
  return Object.keys(BUILT_IN);
}

/** A policy by name or policy file, ready for the simulator; `field` names the option in errors. */
export function resolveSimPolicy(name: string, field = '--policy'): SimPolicy {
  const entry = BUILT_IN[name];
  if (entry) return { name, policy: entry.make(), cadence: entry.cadence };
  if (/\.ya?ml$/i.test(name)) return { name, policy: createPolicy(name, {}, readText), cadence: SHIM_CADENCE };
  throw new InputError(field, `is "${name}"; accepted: ${simPolicyNames().join(', ')}, or a policy file ending in .yaml`);
}
