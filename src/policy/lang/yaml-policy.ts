/**
 * Runs a compiled declarative policy as a KubeMom Policy. Per block and cycle (once
 * for Host, once per guest for VM), each rule whose `when` holds moves its output
 * toward its clamped target through its function, subject to hysteresis and rate
 * limits; rules writing one output are blended by their influence weights.
 * A rule that reads a value the input lacks (a guest without balloon data) is skipped.
 */
import { InputError } from '../../common/errors.js';
import type { BalloonDecision, GuestState, IoDecision, IoRateName, IoRates, KsmControl, Policy, PolicyDecisions, PolicyInput } from '../types.js';
import { DEFAULT_LIFECYCLE, guardTarget, lifecycleGate, type LifecycleOptions } from '../../balloon/phase-rules.js';
import { ksmWrites } from '../mom/ksm.js';
import { allOf, anyOf, evaluateExpr, MissingValue, type Value } from './expr-eval.js';
import type { Expr } from './expr-parse.js';
import type { CompiledBlock, CompiledPolicy, CompiledRule } from './policy-file.js';
import { guestLookup, hostLookup } from './variables.js';
import { normalizeRates } from '../../balloon/io-pressure.js';
import { KiB } from '../../common/units.js';

export interface YamlPolicyState {
  /** The previous evaluation's time (for elapsed time in functions and rate limits). */
  lastNowMs?: number;
}

interface OutputValue {
  value: number;
  reason: string;
}

type BaseLookup = (name: string) => Value;

/** The blended value of each output a block's rules moved this cycle. */
export function runBlock(
  block: CompiledBlock,
  base: BaseLookup,
  currentOf: (output: string) => number | undefined,
  elapsedS: number,
): Map<string, OutputValue> {
  const memo = new Map<string, Value | MissingValue>();
  const lookup = (name: string): Value => {
    const cached = memo.get(name);
    if (cached instanceof MissingValue) throw cached;
    if (cached !== undefined) return cached;
    let result: Value | MissingValue;
    try {
      const v = block.vars.get(name);
      const c = block.conditions.get(name);
      if (v) result = evaluateExpr(v, lookup);
      else if (c) result = c.mode === 'all' ? allOf(c.exprs, lookup) : anyOf(c.exprs, lookup);
      else result = base(name);
    } catch (err) {
      if (!(err instanceof MissingValue)) throw err;
      result = err;
    }
    memo.set(name, result);
    if (result instanceof MissingValue) throw result;
    return result;
  };
  const num = (e: Expr): number => evaluateExpr(e, lookup) as number;
  const contributions = new Map<string, Array<{ value: number; weight: number; rule: string }>>();
  for (const rule of block.rules) {
    try {
      const proposed = applyRule(rule, num, (list) => allOf(list, lookup), (list) => anyOf(list, lookup), currentOf(rule.output), elapsedS);
      if (proposed === undefined) continue;
      const list = contributions.get(rule.output) ?? [];
      list.push({ ...proposed, rule: rule.name });
      contributions.set(rule.output, list);
    } catch (err) {
      if (!(err instanceof MissingValue)) throw err;
    }
  }
  const out = new Map<string, OutputValue>();
  for (const [output, list] of contributions) {
    const reason = list.map((c) => c.rule).join('+');
    if (list.length === 1) {
      // One rule: its value as computed, so the bits are exactly the rule's arithmetic.
      out.set(output, { value: list[0]!.value, reason });
      continue;
    }
    let sum = 0;
    let weights = 0;
    for (const c of list) {
      sum += c.value * c.weight;
      weights += c.weight;
    }
    out.set(output, { value: sum / weights, reason });
  }
  return out;
}

function applyRule(
  rule: CompiledRule,
  num: (e: Expr) => number,
  all: (list: readonly Expr[]) => boolean,
  any: (list: readonly Expr[]) => boolean,
  current: number | undefined,
  elapsedS: number,
): { value: number; weight: number } | undefined {
  if (!all(rule.whenAll)) return undefined;
  if (rule.whenAny.length > 0 && !any(rule.whenAny)) return undefined;
  let target = num(rule.target);
  if (rule.mins.length) target = Math.max(target, Math.max(...rule.mins.map(num)));
  if (rule.maxs.length) target = Math.min(target, Math.min(...rule.maxs.map(num)));
  const weight = rule.influence ? num(rule.influence) : 1;
  if (!(weight > 0)) return undefined;
  if (current === undefined) {
    // Nothing to move from: only a jump to the target makes sense.
    return rule.fn === 'constant' ? { value: target, weight } : undefined;
  }
  let immediate = target;
  const steps = elapsedS / rule.timeS;
  if (rule.fn === 'linear') {
    const step = Math.abs(num(rule.rate!)) * steps;
    if (Math.abs(target - current) > step) immediate = current + Math.sign(target - current) * step;
  } else if (rule.fn === 'exponential') {
    const factor = Math.min(1, Math.max(0, num(rule.rate!)));
    immediate = current + (target - current) * (1 - Math.pow(1 - factor, steps));
  }
  const delta = immediate - current;
  const minAbs = rule.minAbs ? num(rule.minAbs) : 0;
  const minRel = rule.minRel ? num(rule.minRel) : 0;
  if (!(Math.abs(delta) > minAbs && Math.abs(delta) > minRel * Math.abs(current))) return undefined;
  let limit = Infinity;
  const per = elapsedS / rule.perS;
  if (rule.maxAbs) limit = Math.min(limit, Math.abs(num(rule.maxAbs)) * per);
  if (rule.maxRel) limit = Math.min(limit, Math.abs(num(rule.maxRel)) * Math.abs(current) * per);
  const value = Math.abs(delta) > limit ? current + Math.sign(delta) * limit : immediate;
  return { value, weight };
}

