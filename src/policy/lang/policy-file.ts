/**
 * Loading and validating declarative policy files (YAML). A file holds one or more
 * YAML documents, each a block with `scope: Host` (once a cycle) or `scope: VM` (once
 * per VM a cycle), named `conditions`, `vars` and `rules`. Every problem is reported
 * with the file, line and column, and what is accepted; all problems at once.
 */
import { LineCounter, isMap, isScalar, isSeq, parseAllDocuments, Scalar, type Node, type Pair, type YAMLMap } from 'yaml';
import { parseExpr, ExprSyntaxError, type Expr } from './expr-parse.js';
import { checkExpr, refsOf, type ExprType } from './expr-check.js';
import { inputNameType, inputNamesHelp } from './variables.js';
import { ksmValueProblem } from '../ksm-ranges.js';
import type { KsmControl } from '../types.js';

export interface PolicyFileError {
  file: string;
  line: number;
  col: number;
  message: string;
}

/** All the errors of a policy file, formatted `file:line:col: message`, one a line. */
/** The value of a constant expression (`5`, `-5`, `1e12`), or undefined when it depends on input. */
function constantValue(expr: Expr): number | undefined {
  if (expr.kind === 'num') return expr.value;
  if (expr.kind === 'unary' && expr.op === '-') {
    const inner = constantValue(expr.arg);
    return inner === undefined ? undefined : -inner;
  }
  return undefined;
}

/** The longest chain of vars and conditions one name may refer through. */
export const MAX_REFERENCE_DEPTH = 64;

export class PolicyFileErrors extends Error {
  constructor(readonly errors: PolicyFileError[]) {
    super(errors.map((e) => `${e.file}:${e.line}:${e.col}: ${e.message}`).join('\n'));
    this.name = 'PolicyFileErrors';
  }
}

export type Scope = 'Host' | 'VM';
export type RuleFunction = 'constant' | 'linear' | 'exponential';

/** Outputs per scope: the balloon (bytes) for VMs, KSM controls for the host. */
/** IO outputs (VM scope): the policy's sustained rate for every disk of an opted-in VM, 0 = unlimited. */
export const IO_OUTPUTS = ['io.total_bytes_sec', 'io.read_bytes_sec', 'io.write_bytes_sec', 'io.total_iops_sec', 'io.read_iops_sec', 'io.write_iops_sec'] as const;

export const OUTPUTS: Record<Scope, readonly string[]> = {
  VM: ['memory.balloon', ...IO_OUTPUTS],
  Host: ['ksm.run', 'ksm.pages_to_scan', 'ksm.sleep_millisecs', 'ksm.merge_across_nodes'],
};

export interface CompiledRule {
  name: string;
  output: string;
  target: Expr;
  mins: Expr[];
  maxs: Expr[];
  whenAll: Expr[];
  whenAny: Expr[];
  fn: RuleFunction;
  /** linear: change per `timeS`; exponential: fraction of the distance per `timeS`. */
  rate?: Expr;
  timeS: number;
  minAbs?: Expr;
  minRel?: Expr;
  maxAbs?: Expr;
  maxRel?: Expr;
  /** The time unit of the rate limits, seconds. */
  perS: number;
  influence?: Expr;
}

export interface CompiledCondition {
  mode: 'any' | 'all';
  exprs: Expr[];
}

export interface CompiledBlock {
  scope: Scope;
  vars: Map<string, Expr>;
  conditions: Map<string, CompiledCondition>;
  rules: CompiledRule[];
}

export interface ParameterDecl {
  type: 'bool' | 'number';
  value: boolean | number;
}

export interface CompiledPolicy {
  name: string;
  parameters: Map<string, ParameterDecl>;
  /** Lifecycle rules; `enabled: false` turns them off (the `mom` policy does). */
  lifecycle: { enabled: boolean; startGraceMs: number; holdDuringMigration: boolean };
  /** The elapsed time assumed for the first evaluation, ms. */
  intervalMs: number;
  blocks: CompiledBlock[];
}

const DOC_KEYS = ['scope', 'policy', 'description', 'parameters', 'lifecycle', 'interval', 'conditions', 'vars', 'rules'];
const RULE_KEYS = [
  'name', 'output', 'target', 'min', 'max', 'when', 'when_any', 'when_all', 'function', 'change', 'factor', 'time',
  'min_absolute_change', 'min_relative_change', 'max_absolute_change', 'max_relative_change', 'per', 'influence',
];
const NAME = /^[a-z_][a-z0-9_]*$/i;
const RESERVED = new Set(['host', 'guest', 'true', 'false', 'and', 'or', 'not']);

