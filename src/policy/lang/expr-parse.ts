/**
 * The policy expression language: tokenizer and parser. A small, safe language of
 * its own (never JavaScript eval): numbers with size/time/percent units, booleans,
 * phase strings, dotted names, arithmetic, comparisons, short-circuit and/or/not and
 * calls of a fixed set of functions.
 *
 *   expr    := or
 *   or      := and ('or' and)*
 *   and     := not ('and' not)*
 *   not     := 'not' not | cmp
 *   cmp     := sum (('<'|'<='|'>'|'>='|'=='|'!=') sum)?
 *   sum     := product (('+'|'-') product)*
 *   product := unary (('*'|'/') unary)*
 *   unary   := '-' unary | primary
 *   primary := NUMBER | STRING | 'true' | 'false' | NAME | NAME '(' args ')' | '(' expr ')'
 */

/** A position in the expression text (0-based character offset). */
export interface ExprError {
  offset: number;
  message: string;
}

export type BinaryOp = '+' | '-' | '*' | '/' | '<' | '<=' | '>' | '>=' | '==' | '!=' | 'and' | 'or';

export type Expr =
  | { kind: 'num'; value: number; offset: number }
  | { kind: 'str'; value: string; offset: number }
  | { kind: 'bool'; value: boolean; offset: number }
  | { kind: 'ref'; name: string; offset: number }
  | { kind: 'unary'; op: '-' | 'not'; arg: Expr; offset: number }
  | { kind: 'binary'; op: BinaryOp; left: Expr; right: Expr; offset: number }
  | { kind: 'call'; fn: string; args: Expr[]; offset: number };

type Token =
  | { t: 'num'; value: number; offset: number; text: string }
  | { t: 'str'; value: string; offset: number; text: string }
  | { t: 'name'; value: string; offset: number; text: string }
  | { t: 'op'; value: string; offset: number; text: string }
  | { t: 'end'; offset: number; text: string };

/** Unit suffixes of number literals: sizes are bytes, times are seconds. */
export const UNITS: Record<string, number> = {
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40,
  KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40,
  ms: 0.001, s: 1, min: 60, h: 3600,
};

export class ExprSyntaxError extends Error {
  constructor(readonly offset: number, message: string) {
    super(message);
  }
}

const OPS = ['<=', '>=', '==', '!=', '<', '>', '+', '-', '*', '/', '(', ')', ','];

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) { i++; continue; }
    const start = i;
    const num = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/.exec(text.slice(i));
    if (num) {
      i += num[0].length;
      let value = Number(num[0]);
      if (text[i] === '%') {
        // Divided, not multiplied by 0.01: 20% has the same bits as 0.2.
        value = value / 100;
        i++;
      } else {
        const unit = /^[A-Za-z]+/.exec(text.slice(i));
        if (unit) {
          const scale = UNITS[unit[0]];
          if (scale === undefined) {
            throw new ExprSyntaxError(i, `unknown unit "${unit[0]}"; accepted: ${Object.keys(UNITS).join(', ')}, %`);
          }
          value = scale >= 1 ? value * scale : value / Math.round(1 / scale);
          i += unit[0].length;
        }
      }
      tokens.push({ t: 'num', value, offset: start, text: text.slice(start, i) });
      continue;
    }
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new ExprSyntaxError(i, 'unterminated string');
      tokens.push({ t: 'str', value: text.slice(i + 1, end), offset: start, text: text.slice(start, end + 1) });
      i = end + 1;
      continue;
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/.exec(text.slice(i));
    if (name) {
      tokens.push({ t: 'name', value: name[0], offset: start, text: name[0] });
      i += name[0].length;
      continue;
    }
    const op = OPS.find((o) => text.startsWith(o, i));
    if (op) {
      tokens.push({ t: 'op', value: op, offset: start, text: op });
      i += op.length;
      continue;
    }
    if (c === '=' || c === '&' || c === '|' || c === '!') {
      const hint = c === '=' ? "'=='" : c === '&' ? "'and'" : c === '|' ? "'or'" : "'not' or '!='";
      throw new ExprSyntaxError(i, `unexpected "${c}"; did you mean ${hint}?`);
    }
    throw new ExprSyntaxError(i, `unexpected character "${c}"`);
  }
  tokens.push({ t: 'end', offset: text.length, text: 'end of expression' });
  return tokens;
}

/** Nesting deeper than this is refused (it would only exhaust the stack). */
const MAX_DEPTH = 64;