/**
 * The complete IO limits of an opted-in guest: the outputs moved this cycle over the
 * limits it has now, whole numbers (0 or less is unlimited). Guests that did not opt
 * in (kubemom.io/io-throttle) get nothing.
 */
function ioDecision(guest: GuestState, rates: IoRates, reasons: string[]): IoDecision[] {
  if (!guest.ioThrottle) return [];
  const limits = normalizeRates({ ...guest.ioLimits, ...rates });
  return [{ guestId: guest.id, limits, reason: [...new Set(reasons)].join('+') }];
}

/** Parameter values: the file's defaults with overrides checked against the declarations. */
function resolveParameters(policy: CompiledPolicy, overrides: Record<string, boolean | number>): Map<string, Value> {
  const values = new Map<string, Value>();
  for (const [name, decl] of policy.parameters) values.set(name, decl.value);
  for (const [name, v] of Object.entries(overrides)) {
    const decl = policy.parameters.get(name);
    if (!decl) {
      const accepted = [...policy.parameters.keys()].join(', ') || 'none';
      throw new InputError(`parameters.${name}`, `is not a parameter of policy ${policy.name}; accepted: ${accepted}`);
    }
    if (decl.type === 'bool') values.set(name, typeof v === 'boolean' ? v : v !== 0);
    else if (typeof v === 'number') values.set(name, v);
    else throw new InputError(`parameters.${name}`, `is ${v}; accepted: a number`);
  }
  return values;
}

/** A compiled policy file as a Policy. */
export function yamlPolicy(policy: CompiledPolicy, overrides: Record<string, boolean | number> = {}): Policy<YamlPolicyState> {
  const params = resolveParameters(policy, overrides);
  const lifecycle: LifecycleOptions | undefined = policy.lifecycle.enabled
    ? { ...DEFAULT_LIFECYCLE, startGraceMs: policy.lifecycle.startGraceMs, holdDuringMigration: policy.lifecycle.holdDuringMigration }
    : undefined;
  const evaluate = (input: PolicyInput, state: YamlPolicyState): { decisions: PolicyDecisions; state: YamlPolicyState } => {
    const elapsedS = state.lastNowMs === undefined ? policy.intervalMs / 1000 : Math.max(0, (input.nowMs - state.lastNowMs) / 1000);
    const decisions: PolicyDecisions = { balloons: [], ksm: {}, skipped: [] };
    if (input.host.history.length === 0) {
      return { decisions: { balloons: [], ksm: {}, notRun: 'host monitor is not ready (no sample)' }, state };
    }
    const host = hostLookup(input);
    const withParams = (base: BaseLookup): BaseLookup => (name) => {
      const p = params.get(name);
      if (p !== undefined) return p;
      if (name.startsWith('host.')) return host(name.slice(5));
      return base(name);
    };
    const balloons = new Map<string, { guest: GuestState; value: number; reason: string }>();
    const ksm: Partial<Record<KsmControl, number>> = {};
    const io = new Map<string, { guest: GuestState; rates: IoRates; reasons: string[] }>();
    for (const block of policy.blocks) {
      if (block.scope === 'Host') {
        const lookup = withParams((name) => { throw new MissingValue(name); });
        const out = runBlock(block, lookup, (o) => input.host.ksm?.[o.slice(4)], elapsedS);
        for (const [o, v] of out) ksm[o.slice(4) as KsmControl] = v.value;
        continue;
      }
      for (const guest of input.guests) {
        if (guest.history.length === 0) continue; // not ready: no sample yet
        const g = guestLookup(guest, input.nowMs);
        const lookup = withParams((name) => {
          if (name.startsWith('guest.')) return g(name.slice(6));
          throw new MissingValue(name);
        });
        const out = runBlock(block, lookup, (o) => (o === 'memory.balloon' ? guest.balloonActualBytes : guest.ioLimits?.[o.slice(3) as IoRateName] ?? 0), elapsedS);
        const b = out.get('memory.balloon');
        if (b) balloons.set(guest.id, { guest, ...b });
        for (const [o, v] of out) {
          if (!o.startsWith('io.')) continue;
          const entry = io.get(guest.id) ?? { guest, rates: {}, reasons: [] };
          entry.rates[o.slice(3) as IoRateName] = v.value;
          entry.reasons.push(v.reason);
          io.set(guest.id, entry);
        }
      }
    }
    for (const guest of input.guests) {
      if (guest.balloonActualBytes === undefined) decisions.skipped!.push({ guestId: guest.id, reason: 'no balloon data' });
    }
    for (const [guestId, { guest, value, reason }] of balloons) {
      // Whole KiB, truncated like MOM's int() on KiB (libvirt's balloon unit).
      const kib = Math.trunc(value / KiB) * KiB;
      const target = guardTarget(guest, kib, lifecycle ? lifecycleGate(guest, input.nowMs, lifecycle) : 'free');
      if (target !== undefined) decisions.balloons.push({ guestId, targetBytes: target, reason } satisfies BalloonDecision);
    }
    const ioDecisions = [...io.values()].flatMap(({ guest, rates, reasons }) => ioDecision(guest, rates, reasons));
    if (ioDecisions.length > 0) decisions.io = ioDecisions;
    decisions.ksm = input.host.ksm === undefined ? {} : ksmWrites(ksm, input.host.ksm);
    return { decisions, state: { lastNowMs: input.nowMs } };
  };
  return { name: policy.name, initialState: () => ({}), evaluate };
}