/** Parses a duration: a number of seconds or a string such as "500ms", "10s", "2min", "1h". */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  if (typeof v !== 'string') return undefined;
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|min|h)?\s*$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  switch (m[2]) {
    case 'ms': return n / 1000;
    case 'min': return n * 60;
    case 'h': return n * 3600;
    default: return n;
  }
}

/** Policy files larger than this are refused (1 MiB is far more than any policy needs). */
export const MAX_POLICY_CHARS = 1024 * 1024;

const DURATION_HELP = 'a duration such as 500ms, 10s, 2min, 1h (or seconds as a number)';

class Loader {
  readonly errors: PolicyFileError[] = [];
  private readonly lines = new LineCounter();

  constructor(private readonly file: string, private readonly text: string) {}

  private error(offset: number, message: string): void {
    const pos = this.lines.linePos(Math.max(0, Math.min(offset, this.text.length)));
    this.errors.push({ file: this.file, line: pos.line, col: pos.col, message });
  }

  private at(node: Node | null | undefined, message: string): void {
    this.error(node?.range?.[0] ?? 0, message);
  }

  /** Offset of a scalar's value text in the file (after an opening quote). */
  private valueOffset(node: Scalar): number {
    const start = node.range?.[0] ?? 0;
    return node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE ? start + 1 : start;
  }

  load(): CompiledPolicy | undefined {
    const docs = parseAllDocuments(this.text, { lineCounter: this.lines, prettyErrors: false });
    const policy: CompiledPolicy = {
      name: this.file,
      parameters: new Map(),
      lifecycle: { enabled: true, startGraceMs: 60_000, holdDuringMigration: true },
      intervalMs: 10_000,
      blocks: [],
    };
    const list = Array.isArray(docs) ? docs : [docs];
    for (const doc of list) {
      for (const e of doc.errors) this.error(e.pos[0], e.message.split('\n')[0] ?? e.message);
    }
    if (this.errors.length) return undefined;
    // Parameters first: every block may read them.
    for (const doc of list) {
      if (isMap(doc.contents)) this.header(doc.contents, policy);
    }
    for (const doc of list) {
      if (doc.contents === null) continue;
      if (!isMap(doc.contents)) {
        this.at(doc.contents, 'a policy document must be a mapping with scope, conditions, vars and rules');
        continue;
      }
      const block = this.block(doc.contents, policy);
      if (block) policy.blocks.push(block);
    }
    if (policy.blocks.length === 0 && this.errors.length === 0) this.error(0, 'the file has no policy block; add a document with "scope: VM" or "scope: Host" and rules');
    return this.errors.length ? undefined : policy;
  }

  private pairs(map: YAMLMap): Array<{ key: string; keyNode: Node; value: Node | null; pair: Pair }> {
    const out: Array<{ key: string; keyNode: Node; value: Node | null; pair: Pair }> = [];
    for (const pair of map.items) {
      const keyNode = pair.key as Node;
      if (!isScalar(keyNode) || typeof keyNode.value !== 'string') {
        this.at(keyNode, 'keys must be plain names');
        continue;
      }
      out.push({ key: keyNode.value, keyNode, value: (pair.value as Node | null) ?? null, pair });
    }
    return out;
  }

