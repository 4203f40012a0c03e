/**
 * Evaluation of type-checked policy expressions. A tree walk over the AST: no
 * JavaScript is generated or evaluated. `and`/`or` short-circuit (MOM's did not).
 */
import type { Expr } from './expr-parse.js';

export type Value = number | boolean | string;

/**
 * A value the input does not have (MOM's None: a guest without balloon data, no PSI,
 * division by zero). It skips the rule that needed it, not the policy. Thrown, but not
 * an Error: it is ordinary control flow, and capturing a stack trace each time would
 * make it the most expensive part of a cycle.
 */
export class MissingValue {
  readonly message: string;
  constructor(readonly what: string) {
    this.message = `${what} is not available`;
  }
}

export type Lookup = (name: string) => Value;

function num(e: Expr, lookup: Lookup): number {
  return evaluateExpr(e, lookup) as number;
}

/** Evaluates an expression; names resolve through `lookup` (which may throw MissingValue). */
export function evaluateExpr(e: Expr, lookup: Lookup): Value {
  switch (e.kind) {
    case 'num':
    case 'bool':
    case 'str':
      return e.value;
    case 'ref':
      return lookup(e.name);
    case 'unary':
      return e.op === '-' ? -num(e.arg, lookup) : !evaluateExpr(e.arg, lookup);
    case 'binary': {
      if (e.op === 'and') return (evaluateExpr(e.left, lookup) as boolean) && (evaluateExpr(e.right, lookup) as boolean);
      if (e.op === 'or') return (evaluateExpr(e.left, lookup) as boolean) || (evaluateExpr(e.right, lookup) as boolean);
      const l = evaluateExpr(e.left, lookup);
      const r = evaluateExpr(e.right, lookup);
      switch (e.op) {
        case '+': return (l as number) + (r as number);
        case '-': return (l as number) - (r as number);
        case '*': return (l as number) * (r as number);
        case '/':
          if (r === 0) throw new MissingValue('a division by zero');
          return (l as number) / (r as number);
        case '<': return l < r;
        case '<=': return l <= r;
        case '>': return l > r;
        case '>=': return l >= r;
        case '==': return l === r;
        case '!=': return l !== r;
      }
      throw new Error(`unreachable operator ${e.op}`);
    }
    case 'call': {
      if (e.fn === 'default') {
        try {
          return evaluateExpr(e.args[0]!, lookup);
        } catch (err) {
          if (err instanceof MissingValue) return evaluateExpr(e.args[1]!, lookup);
          throw err;
        }
      }
      if (e.fn === 'if') return evaluateExpr(e.args[0]!, lookup) ? evaluateExpr(e.args[1]!, lookup) : evaluateExpr(e.args[2]!, lookup);
      const a = e.args.map((x) => num(x, lookup));
      switch (e.fn) {
        // Python's min/max keep the first of equal values; for numbers that is the same value.
        case 'min': return a.reduce((x, y) => (y < x ? y : x));
        case 'max': return a.reduce((x, y) => (y > x ? y : x));
        case 'abs': return Math.abs(a[0]!);
        case 'trunc': return Math.trunc(a[0]!);
        case 'floor': return Math.floor(a[0]!);
        case 'ceil': return Math.ceil(a[0]!);
        case 'clamp': return Math.min(Math.max(a[0]!, a[1]!), a[2]!);
      }
      throw new Error(`unreachable function ${e.fn}`);
    }
  }
}

/**
 * `any` of a list in three-valued logic: true when one member is true even if others
 * are missing; missing only when no member is true and one is missing.
 */
export function anyOf(exprs: readonly Expr[], lookup: Lookup): boolean {
  let missing: MissingValue | undefined;
  for (const e of exprs) {
    try {
      if (evaluateExpr(e, lookup)) return true;
    } catch (err) {
      if (!(err instanceof MissingValue)) throw err;
      missing ??= err;
    }
  }
  if (missing) throw missing;
  return false;
}

/** `all` of a list in three-valued logic: false when one member is false even if others are missing. */
export function allOf(exprs: readonly Expr[], lookup: Lookup): boolean {
  let missing: MissingValue | undefined;
  for (const e of exprs) {
    try {
      if (!evaluateExpr(e, lookup)) return false;
    } catch (err) {
      if (!(err instanceof MissingValue)) throw err;
      missing ??= err;
    }
  }
  if (missing) throw missing;
  return true;
}
