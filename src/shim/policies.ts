/**
 * The policies `kubemom shim --policy` can name: the policy engine's built-ins
 * (`default`, `mom`), a policy file (YAML policy language), or `observe`, the
 * shim's own policy that decides nothing, so the shim only watches and reports (a
 * safe first step on a new node).
 */
import { readFileSync } from 'node:fs';
import { createPolicy, type PolicyParameters } from '../balloon/registry.js';
import { InputError } from '../common/errors.js';
import type { Policy } from '../balloon/types.js';

/** A policy that makes no decision: monitoring only. */
export const observePolicy: Policy<null> = {
  name: 'observe',
  initialState: () => null,
  evaluate: () => ({ decisions: { balloons: [], ksm: {} }, state: null }),
};

/** The default for `--policy`. */
export const DEFAULT_SHIM_POLICY = 'default';

/**
 * A policy by built-in name or policy file path. Throws InputError for an unknown
 * name and PolicyFileErrors (every problem, file:line:col) for an invalid file.
 */
export function resolvePolicy(flag: string, spec: string): Policy<unknown> {
  if (spec === 'observe') return observePolicy as Policy<unknown>;
  // The shim turns ballooning on: MOM's own default (balloonEnabled 0) only ever grows guests.
  const params: PolicyParameters = spec === 'mom' ? { balloonEnabled: true } : {};
  try {
    return createPolicy(spec, params, (file) => readFileSync(file, 'utf8'));
  } catch (error) {
    if (error instanceof InputError && error.field === 'policy') {
      throw new InputError(flag, `"${spec}" is not a known policy; use one of observe, default, mom, or a policy file ending in .yaml/.yml`);
    }
    throw error;
  }
}