class Parser {
  private i = 0;
  private depth = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.i]!;
  }

  private next(): Token {
    return this.tokens[this.i++]!;
  }

  private isOp(value: string): boolean {
    const t = this.peek();
    return (t.t === 'op' || t.t === 'name') && t.value === value;
  }

  private expect(value: string): Token {
    const t = this.peek();
    if (!this.isOp(value)) throw new ExprSyntaxError(t.offset, `expected "${value}" but found ${describe(t)}`);
    return this.next();
  }

  parseAll(): Expr {
    const e = this.or();
    const t = this.peek();
    if (t.t !== 'end') throw new ExprSyntaxError(t.offset, `unexpected ${describe(t)} after a complete expression`);
    return e;
  }

  /** Runs a nested parse, refusing nesting deeper than MAX_DEPTH. */
  private deeper(parse: () => Expr): Expr {
    if (++this.depth > MAX_DEPTH) throw new ExprSyntaxError(this.peek().offset, `expression nests deeper than ${MAX_DEPTH} levels`);
    try {
      return parse();
    } finally {
      this.depth--;
    }
  }

  private or(): Expr {
    return this.deeper(() => this.orInner());
  }

  private orInner(): Expr {
    let left = this.and();
    while (this.isOp('or')) {
      const t = this.next();
      left = { kind: 'binary', op: 'or', left, right: this.and(), offset: t.offset };
    }
    return left;
  }

  private and(): Expr {
    let left = this.not();
    while (this.isOp('and')) {
      const t = this.next();
      left = { kind: 'binary', op: 'and', left, right: this.not(), offset: t.offset };
    }
    return left;
  }

  private not(): Expr {
    if (this.isOp('not')) {
      const t = this.next();
      return { kind: 'unary', op: 'not', arg: this.deeper(() => this.not()), offset: t.offset };
    }
    return this.cmp();
  }

  private cmp(): Expr {
    const left = this.sum();
    const t = this.peek();
    if (t.t === 'op' && ['<', '<=', '>', '>=', '==', '!='].includes(t.value)) {
      this.next();
      const right = this.sum();
      const after = this.peek();
      if (after.t === 'op' && ['<', '<=', '>', '>=', '==', '!='].includes(after.value)) {
        throw new ExprSyntaxError(after.offset, 'comparisons do not chain; combine them with "and"');
      }
      return { kind: 'binary', op: t.value as BinaryOp, left, right, offset: t.offset };
    }
    return left;
  }

  private sum(): Expr {
    let left = this.product();
    while (this.isOp('+') || this.isOp('-')) {
      const t = this.next();
      left = { kind: 'binary', op: t.text as BinaryOp, left, right: this.product(), offset: t.offset };
    }
    return left;
  }

  private product(): Expr {
    let left = this.unary();
    while (this.isOp('*') || this.isOp('/')) {
      const t = this.next();
      left = { kind: 'binary', op: t.text as BinaryOp, left, right: this.unary(), offset: t.offset };
    }
    return left;
  }

  private unary(): Expr {
    if (this.isOp('-')) {
      const t = this.next();
      return { kind: 'unary', op: '-', arg: this.deeper(() => this.unary()), offset: t.offset };
    }
    return this.primary();
  }

  private primary(): Expr {
    const t = this.next();
    switch (t.t) {
      case 'num':
        return { kind: 'num', value: t.value, offset: t.offset };
      case 'str':
        return { kind: 'str', value: t.value, offset: t.offset };
      case 'name': {
        if (t.value === 'true' || t.value === 'false') return { kind: 'bool', value: t.value === 'true', offset: t.offset };
        if (['and', 'or', 'not'].includes(t.value)) throw new ExprSyntaxError(t.offset, `expected a value but found "${t.value}"`);
        if (this.isOp('(')) {
          this.next();
          const args: Expr[] = [];
          if (!this.isOp(')')) {
            args.push(this.or());
            while (this.isOp(',')) {
              this.next();
              args.push(this.or());
            }
          }
          this.expect(')');
          return { kind: 'call', fn: t.value, args, offset: t.offset };
        }
        return { kind: 'ref', name: t.value, offset: t.offset };
      }
      case 'op':
        if (t.value === '(') {
          const e = this.or();
          this.expect(')');
          return e;
        }
        throw new ExprSyntaxError(t.offset, `expected a value but found "${t.value}"`);
      case 'end':
        throw new ExprSyntaxError(t.offset, 'expression ends too early; expected a value');
    }
  }
}

function describe(t: Token): string {
  return t.t === 'end' ? 'the end of the expression' : `"${t.text}"`;
}

/** Parses one expression; throws ExprSyntaxError with the offset of the problem. */
export function parseExpr(text: string): Expr {
  if (text.length > 10_000) throw new ExprSyntaxError(0, 'expression is longer than 10000 characters');
  return new Parser(tokenize(text)).parseAll();
}