  private header(map: YAMLMap, policy: CompiledPolicy): void {
    for (const { key, keyNode, value } of this.pairs(map)) {
      if (key === 'policy') {
        if (isScalar(value) && typeof value.value === 'string') policy.name = value.value;
        else this.at(value ?? keyNode, 'policy: must be the policy name (a string)');
      } else if (key === 'interval') {
        const d = isScalar(value) ? parseDuration(value.value) : undefined;
        if (d === undefined || d <= 0) this.at(value ?? keyNode, `interval: must be ${DURATION_HELP}, > 0`);
        else policy.intervalMs = d * 1000;
      } else if (key === 'parameters') {
        if (!isMap(value)) {
          this.at(value ?? keyNode, 'parameters: must map names to true/false or a number (their defaults)');
          continue;
        }
        for (const p of this.pairs(value)) {
          if (!NAME.test(p.key) || RESERVED.has(p.key)) this.at(p.keyNode, `parameter "${p.key}" must be a name (letters, digits, _) and not ${[...RESERVED].join('/')}`);
          else if (policy.parameters.has(p.key)) this.at(p.keyNode, `parameter "${p.key}" is declared twice`);
          else if (isScalar(p.value) && typeof p.value.value === 'boolean') policy.parameters.set(p.key, { type: 'bool', value: p.value.value });
          else if (isScalar(p.value) && typeof p.value.value === 'number') policy.parameters.set(p.key, { type: 'number', value: p.value.value });
          else this.at(p.value ?? p.keyNode, `parameter "${p.key}" needs a default: true, false or a number`);
        }
      } else if (key === 'lifecycle') {
        if (!isMap(value)) {
          this.at(value ?? keyNode, 'lifecycle: must be a mapping with enabled, start_grace, hold_during_migration');
          continue;
        }
        for (const p of this.pairs(value)) {
          const v = isScalar(p.value) ? p.value.value : undefined;
          if (p.key === 'enabled' && typeof v === 'boolean') policy.lifecycle.enabled = v;
          else if (p.key === 'hold_during_migration' && typeof v === 'boolean') policy.lifecycle.holdDuringMigration = v;
          else if (p.key === 'start_grace' && parseDuration(v) !== undefined) policy.lifecycle.startGraceMs = parseDuration(v)! * 1000;
          else if (p.key === 'start_grace') this.at(p.value ?? p.keyNode, `lifecycle.start_grace: must be ${DURATION_HELP}`);
          else if (p.key === 'enabled' || p.key === 'hold_during_migration') this.at(p.value ?? p.keyNode, `lifecycle.${p.key}: must be true or false`);
          else this.at(p.keyNode, `lifecycle: unknown key "${p.key}"; accepted: enabled, start_grace, hold_during_migration`);
        }
      }
    }
  }

  private block(map: YAMLMap, policy: CompiledPolicy): CompiledBlock | undefined {
    let scope: Scope | undefined;
    let scopeNode: Node | null = null;
    const entries = this.pairs(map);
    for (const { key, keyNode, value } of entries) {
      if (!DOC_KEYS.includes(key)) this.at(keyNode, `unknown key "${key}"; accepted: ${DOC_KEYS.join(', ')}`);
      if (key === 'scope') {
        scopeNode = value;
        if (isScalar(value) && (value.value === 'Host' || value.value === 'VM')) scope = value.value;
        else this.at(value ?? keyNode, `scope: is ${JSON.stringify(isScalar(value) ? value.value : null)}; accepted: Host, VM`);
      }
    }
    const hasRules = entries.some((e) => e.key === 'rules');
    if (!hasRules && scopeNode === null) return undefined; // a header-only document
    if (scope === undefined) {
      if (scopeNode === null) this.at(map, 'missing "scope"; accepted: Host (once a cycle) or VM (once per VM a cycle)');
      return undefined;
    }
    const block: CompiledBlock = { scope, vars: new Map(), conditions: new Map(), rules: [] };
    const vmScope = scope === 'VM';
    // Names first (so vars and conditions may refer to each other in any order), then types.
    const varNodes = new Map<string, { node: Node; keyNode: Node }>();
    const condNodes = new Map<string, { node: Node; keyNode: Node }>();
    for (const { key, value, keyNode } of entries) {
      if (key !== 'vars' && key !== 'conditions') continue;
      if (!isMap(value)) {
        this.at(value ?? keyNode, `${key}: must map names to ${key === 'vars' ? 'expressions' : 'an expression or {any: [...]} / {all: [...]}'}`);
        continue;
      }
      for (const p of this.pairs(value)) {
        if (!NAME.test(p.key) || RESERVED.has(p.key)) this.at(p.keyNode, `"${p.key}" must be a name (letters, digits, _) and not ${[...RESERVED].join('/')}`);
        else if (varNodes.has(p.key) || condNodes.has(p.key) || policy.parameters.has(p.key)) this.at(p.keyNode, `"${p.key}" is defined twice (vars, conditions and parameters share one namespace)`);
        else if (p.value === null) this.at(p.keyNode, `"${p.key}" has no value`);
        else (key === 'vars' ? varNodes : condNodes).set(p.key, { node: p.value, keyNode: p.keyNode });
      }
    }
    const types = new Map<string, ExprType>();
    const pending = new Set<string>();
    const deps = new Map<string, Set<string>>();
    const env = (name: string): ExprType | undefined => {
      const p = policy.parameters.get(name);
      if (p) return p.type;
      if (condNodes.has(name)) return 'bool';
      if (varNodes.has(name)) return typeOfVar(name);
      return inputNameType(name, vmScope);
    };
    const typeOfVar = (name: string): ExprType | undefined => {
      const known = types.get(name);
      if (known) return known;
      if (pending.has(name)) return 'number'; // a cycle, reported by checkCycles
      pending.add(name);
      const { node } = varNodes.get(name)!;
      const expr = this.expr(node, env, undefined, `vars.${name}`);
      pending.delete(name);
      if (!expr) return 'number'; // already reported; keep checking the rest
      block.vars.set(name, expr.expr);
      deps.set(name, refsOf(expr.expr));
      types.set(name, expr.type);
      return expr.type;
    };
    for (const name of varNodes.keys()) typeOfVar(name);
    for (const [name, { node }] of condNodes) {
      const cond = this.condition(node, env, `conditions.${name}`);
      if (cond) {
        block.conditions.set(name, cond);
        const refs = new Set<string>();
        for (const e of cond.exprs) refsOf(e, refs);
        deps.set(name, refs);
      }
    }
    this.checkReferences(deps, new Map([...varNodes, ...condNodes]));
    const rules = entries.find((e) => e.key === 'rules');
    if (!rules || !isSeq(rules.value)) {
      this.at(rules?.value ?? map, 'rules: must be a list of rules (each with output and target)');
      return block;
    }
    rules.value.items.forEach((item, i) => {
      const rule = this.rule(item as Node, env, scope!, i);
      if (rule) block.rules.push(rule);
    });
    return block;
  }

