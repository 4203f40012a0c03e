/**
 * Every policy by name, in one place: the shim, the simulator, the demo and the `policy` commands all turn a name into
 * a policy here and pass only their own overrides.
 *
 * - `default`: KubeMom's policy (src/balloon/default-policy.ts).
 * - `mom`: vdsm's balloon, KSM and IO policies (src/policy/mom/), with ballooning on, as the shim runs it. vdsm ships
 *   MOM with ballooning off, which only ever grows guests; a caller that wants MOM exactly as shipped passes
 *   `balloonEnabled: false` (the replay of a MOM recording does).
 * - `observe` (or `static`): decides nothing; the node is watched and reported only, what a node does without KubeMom.
 * - `autoballoon`: Proxmox VE's automatic ballooning, a benchmark baseline.
 * - a policy file: a path (it has a `/`) or a name ending in .yaml/.yml, in the policy language (src/policy/lang/).
 *   Reading it is the caller's job (a function passed in), so this module stays free of I/O.
 */
import { InputError } from '../common/errors.js';
import { DEFAULT_PARAMETERS, defaultPolicy } from '../balloon/default-policy.js';
import { AUTOBALLOON_DEFAULTS, autoballoonPolicy, type AutoballoonParameters } from './autoballoon.js';
import { compilePolicy } from './lang/policy-file.js';
import { yamlPolicy } from './lang/yaml-policy.js';
import { MOM_DEFAULT_PARAMETERS, momPolicy, type MomParameters } from './mom/policy.js';
import { staticPolicy } from './static-policy.js';
import type { Policy } from './types.js';

export type PolicyParameters = Record<string, boolean | number>;

/** The built-in names, in the order help texts list them. */
export const POLICY_NAMES = ['default', 'mom', 'observe', 'static', 'autoballoon'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

/** How MOM runs under KubeMom unless told otherwise: ballooning on (vdsm ships it off). */
export const MOM_AS_THE_SHIM_RUNS_IT: Partial<MomParameters> = { balloonEnabled: true };

/** A spec names a policy file when it is a path or ends in .yaml/.yml. */
export function isPolicyFile(spec: string): boolean {
  return spec.includes('/') || /\.ya?ml$/i.test(spec);
}

function isPolicyName(spec: string): spec is PolicyName {
  return (POLICY_NAMES as readonly string[]).includes(spec);
}

/** What an unknown name is told. */
export function unknownPolicy(field: string, spec: string): InputError {
  return new InputError(field, `is "${spec}"; accepted: ${POLICY_NAMES.join(', ')}, or a policy file (a path, or a name ending in .yaml)`);
}

/** Parameters checked against a built-in's defaults: known names, numbers for numbers (whole >= 0 unless fractional ones are allowed), booleans for flags. */
function checkedParameters<T extends object>(policy: string, defaults: T, params: PolicyParameters, fractional: boolean): Partial<T> {
  const out: Record<string, number | boolean> = {};
  for (const [k, v] of Object.entries(params)) {
    if (!(k in defaults)) {
      const accepted = Object.keys(defaults);
      throw new InputError(`parameters.${k}`, `is not a parameter of policy ${policy}; accepted: ${accepted.length ? accepted.join(', ') : 'none'}`);
    }
    if (typeof defaults[k as keyof T] === 'number') {
      const ok = typeof v === 'number' && Number.isFinite(v) && v >= 0 && (fractional || Number.isSafeInteger(v));
      if (!ok) throw new InputError(`parameters.${k}`, `is ${v}; accepted: ${fractional ? 'a number' : 'a whole number'} >= 0${fractional ? '' : ' (0 is unlimited)'}`);
      out[k] = v;
    } else {
      out[k] = typeof v === 'boolean' ? v : v !== 0;
    }
  }
  return out as Partial<T>;
}

const NO_PARAMETERS: Record<string, never> = {};

/** The parameter names a policy accepts (for callers that pass through foreign ones). */
export function policyParameterNames(spec: string, readText: (path: string) => string): string[] {
  if (isPolicyName(spec)) {
    if (spec === 'mom') return Object.keys(MOM_DEFAULT_PARAMETERS);
    if (spec === 'default') return Object.keys(DEFAULT_PARAMETERS);
    if (spec === 'autoballoon') return Object.keys(AUTOBALLOON_DEFAULTS);
    return [];
  }
  if (isPolicyFile(spec)) return [...compilePolicy(spec, readText(spec)).parameters.keys()];
  return [];
}

/**
 * The policy a spec names, with the caller's overrides. Throws InputError for an unknown name or parameter and
 * PolicyFileErrors (every problem, file:line:col) for an invalid file; `field` names the caller's option in errors.
 */
export function createPolicy(spec: string, params: PolicyParameters, readText: (path: string) => string, field = 'policy'): Policy<unknown> {
  if (isPolicyName(spec)) {
    switch (spec) {
      case 'default':
        return defaultPolicy(params) as Policy<unknown>;
      case 'mom':
        return momPolicy({ ...MOM_AS_THE_SHIM_RUNS_IT, ...checkedParameters('mom', MOM_DEFAULT_PARAMETERS, params, false) }) as Policy<unknown>;
      case 'observe':
      case 'static':
        checkedParameters(spec, NO_PARAMETERS, params, false);
        return staticPolicy(spec) as Policy<unknown>;
      case 'autoballoon':
        return autoballoonPolicy(checkedParameters<AutoballoonParameters>('autoballoon', AUTOBALLOON_DEFAULTS, params, true)) as Policy<unknown>;
    }
  }
  // A file name without the language's extension is still compiled as one (the shim's --policy /etc/kubemom/policy).
  if (isPolicyFile(spec)) return yamlPolicy(compilePolicy(/\.ya?ml$/i.test(spec) ? spec : `${spec}.yaml`, readText(spec)), params) as Policy<unknown>;
  throw unknownPolicy(field, spec);
}
