/**
 * The policies the simulator can drive: every name of the policy registry (src/policy/registry.ts), the same objects
 * the shim runs, never a copy, with the cadence their real loop runs at (the simulator's only addition).
 */
import { INPUT_LIMITS, readInputText } from '../common/read-input.js';
import { createPolicy, POLICY_NAMES } from '../policy/registry.js';
import { AUTOBALLOON_CADENCE, MOM_CADENCE, SHIM_CADENCE, type Cadence } from './cadence.js';
import type { SimPolicy } from './simulator.js';

const readText = (file: string): string => readInputText(file, '--policy', INPUT_LIMITS.policyFile);

/** MOM's and Proxmox's loops run at their own periods; everything else at the shim's. */
const CADENCE: Readonly<Record<string, Cadence>> = { mom: MOM_CADENCE, autoballoon: AUTOBALLOON_CADENCE };

/** Names accepted by `--policy` (a policy file is accepted too). */
export function simPolicyNames(): string[] {
  return [...POLICY_NAMES];
}

/** A policy by name or policy file, ready for the simulator; `field` names the option in errors. */
export function resolveSimPolicy(name: string, field = '--policy'): SimPolicy {
  return { name, policy: createPolicy(name, {}, readText, field), cadence: CADENCE[name] ?? SHIM_CADENCE };
}
