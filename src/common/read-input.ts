/**
 * Reading a user's input file (a policy, a scenario, a recording, a state) safely:
 * with a size limit enforced while reading, so `/dev/zero` or a runaway file is refused
 * instead of exhausting memory, and with errors that name the file and say what is
 * accepted. Parse errors quote at most a short excerpt of the file.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { InputError } from './errors.js';
import { KiB, MiB } from './units.js';

/** Size limits per kind of input, generous for real files, far below what would hurt. */
export const INPUT_LIMITS = {
  /** A policy file: the shipped ones are a few KiB. */
  policyFile: 1 * MiB,
  /** A simulator scenario. */
  scenario: 1 * MiB,
  /** A JSON state or a MOM-style recording (thousands of steps). */
  json: 64 * MiB,
} as const;

/** How much of a bad value an error message quotes. */
export const EXCERPT_CHARS = 40;

/** `text` cut to `max` characters, on one line, for quoting in an error. */
export function excerpt(text: string, max: number = EXCERPT_CHARS): string {
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max)}...`;
}

function describeErrno(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return 'does not exist';
    case 'EACCES':
    case 'EPERM':
      return 'cannot be read (permission denied)';
    case 'EISDIR':
      return 'is a directory';
    default:
      return `cannot be read (${err.code ?? err.message})`;
  }
}

/**
 * Reads `file` (or standard input for `-`) as UTF-8 text of at most `maxBytes` bytes.
 * `field` names where the file came from (`--policy`, `--scenario`, the file itself).
 * Throws InputError: missing, unreadable, a directory, over the limit, not UTF-8.
 */
export function readInputText(file: string, field: string, maxBytes: number): string {
  let fd: number;
  try {
    fd = file === '-' ? 0 : openSync(file, 'r');
  } catch (err) {
    throw new InputError(field, `"${file}" ${describeErrno(err as NodeJS.ErrnoException)}; accepted: a readable file`);
  }
  try {
    if (fstatSync(fd).isDirectory()) throw new InputError(field, `"${file}" is a directory; accepted: a readable file`);
    // Read one byte past the limit: reaching it proves the input too large without
    // trusting the size stat reports (0 for /dev/zero, pipes and procfs).
    const buffer = Buffer.allocUnsafe(Math.min(maxBytes + 1, 64 * KiB));
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buffer, 0, buffer.length, null);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'EAGAIN') continue;
        if (e.code === 'EOF') break;
        throw new InputError(field, `"${file}" ${describeErrno(e)}; accepted: a readable file`);
      }
      if (n === 0) break;
      total += n;
      if (total > maxBytes) throw new InputError(field, `"${file}" is larger than ${maxBytes} bytes, the most accepted`);
      chunks.push(Buffer.from(buffer.subarray(0, n)));
    }
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks, total));
    } catch {
      throw new InputError(field, `"${file}" is not UTF-8 text`);
    }
  } finally {
    if (fd !== 0) closeSync(fd);
  }
}

/** 1-based line and column of a character offset. */
export function lineAndColumn(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const line = before.split('\n').length;
  return { line, col: offset - before.lastIndexOf('\n') };
}

/**
 * JSON.parse with an error that says `source:line:col` and quotes a short excerpt
 * (V8's own message can quote the whole input).
 */
export function parseJsonText(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const position = /position (\d+)/.exec(message);
    if (!position) {
      // V8 names the token but quotes the whole input after it: keep only the token.
      const token = /^(Unexpected (?:token '.{1,4}'|end of JSON input))/.exec(message)?.[1] ?? 'a syntax error';
      throw new InputError(source, `is not valid JSON: ${token}`);
    }
    const offset = Number(position[1]);
    const { line, col } = lineAndColumn(text, offset);
    const near = text.slice(offset, offset + EXCERPT_CHARS);
    const where = near.length > 0 ? `near "${excerpt(near)}"` : 'at the end of the input';
    throw new InputError(`${source}:${line}:${col}`, `is not valid JSON ${where}`);
  }
}
