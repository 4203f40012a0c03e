/**
 * The policies `kubemom shim --policy` can name. The policy engine (src/balloon)
 * provides the real ones; `observe` is the shim's own: it decides nothing, so the
 * shim only watches and reports (a safe first step on a new node).
 */
import { InputError } from '../common/errors.js';
import type { Policy } from '../balloon/types.js';

/** A policy that makes no decision: monitoring only. */
export const observePolicy: Policy<null> = {
  name: 'observe',
  initialState: () => null,
  evaluate: () => ({ decisions: { balloons: [], ksm: {} }, state: null }),
};

export type PolicyFactory = () => Policy<unknown>;

/** Built-in policies by name. */
export const SHIM_POLICIES: Record<string, PolicyFactory> = {
  observe: () => observePolicy as Policy<unknown>,
};

/** Loads a policy file (YAML policy language); set when the policy language is available. */
export let policyFileLoader: ((file: string) => Policy<unknown>) | undefined;

export function setPolicyFileLoader(loader: (file: string) => Policy<unknown>): void {
  policyFileLoader = loader;
}

/** A policy by built-in name, or from a file when the value looks like a path. */
export function resolvePolicy(flag: string, value: string): Policy<unknown> {
  const factory = Object.hasOwn(SHIM_POLICIES, value) ? SHIM_POLICIES[value] : undefined;
  if (factory) return factory();
  if (value.includes('/') || /\.ya?ml$/.test(value)) {
    if (!policyFileLoader) throw new InputError(flag, `"${value}": policy files are not supported by this build; use one of ${Object.keys(SHIM_POLICIES).join(', ')}`);
    return policyFileLoader(value);
  }
  throw new InputError(flag, `"${value}" is not a known policy; use one of ${Object.keys(SHIM_POLICIES).join(', ')}, or a policy file path`);
}
