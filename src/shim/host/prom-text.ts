/**
 * A parser for the Prometheus text exposition format (version 0.0.4), samples only.
 *
 * Why by hand: the one npm parser for this format (parse-prometheus-text-format)
 * has had no release since 2019 and builds whole metric families, histograms
 * included, that the shim never reads. The shim needs the sample lines of a few
 * gauges and counters, from a peer it must not trust to be well-formed: so this
 * parser is strict, bounded (line length, labels per sample, sample count) and
 * reports the first malformed line by number. Comment lines (# HELP, # TYPE) are
 * skipped: the shim knows the types of what it reads.
 */

export interface PromSample {
  name: string;
  /** Label names to values; a null-prototype object, so any label name is safe. */
  labels: Record<string, string>;
  value: number;
  timestampMs?: number;
}

export interface PromParseLimits {
  /** Default 64 KiB. */
  maxLineBytes: number;
  /** Default 64. */
  maxLabels: number;
  /** Default 200,000. */
  maxSamples: number;
}

export const DEFAULT_PROM_LIMITS: PromParseLimits = { maxLineBytes: 64 * 1024, maxLabels: 64, maxSamples: 200_000 };

export class PromTextError extends Error {
  constructor(
    readonly line: number,
    readonly problem: string,
  ) {
    super(`line ${line}: ${problem}`);
    this.name = 'PromTextError';
  }
}

const NAME_START = /[a-zA-Z_:]/;
const NAME_CHAR = /[a-zA-Z0-9_:]/;
const LABEL_START = /[a-zA-Z_]/;
const LABEL_CHAR = /[a-zA-Z0-9_]/;
const FLOAT = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const INTEGER = /^-?[0-9]+$/;

/** Parses a sample value: a float, NaN, +Inf or -Inf (Go's ParseFloat forms used by exporters). */
export function parsePromValue(text: string): number | undefined {
  switch (text) {
    case 'NaN':
      return Number.NaN;
    case '+Inf':
    case 'Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
  }
  if (!FLOAT.test(text)) return undefined;
  return Number(text);
}

/** Parses a whole exposition; throws PromTextError naming the first bad line. */
export function parsePromText(text: string, limits: PromParseLimits = DEFAULT_PROM_LIMITS): PromSample[] {
  const samples: PromSample[] = [];
  let lineNo = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    lineNo++;
    const line = text.slice(start, end);
    start = end + 1;
    if (line.length > limits.maxLineBytes) throw new PromTextError(lineNo, `is longer than ${limits.maxLineBytes} characters`);
    if (line.trim() === '' || line.trimStart().startsWith('#')) {
      if (end === text.length) break;
      continue;
    }
    samples.push(parseSampleLine(line, lineNo, limits));
    if (samples.length > limits.maxSamples) throw new PromTextError(lineNo, `more than ${limits.maxSamples} samples`);
    if (end === text.length) break;
  }
  return samples;
}

function parseSampleLine(line: string, lineNo: number, limits: PromParseLimits): PromSample {
  let i = 0;
  const n = line.length;
  while (i < n && (line[i] === ' ' || line[i] === '\t')) i++;
  const nameStart = i;
  if (i >= n || !NAME_START.test(line[i]!)) throw new PromTextError(lineNo, 'expected a metric name');
  while (i < n && NAME_CHAR.test(line[i]!)) i++;
  const name = line.slice(nameStart, i);
  const labels: Record<string, string> = Object.create(null) as Record<string, string>;
  if (line[i] === '{') {
    i++;
    let count = 0;
    for (;;) {
      while (i < n && line[i] === ' ') i++;
      if (line[i] === '}') {
        i++;
        break;
      }
      if (i >= n || !LABEL_START.test(line[i]!)) throw new PromTextError(lineNo, `expected a label name at column ${i + 1}`);
      const labelStart = i;
      while (i < n && LABEL_CHAR.test(line[i]!)) i++;
      const label = line.slice(labelStart, i);
      while (i < n && line[i] === ' ') i++;
      if (line[i] !== '=') throw new PromTextError(lineNo, `expected "=" after label ${label}`);
      i++;
      while (i < n && line[i] === ' ') i++;
      if (line[i] !== '"') throw new PromTextError(lineNo, `expected a quoted value for label ${label}`);
      i++;
      let value = '';
      for (;;) {
        if (i >= n) throw new PromTextError(lineNo, `unterminated value for label ${label}`);
        const c = line[i]!;
        if (c === '"') {
          i++;
          break;
        }
        if (c === '\\') {
          const next = line[i + 1];
          if (next === 'n') value += '\n';
          else if (next === '\\' || next === '"') value += next;
          else throw new PromTextError(lineNo, `invalid escape in label ${label}`);
          i += 2;
          continue;
        }
        value += c;
        i++;
      }
      if (Object.prototype.hasOwnProperty.call(labels, label)) throw new PromTextError(lineNo, `duplicate label ${label}`);
      if (++count > limits.maxLabels) throw new PromTextError(lineNo, `more than ${limits.maxLabels} labels`);
      labels[label] = value;
      while (i < n && line[i] === ' ') i++;
      if (line[i] === ',') {
        i++;
        continue;
      }
      if (line[i] === '}') {
        i++;
        break;
      }
      throw new PromTextError(lineNo, `expected "," or "}" after label ${label}`);
    }
  }
  const rest = line.slice(i).trim().split(/[ \t]+/);
  if (line[i] !== undefined && line[i] !== ' ' && line[i] !== '\t') throw new PromTextError(lineNo, `unexpected "${line[i]}" after ${name}`);
  if (rest.length < 1 || rest[0] === '') throw new PromTextError(lineNo, `no value for ${name}`);
  if (rest.length > 2) throw new PromTextError(lineNo, `trailing text after the value of ${name}`);
  const value = parsePromValue(rest[0]!);
  if (value === undefined) throw new PromTextError(lineNo, `value "${rest[0]!.slice(0, 40)}" of ${name} is not a number`);
  const sample: PromSample = { name, labels, value };
  if (rest[1] !== undefined) {
    if (!INTEGER.test(rest[1])) throw new PromTextError(lineNo, `timestamp "${rest[1].slice(0, 40)}" of ${name} is not an integer`);
    sample.timestampMs = Number(rest[1]);
  }
  return sample;
}

/** The value of the first unlabelled (or any, when all are labelled) sample of each name. */
export function valuesByName(samples: readonly PromSample[]): Map<string, number> {
  const values = new Map<string, number>();
  for (const s of samples) if (!values.has(s.name)) values.set(s.name, s.value);
  return values;
}