  /**
   * Refuses cycles between vars and conditions, and chains of references deeper than
   * MAX_REFERENCE_DEPTH (evaluation follows a chain recursively). Walks with an explicit
   * stack, so a hostile file cannot overflow the checker's own stack either.
   */
  private checkReferences(deps: Map<string, Set<string>>, nodes: Map<string, { keyNode: Node }>): void {
    const depth = new Map<string, number>();
    const onPath: string[] = [];
    const reported = new Set<string>();
    const tooDeep = new Set<string>();
    for (const root of nodes.keys()) {
      if (!deps.has(root) || depth.has(root)) continue;
      // Frames: a name and the index of the next reference to visit.
      const stack: Array<{ name: string; refs: string[]; next: number }> = [];
      const enter = (name: string): void => {
        onPath.push(name);
        stack.push({ name, refs: [...(deps.get(name) ?? [])].filter((d) => deps.has(d)), next: 0 });
      };
      enter(root);
      while (stack.length > 0) {
        const frame = stack[stack.length - 1]!;
        if (frame.next < frame.refs.length) {
          const ref = frame.refs[frame.next++]!;
          if (depth.has(ref)) continue;
          if (onPath.includes(ref)) {
            if (!reported.has(ref)) {
              reported.add(ref);
              const cycle = [...onPath.slice(onPath.indexOf(ref)), ref];
              this.at(nodes.get(ref)?.keyNode, `"${ref}" depends on itself: ${cycle.join(' -> ')}`);
            }
            continue;
          }
          enter(ref);
          continue;
        }
        const own = 1 + Math.max(0, ...frame.refs.map((r) => depth.get(r) ?? 0));
        depth.set(frame.name, own);
        if (own > MAX_REFERENCE_DEPTH) {
          // Reported where the chain first gets too deep; whatever refers to it is too deep as well.
          if (!frame.refs.some((r) => tooDeep.has(r))) {
            this.at(nodes.get(frame.name)?.keyNode, `"${frame.name}" refers through a chain of ${own} vars and conditions: too deep; at most ${MAX_REFERENCE_DEPTH} are accepted`);
          }
          tooDeep.add(frame.name);
        }
        stack.pop();
        onPath.pop();
      }
    }
  }

