/**
 * The shim's `--policy`: any name of the policy registry (src/policy/registry.ts) or a policy file, read here with
 * the input size limit. The shim adds no overrides: its `mom` is the registry's (ballooning on).
 */
import { InputError } from '../common/errors.js';
import { INPUT_LIMITS, readInputText } from '../common/read-input.js';
import { PolicyFileErrors } from '../policy/lang/policy-file.js';
import { createPolicy, isPolicyFile } from '../policy/registry.js';
import type { Policy } from '../policy/types.js';

/** The default for `--policy`. */
export const DEFAULT_SHIM_POLICY = 'default';

/**
 * A policy by name, or from a file when the value is a path. A missing file or any problem in it is an InputError
 * naming the flag, with every file:line:col problem.
 */
export function resolvePolicy(flag: string, value: string): Policy<unknown> {
  if (!isPolicyFile(value)) return createPolicy(value, {}, () => '', flag);
  const text = readInputText(value, flag, INPUT_LIMITS.policyFile);
  try {
    return createPolicy(value, {}, () => text, flag);
  } catch (error) {
    if (error instanceof PolicyFileErrors || error instanceof InputError) throw new InputError(flag, `policy file "${value}" is invalid:\n${error.message}`);
    throw error;
  }
}
