/**
 * Policies by name: the built-ins `mom` and `default`, or a declarative policy file
 * (a path ending in .yaml or .yml). Reading the file is the caller's job (a function
 * passed in), so this module stays free of I/O.
 */
import { InputError } from '../common/errors.js';
import { DEFAULT_PARAMETERS, defaultPolicy } from '../balloon/default-policy.js';
import { compilePolicy } from './lang/policy-file.js';
import { yamlPolicy } from './lang/yaml-policy.js';
import { MOM_DEFAULT_PARAMETERS, momPolicy, type MomParameters } from './mom/policy.js';
import type { Policy } from './types.js';

export type PolicyParameters = Record<string, boolean | number>;

export const BUILTIN_POLICIES = ['mom', 'default'] as const;

function momParameters(params: PolicyParameters): Partial<MomParameters> {
  const out: Partial<MomParameters> = {};
  for (const [k, v] of Object.entries(params)) {
    if (!(k in MOM_DEFAULT_PARAMETERS)) {
      throw new InputError(`parameters.${k}`, `is not a parameter of policy mom; accepted: ${Object.keys(MOM_DEFAULT_PARAMETERS).join(', ')}`);
    }
    const key = k as keyof MomParameters;
    if (typeof MOM_DEFAULT_PARAMETERS[key] === 'number') {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new InputError(`parameters.${k}`, `is ${v}; accepted: a whole number >= 0 (0 is unlimited)`);
      (out as Record<string, number | boolean>)[key] = v;
    } else {
      (out as Record<string, number | boolean>)[key] = typeof v === 'boolean' ? v : v !== 0;
    }
  }
  return out;
}

/** The parameter names a policy accepts (for callers that pass through foreign ones). */
export function policyParameterNames(spec: string, readText: (path: string) => string): string[] {
  if (spec === 'mom') return Object.keys(MOM_DEFAULT_PARAMETERS);
  if (spec === 'default') return Object.keys(DEFAULT_PARAMETERS);
  if (/\.ya?ml$/i.test(spec)) return [...compilePolicy(spec, readText(spec)).parameters.keys()];
  return [];
}

/**
 * The policy a spec names. Throws InputError for an unknown name and
 * PolicyFileErrors (every problem, file:line:col) for an invalid file.
 */
export function createPolicy(spec: string, params: PolicyParameters, readText: (path: string) => string): Policy<unknown> {
  if (spec === 'mom') return momPolicy(momParameters(params)) as Policy<unknown>;
  if (spec === 'default') return defaultPolicy(params) as Policy<unknown>;
  if (/\.ya?ml$/i.test(spec)) return yamlPolicy(compilePolicy(spec, readText(spec)), params) as Policy<unknown>;
  throw new InputError('policy', `"${spec}" is not a policy; accepted: ${BUILTIN_POLICIES.join(', ')} or a policy file ending in .yaml/.yml`);
}