  /** Parses and type-checks one expression node (a YAML string, number or boolean). */
  private expr(node: Node | null, env: (n: string) => ExprType | undefined, want: ExprType | undefined, field: string): { expr: Expr; type: ExprType } | undefined {
    if (!isScalar(node) || node.value === null || (typeof node.value !== 'string' && typeof node.value !== 'number' && typeof node.value !== 'boolean')) {
      this.at(node, `${field}: must be an expression (a string such as "guest.balloon * 0.95", a number or true/false)`);
      return undefined;
    }
    const text = String(node.value);
    const base = this.valueOffset(node);
    // Plain and quoted one-line scalars map 1:1 to the file; others point at the scalar.
    const mapsOneToOne = typeof node.value === 'string' && (node.type === Scalar.PLAIN || node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE) && !text.includes('\n') && this.text.startsWith(text, base);
    const offsetOf = (o: number): number => (mapsOneToOne ? base + o : node.range?.[0] ?? 0);
    try {
      const expr = parseExpr(text);
      const type = checkExpr(expr, (name) => env(name));
      if (want && type !== want) {
        this.error(offsetOf(0), `${field}: must be a ${want} expression, but "${text}" is a ${type}`);
        return undefined;
      }
      return { expr, type };
    } catch (err) {
      if (!(err instanceof ExprSyntaxError)) throw err;
      let message = err.message;
      if (/^unknown name/.test(message)) {
        const name = /"([^"]+)"/.exec(message)?.[1] ?? '';
        message += name.startsWith('host.') || name.startsWith('guest.')
          ? `; accepted in this scope: ${inputNamesHelp(env('guest.memory') !== undefined)}`
          : '; define it under vars, conditions or parameters';
      }
      this.error(offsetOf(err.offset), `${field}: ${message}`);
      return undefined;
    }
  }

  private condition(node: Node, env: (n: string) => ExprType | undefined, field: string): CompiledCondition | undefined {
    if (isMap(node)) {
      const entries = this.pairs(node);
      if (entries.length !== 1 || (entries[0]!.key !== 'any' && entries[0]!.key !== 'all')) {
        this.at(node, `${field}: must be an expression or one of {any: [...]} / {all: [...]}`);
        return undefined;
      }
      const { key, value } = entries[0]!;
      const exprs = this.exprList(value, env, `${field}.${key}`);
      return exprs ? { mode: key as 'any' | 'all', exprs } : undefined;
    }
    const e = this.expr(node, env, 'bool', field);
    return e ? { mode: 'all', exprs: [e.expr] } : undefined;
  }

  private exprList(node: Node | null, env: (n: string) => ExprType | undefined, field: string, want: ExprType = 'bool'): Expr[] | undefined {
    const items = isSeq(node) ? (node.items as Node[]) : [node];
    let ok = true;
    const out: Expr[] = [];
    items.forEach((item, i) => {
      const e = this.expr(item, env, want, isSeq(node) ? `${field}[${i}]` : field);
      if (e) out.push(e.expr);
      else ok = false;
    });
    return ok ? out : undefined;
  }

  private rule(node: Node, env: (n: string) => ExprType | undefined, scope: Scope, index: number): CompiledRule | undefined {
    const field = `rules[${index}]`;
    if (!isMap(node)) {
      this.at(node, `${field}: must be a mapping with output and target`);
      return undefined;
    }
    const entries = new Map(this.pairs(node).map((e) => [e.key, e]));
    let ok = true;
    for (const [key, e] of entries) {
      if (!RULE_KEYS.includes(key)) {
        this.at(e.keyNode, `${field}: unknown key "${key}"; accepted: ${RULE_KEYS.join(', ')}`);
        ok = false;
      }
    }
    const get = (k: string): Node | null | undefined => (entries.has(k) ? entries.get(k)!.value : undefined);
    const num = (k: string): Expr | undefined => {
      const n = get(k);
      if (n === undefined) return undefined;
      const e = this.expr(n, env, 'number', `${field}.${k}`);
      if (!e) ok = false;
      return e?.expr;
    };
    const output = get('output');
    let outputName = '';
    if (!isScalar(output) || typeof output.value !== 'string' || !OUTPUTS[scope].includes(output.value)) {
      this.at(output ?? node, `${field}.output: is ${JSON.stringify(isScalar(output) ? output.value : null)}; accepted in scope ${scope}: ${OUTPUTS[scope].join(', ')}`);
      ok = false;
    } else outputName = output.value;
    const name = get('name');
    const target = get('target') === undefined ? undefined : num('target');
    if (get('target') === undefined) {
      this.at(node, `${field}: missing "target" (the value the output moves toward)`);
      ok = false;
    }
    const list = (k: string): Expr[] => {
      const n = get(k);
      if (n === undefined) return [];
      const l = this.exprList(n, env, `${field}.${k}`, k.startsWith('when') ? 'bool' : 'number');
      if (!l) ok = false;
      return l ?? [];
    };
    const mins = list('min');
    const maxs = list('max');
    const whenAll = [...list('when'), ...list('when_all')];
    const whenAny = list('when_any');
    let fn: RuleFunction = 'constant';
    const fnNode = get('function');
    if (fnNode !== undefined) {
      if (isScalar(fnNode) && (fnNode.value === 'constant' || fnNode.value === 'linear' || fnNode.value === 'exponential')) fn = fnNode.value;
      else {
        this.at(fnNode, `${field}.function: is ${JSON.stringify(isScalar(fnNode) ? fnNode.value : null)}; accepted: constant, linear, exponential`);
        ok = false;
      }
    }
    let rate: Expr | undefined;
    if (fn === 'linear') {
      rate = num('change');
      if (get('change') === undefined) { this.at(node, `${field}: function linear needs "change" (how much per "time")`); ok = false; }
    } else if (fn === 'exponential') {
      rate = num('factor');
      if (get('factor') === undefined) { this.at(node, `${field}: function exponential needs "factor" (the fraction of the distance covered per "time", 0..1)`); ok = false; }
    }
    for (const k of ['change', 'factor'] as const) {
      if (get(k) !== undefined && !((k === 'change' && fn === 'linear') || (k === 'factor' && fn === 'exponential'))) {
        this.at(entries.get(k)!.keyNode, `${field}.${k}: only applies to function ${k === 'change' ? 'linear' : 'exponential'}`);
        ok = false;
      }
    }
    const duration = (k: string, dflt: number): number => {
      const n = get(k);
      if (n === undefined) return dflt;
      const d = isScalar(n) ? parseDuration(n.value) : undefined;
      if (d === undefined || d <= 0) {
        this.at(n ?? node, `${field}.${k}: must be ${DURATION_HELP}, > 0`);
        ok = false;
        return dflt;
      }
      return d;
    };
    if (outputName.startsWith('ksm.') && target !== undefined) {
      const constant = constantValue(target);
      const problem = constant === undefined ? undefined : ksmValueProblem(outputName.slice(4) as KsmControl, constant);
      if (problem !== undefined) {
        this.at(get('target') ?? node, `${field}.target: ${problem} (the kernel refuses other values)`);
        ok = false;
      }
    }
    const rule: CompiledRule = {
      name: isScalar(name) && typeof name.value === 'string' ? name.value : `${outputName}#${index}`,
      output: outputName,
      target: target ?? { kind: 'num', value: 0, offset: 0 },
      mins,
      maxs,
      whenAll,
      whenAny,
      fn,
      timeS: duration('time', 1),
      perS: duration('per', 1),
    };
    if (rate) rule.rate = rate;
    const optional: Array<[keyof CompiledRule, string]> = [
      ['minAbs', 'min_absolute_change'], ['minRel', 'min_relative_change'], ['maxAbs', 'max_absolute_change'],
      ['maxRel', 'max_relative_change'], ['influence', 'influence'],
    ];
    for (const [prop, key] of optional) {
      const e = num(key);
      if (e) (rule as unknown as Record<string, Expr>)[prop] = e;
    }
    return ok ? rule : undefined;
  }
}

/** Loads a policy file's text; throws PolicyFileErrors listing every problem. */
export function compilePolicy(file: string, text: string): CompiledPolicy {
  if (text.length > MAX_POLICY_CHARS) {
    throw new PolicyFileErrors([{ file, line: 1, col: 1, message: `the file has ${text.length} characters; at most ${MAX_POLICY_CHARS} are accepted` }]);
  }
  const loader = new Loader(file, text);
  const policy = loader.load();
  loader.errors.sort((a, b) => a.line - b.line || a.col - b.col);
  if (!policy || loader.errors.length) throw new PolicyFileErrors(loader.errors.length ? loader.errors : [{ file, line: 1, col: 1, message: 'invalid policy' }]);
  return policy;
}

/** Validates a policy file's text; the errors (empty when valid). */
export function checkPolicy(file: string, text: string): PolicyFileError[] {
  try {
    compilePolicy(file, text);
    return [];
  } catch (err) {
    if (err instanceof PolicyFileErrors) return err.errors;
    throw err;
  }
}
