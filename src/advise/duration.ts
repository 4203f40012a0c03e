/** Durations and times on the command line, in Prometheus' own notation. */
import { InputError } from '../common/errors.js';

const UNIT: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, y: 31_536_000 };

/** "7d", "12h", "1d12h", "90m", "30s" to whole seconds (> 0). */
export function parseDuration(text: string, flag: string): number {
  const t = text.trim();
  if (!/^([0-9]+[smhdwy])+$/.test(t)) throw new InputError(flag, `is "${text}"; accepted: a Prometheus duration such as 7d, 12h, 1d12h, 90m or 30s`);
  let seconds = 0;
  for (const [, n, u] of t.matchAll(/([0-9]+)([smhdwy])/g)) seconds += Number(n) * UNIT[u!]!;
  if (seconds <= 0) throw new InputError(flag, `is "${text}"; accepted: a duration above zero`);
  return seconds;
}

/** An RFC 3339 time or Unix seconds to whole Unix seconds. */
export function parseTime(text: string, flag: string): number {
  const t = text.trim();
  if (/^[0-9]+(\.[0-9]+)?$/.test(t)) return Math.floor(Number(t));
  const ms = /^\d{4}-\d{2}-\d{2}T/.test(t) ? Date.parse(t) : NaN;
  if (!Number.isFinite(ms)) throw new InputError(flag, `is "${text}"; accepted: an RFC 3339 time (2026-01-31T12:00:00Z) or Unix seconds`);
  return Math.floor(ms / 1000);
}

/** Seconds as a Prometheus duration in days and smaller units ("7d", "1h30m"). */
export function formatDuration(seconds: number): string {
  let left = Math.round(seconds);
  let out = '';
  for (const u of ['d', 'h', 'm', 's'] as const) {
    const n = Math.floor(left / UNIT[u]!);
    if (n > 0) {
      out += `${n}${u}`;
      left -= n * UNIT[u]!;
    }
  }
  return out || '0s';
}
