/**
 * The policies the simulator can drive, by name, with the cadence their real loop
 * runs at. The objects are the policy engine's own (src/balloon): the same code the
 * shim runs, never a copy.
 */
import { InputError } from '../common/errors.js';
import { autoballoonPolicy } from '../balloon/autoballoon.js';
import { staticPolicy } from '../balloon/static-policy.js';
import { momPolicy } from '../balloon/mom-policy.js';
import type { Policy } from '../balloon/types.js';
import { AUTOBALLOON_CADENCE, MOM_CADENCE, SHIM_CADENCE, type Cadence } from './cadence.js';
import type { SimPolicy } from './simulator.js';

const BUILT_IN: Record<string, { make: () => Policy<unknown>; cadence: Cadence }> = {
  static: { make: () => staticPolicy() as Policy<unknown>, cadence: SHIM_CADENCE },
  autoballoon: { make: () => autoballoonPolicy() as Policy<unknown>, cadence: AUTOBALLOON_CADENCE },
  // Ballooning on, as oVirt clusters that overcommit run it (vdsm ships it off).
  mom: { make: () => momPolicy({ balloonEnabled: true }) as Policy<unknown>, cadence: MOM_CADENCE },
};

/** Names accepted by `--policy`. */
export function simPolicyNames(): string[] {
  return Object.keys(BUILT_IN);
}

/** A policy by name, ready for the simulator; `field` names the option in errors. */
export function resolveSimPolicy(name: string, field = '--policy'): SimPolicy {
  const entry = BUILT_IN[name];
  if (!entry) throw new InputError(field, `is "${name}"; accepted: ${simPolicyNames().join(', ')}`);
  return { name, policy: entry.make(), cadence: entry.cadence };
}
