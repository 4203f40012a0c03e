/**
 * Newline framing for the QMP byte stream, with a bound on line length.
 *
 * QEMU writes one JSON document per line ending in "\r\n". A socket chunk can hold part of
 * a line, several lines, or both; this splitter turns chunks into whole lines. Pure: no I/O.
 */
import { QmpLimitError } from './errors.js';

const LF = 0x0a;
const CR = 0x0d;

/** Splits a byte stream into lines. Throws QmpLimitError when a line exceeds `maxLineBytes`. */
export class LineSplitter {
  // Pieces of the unfinished line. Kept as a list so that a long line arriving in many small
  // chunks costs one copy at the end, not one per chunk.
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    /** Longest accepted line, in bytes, not counting the line ending. */
    readonly maxLineBytes: number,
  ) {
    if (!Number.isSafeInteger(maxLineBytes) || maxLineBytes < 1) {
      throw new RangeError(`maxLineBytes: must be a positive integer, got ${maxLineBytes}`);
    }
  }

  /** Bytes held for an unfinished line. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /**
   * Feeds one chunk and returns the lines it completed (without "\n" or "\r\n"; empty lines
   * are skipped). Decoding happens per whole line, so a UTF-8 character split across chunks
   * is decoded correctly.
   */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(LF, start);
      if (nl < 0) break;
      const pieceBytes = nl - start;
      this.checkLength(this.pendingBytes + pieceBytes - (endsWithCr(chunk, start, nl, this.pending) ? 1 : 0));
      let line: Buffer;
      if (this.pendingBytes === 0) {
        line = chunk.subarray(start, nl);
      } else {
        this.pending.push(chunk.subarray(start, nl));
        line = Buffer.concat(this.pending, this.pendingBytes + pieceBytes);
        this.pending = [];
        this.pendingBytes = 0;
      }
      start = nl + 1;
      const end = line.length > 0 && line[line.length - 1] === CR ? line.length - 1 : line.length;
      if (end > 0) lines.push(line.toString('utf8', 0, end));
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      // A trailing "\r" may be the first half of "\r\n": allow it one byte beyond the bound.
      this.checkLength(this.pendingBytes + rest.length - (rest[rest.length - 1] === CR ? 1 : 0));
      // Copy: the caller may reuse the chunk's memory, and a small slice must not pin a big buffer.
      this.pending.push(Buffer.from(rest));
      this.pendingBytes += rest.length;
    }
    return lines;
  }

  /** Forgets any unfinished line (after a reconnect the old stream's tail is meaningless). */
  reset(): void {
    this.pending = [];
    this.pendingBytes = 0;
  }

  private checkLength(bytes: number): void {
    if (bytes > this.maxLineBytes) {
      this.reset();
      throw new QmpLimitError(
        'maxLineBytes',
        this.maxLineBytes,
        `QMP line longer than maxLineBytes (${this.maxLineBytes} bytes); the stream cannot be trusted and is dropped`,
      );
    }
  }
}

/** Whether the line ending at `nl` in `chunk` (possibly continuing `pending`) ends with "\r". */
function endsWithCr(chunk: Buffer, start: number, nl: number, pending: readonly Buffer[]): boolean {
  if (nl > start) return chunk[nl - 1] === CR;
  const last = pending[pending.length - 1];
  return last !== undefined && last.length > 0 && last[last.length - 1] === CR;
}
