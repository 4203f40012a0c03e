/**
 * Exponential backoff with jitter for reconnecting. Pure: the random draw is an input.
 *
 * Jitter spreads the retries of many sidecars on one node so that a restarted component is
 * not hit by all of them in the same millisecond.
 */
import { InputError } from '../common/errors.js';

/** How reconnection attempts are spaced. */
export interface BackoffOptions {
  /** Delay before the first retry, in ms (before jitter). Default 100. */
  readonly initialDelayMs?: number;
  /** Upper bound of any delay, in ms. Default 10 000. */
  readonly maxDelayMs?: number;
  /** Growth factor per attempt. Default 2. */
  readonly factor?: number;
  /** Fraction of the delay that is randomised, in [0, 1]: 0.5 draws from [delay/2, delay]. Default 0.5. */
  readonly jitter?: number;
  /** Give up after this many failed attempts. Default: never (until cancelled). */
  readonly maxAttempts?: number;
}

/** BackoffOptions with every default filled in and checked. */
export type ResolvedBackoff = Required<Omit<BackoffOptions, 'maxAttempts'>> & { readonly maxAttempts: number };

/** Fills in defaults and checks every field; throws InputError naming the bad field. */
export function resolveBackoff(options: BackoffOptions = {}, field = 'reconnect'): ResolvedBackoff {
  const r: ResolvedBackoff = {
    initialDelayMs: options.initialDelayMs ?? 100,
    maxDelayMs: options.maxDelayMs ?? 10_000,
    factor: options.factor ?? 2,
    jitter: options.jitter ?? 0.5,
    maxAttempts: options.maxAttempts ?? Number.POSITIVE_INFINITY,
  };
  if (!(Number.isFinite(r.initialDelayMs) && r.initialDelayMs >= 0)) {
    throw new InputError(`${field}.initialDelayMs`, `must be a finite number >= 0, got ${r.initialDelayMs}`);
  }
  if (!(Number.isFinite(r.maxDelayMs) && r.maxDelayMs >= r.initialDelayMs)) {
    throw new InputError(`${field}.maxDelayMs`, `must be a finite number >= initialDelayMs (${r.initialDelayMs}), got ${r.maxDelayMs}`);
  }
  if (!(Number.isFinite(r.factor) && r.factor >= 1)) {
    throw new InputError(`${field}.factor`, `must be a finite number >= 1, got ${r.factor}`);
  }
  if (!(r.jitter >= 0 && r.jitter <= 1)) {
    throw new InputError(`${field}.jitter`, `must be between 0 and 1, got ${r.jitter}`);
  }
  if (!(r.maxAttempts === Number.POSITIVE_INFINITY || (Number.isSafeInteger(r.maxAttempts) && r.maxAttempts >= 1))) {
    throw new InputError(`${field}.maxAttempts`, `must be a positive integer (or omitted for no limit), got ${r.maxAttempts}`);
  }
  return r;
}

/**
 * Delay before retry number `attempt` (0 for the first retry), in ms.
 * `random` is a draw from [0, 1). The result lies in [d * (1 - jitter), d] where
 * d = min(maxDelayMs, initialDelayMs * factor^attempt).
 */
export function backoffDelay(attempt: number, b: ResolvedBackoff, random: number): number {
  // Capping the exponent keeps factor^attempt finite for any attempt count.
  const exp = Math.min(attempt, 1000);
  // A zero initial delay stays zero (0 * Infinity would be NaN for huge factors).
  const base = b.initialDelayMs === 0 ? 0 : Math.min(b.maxDelayMs, b.initialDelayMs * Math.pow(b.factor, exp));
  const r = Math.min(Math.max(random, 0), 1);
  return base * (1 - b.jitter * r);
}
