/**
 * The policies `kubemom shim --policy` can name. The policy engine (src/balloon)
 * provides the real ones; `observe` is the shim's own: it decides nothing, so the
 * shim only watches and reports (a safe first step on a new node).
 */
import { readFileSync } from 'node:fs';
import { InputError } from '../common/errors.js';
import { PolicyFileErrors } from '../balloon/lang/policy-file.js';
import { createPolicy } from '../balloon/registry.js';
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
  default: () => createPolicy('default', {}, () => ''),
  mom: () => createPolicy('mom', {}, () => ''),
};

/**
 * Reads and compiles a policy file (YAML policy language). A missing file or any
 * problem in it is an InputError naming the flag, with every file:line:col problem.
 */
export function loadPolicyFile(flag: string, file: string): Policy<unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new InputError(flag, `cannot read the policy file "${file}": ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    return createPolicy(/\.ya?ml$/i.test(file) ? file : `${file}.yaml`, {}, () => text);
  } catch (error) {
    if (error instanceof PolicyFileErrors || error instanceof InputError) throw new InputError(flag, `policy file "${file}" is invalid:\n${error.message}`);
    throw error;
  }
}

/** Loads a policy file; replaceable (tests). */
export let policyFileLoader: ((file: string) => Policy<unknown>) | undefined = (file) => loadPolicyFile('--policy', file);

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
