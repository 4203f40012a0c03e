/**
 * The policies `kubemom shim --policy` can name: the policy engine's built-ins
 * (`default`, `mom`), a policy file (YAML policy language), or `observe`, the
 * shim's own policy that decides nothing, so the shim only watches and reports (a
 * safe first step on a new node).
 */
import { InputError } from '../common/errors.js';
import { INPUT_LIMITS, readInputText } from '../common/read-input.js';
import { PolicyFileErrors } from '../policy/lang/policy-file.js';
import { createPolicy, type PolicyParameters } from '../policy/registry.js';
import type { Policy } from '../policy/types.js';

/** A policy that makes no decision: monitoring only. */
export const observePolicy: Policy<null> = {
  name: 'observe',
  initialState: () => null,
  evaluate: () => ({ decisions: { balloons: [], ksm: {} }, state: null }),
};

/** The default for `--policy`. */
export const DEFAULT_SHIM_POLICY = 'default';

/** The names `--policy` accepts besides a file. */
export const SHIM_POLICY_NAMES = ['default', 'mom', 'observe'] as const;
const BUILT_IN = SHIM_POLICY_NAMES;

/**
 * Reads and compiles a policy file (YAML policy language). A missing file or any
 * problem in it is an InputError naming the flag, with every file:line:col problem.
 */
export function loadPolicyFile(flag: string, file: string): Policy<unknown> {
  const text = readInputText(file, flag, INPUT_LIMITS.policyFile);
  try {
    return createPolicy(/\.ya?ml$/i.test(file) ? file : `${file}.yaml`, {}, () => text);
  } catch (error) {
    if (error instanceof PolicyFileErrors || error instanceof InputError) throw new InputError(flag, `policy file "${file}" is invalid:\n${error.message}`);
    throw error;
  }
}

/** A policy by built-in name, or from a file when the value looks like a path. */
export function resolvePolicy(flag: string, value: string): Policy<unknown> {
  if (value === 'observe') return observePolicy as Policy<unknown>;
  if (value === 'default' || value === 'mom') {
    // The shim turns ballooning on: MOM's own default (balloonEnabled 0) only ever grows guests.
    const params: PolicyParameters = value === 'mom' ? { balloonEnabled: true } : {};
    return createPolicy(value, params, () => '');
  }
  if (value.includes('/') || /\.ya?ml$/.test(value)) return loadPolicyFile(flag, value);
  throw new InputError(flag, `"${value}" is not a known policy; use one of ${BUILT_IN.join(', ')}, or a policy file path`);
}
