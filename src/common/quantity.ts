/**
 * Kubernetes resource quantities ("512Mi", "1G", "1.5Gi", "2e9") as whole bytes.
 * Only the forms that make sense for memory are accepted; fractions of a byte are
 * rounded up, as Kubernetes does for memory values.
 */
import type { Parsed } from './errors.js';

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
const QUANTITY = /^([+]?[0-9]+(?:\.[0-9]*)?|[+]?\.[0-9]+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)|[eE]([+-]?[0-9]+))?$/;

export const QUANTITY_ACCEPTED = 'a Kubernetes quantity such as "512Mi", "2Gi" or "1500M"';

/** Parses a memory quantity to bytes, or says what is wrong. */
export function parseMemoryQuantity(text: string): Parsed<number> {
  const match = QUANTITY.exec(text.trim());
  if (!match) return { error: `"${text}" is not ${QUANTITY_ACCEPTED}` };
  const [, number, suffix, exponent] = match;
  let multiplier = 1;
  if (suffix !== undefined) multiplier = BINARY[suffix] ?? DECIMAL[suffix] ?? 1;
  else if (exponent !== undefined) multiplier = 10 ** Number(exponent);
  const bytes = Math.ceil(Number(number) * multiplier);
  if (!Number.isSafeInteger(bytes)) return { error: `"${text}" is too large (more than 2^53 bytes)` };
  return { value: bytes };
}

/** Formats bytes as the largest exact binary quantity ("512Mi"), else plain bytes. */
export function formatBytes(bytes: number): string {
  for (const unit of ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki'] as const) {
    const size = BINARY[unit]!;
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}
