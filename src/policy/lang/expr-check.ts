/**
 * Type checking of policy expressions before anything runs: every name must exist in
 * its scope, operands must have the right types, phase comparisons must name a real
 * phase. Errors carry the offset of the offending token.
 */
import type { Expr } from './expr-parse.js';
import { ExprSyntaxError } from './expr-parse.js';
import type { Phase } from '../types.js';

export type ExprType = 'number' | 'bool' | 'phase' | 'string';

export const PHASES: readonly Phase[] = ['starting', 'running', 'paused', 'migrating', 'stopping', 'gone'];

/** The functions the language offers: name to arity (min, max args) and doc. */
export const FUNCTIONS: Record<string, { min: number; max: number; doc: string }> = {
  min: { min: 1, max: 64, doc: 'min(a, b, ...): the smallest number' },
  max: { min: 1, max: 64, doc: 'max(a, b, ...): the largest number' },
  abs: { min: 1, max: 1, doc: 'abs(x)' },
  trunc: { min: 1, max: 1, doc: 'trunc(x): toward zero, like Python int()' },
  floor: { min: 1, max: 1, doc: 'floor(x)' },
  ceil: { min: 1, max: 1, doc: 'ceil(x)' },
  clamp: { min: 3, max: 3, doc: 'clamp(x, lo, hi) = min(max(x, lo), hi)' },
  if: { min: 3, max: 3, doc: 'if(condition, then, else): both branches of one type' },
  default: { min: 2, max: 2, doc: 'default(x, fallback): fallback when x is not available (no sample yet, no PSI, ...)' },
};

export class ExprTypeError extends ExprSyntaxError {}

/** Resolves a name to its type, or undefined with the accepted names for the error. */
export type TypeEnv = (name: string) => ExprType | undefined;

function expectType(e: Expr, env: TypeEnv, want: ExprType, what: string): void {
  const got = checkExpr(e, env);
  if (got !== want) throw new ExprTypeError(e.offset, `${what} must be a ${want}, not a ${got}`);
}

/** The type of an expression; throws ExprTypeError at the first problem. */
export function checkExpr(e: Expr, env: TypeEnv): ExprType {
  switch (e.kind) {
    case 'num':
      return 'number';
    case 'bool':
      return 'bool';
    case 'str':
      return 'string';
    case 'ref': {
      const t = env(e.name);
      if (t === undefined) throw new ExprTypeError(e.offset, `unknown name "${e.name}"`);
      return t;
    }
    case 'unary':
      if (e.op === '-') {
        expectType(e.arg, env, 'number', 'the operand of "-"');
        return 'number';
      }
      expectType(e.arg, env, 'bool', 'the operand of "not"');
      return 'bool';
    case 'binary': {
      if (e.op === 'and' || e.op === 'or') {
        expectType(e.left, env, 'bool', `the left side of "${e.op}"`);
        expectType(e.right, env, 'bool', `the right side of "${e.op}"`);
        return 'bool';
      }
      if (e.op === '==' || e.op === '!=') {
        const l = checkExpr(e.left, env);
        const r = checkExpr(e.right, env);
        const strings = (t: ExprType): boolean => t === 'phase' || t === 'string';
        if (strings(l) && strings(r)) {
          for (const side of [e.left, e.right]) {
            if (side.kind === 'str' && !PHASES.includes(side.value as Phase)) {
              throw new ExprTypeError(side.offset, `"${side.value}" is not a phase; accepted: ${PHASES.join(', ')}`);
            }
          }
          return 'bool';
        }
        if (l !== r) throw new ExprTypeError(e.offset, `"${e.op}" compares a ${l} with a ${r}`);
        return 'bool';
      }
      const what = ['+', '-', '*', '/'].includes(e.op) ? 'an operand of arithmetic' : 'an operand of a comparison';
      expectType(e.left, env, 'number', `the left side of "${e.op}" (${what})`);
      expectType(e.right, env, 'number', `the right side of "${e.op}" (${what})`);
      return ['+', '-', '*', '/'].includes(e.op) ? 'number' : 'bool';
    }
    case 'call': {
      const fn = FUNCTIONS[e.fn];
      if (!fn) throw new ExprTypeError(e.offset, `unknown function "${e.fn}"; accepted: ${Object.keys(FUNCTIONS).join(', ')}`);
      if (e.args.length < fn.min || e.args.length > fn.max) {
        throw new ExprTypeError(e.offset, `${e.fn}() takes ${fn.min === fn.max ? fn.min : `${fn.min} or more`} arguments, not ${e.args.length} (${fn.doc})`);
      }
      if (e.fn === 'if') {
        expectType(e.args[0]!, env, 'bool', 'the condition of if()');
        const a = checkExpr(e.args[1]!, env);
        const b = checkExpr(e.args[2]!, env);
        if (a !== b) throw new ExprTypeError(e.offset, `if() branches must have one type, not ${a} and ${b}`);
        return a;
      }
      if (e.fn === 'default') {
        const a = checkExpr(e.args[0]!, env);
        const b = checkExpr(e.args[1]!, env);
        if (a !== b) throw new ExprTypeError(e.offset, `default() arguments must have one type, not ${a} and ${b}`);
        return a;
      }
      e.args.forEach((a, i) => expectType(a, env, 'number', `argument ${i + 1} of ${e.fn}()`));
      return 'number';
    }
  }
}

/** Every name an expression refers to (for dependency order and cycle checks). */
export function refsOf(e: Expr, out: Set<string> = new Set()): Set<string> {
  switch (e.kind) {
    case 'ref':
      out.add(e.name);
      break;
    case 'unary':
      refsOf(e.arg, out);
      break;
    case 'binary':
      refsOf(e.left, out);
      refsOf(e.right, out);
      break;
    case 'call':
      for (const a of e.args) refsOf(a, out);
      break;
    default:
      break;
  }
  return out;
}
