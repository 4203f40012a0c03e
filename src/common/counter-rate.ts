/**
 * The per-second rate of a cumulative counter (guest swap-in bytes, major faults, ...) between two readings, with one
 * rule for a counter that went down: it was reset (the guest rebooted) and has counted from zero since, so the rate is
 * its new value over the interval, a lower bound of what happened. Undefined when the interval is not positive.
 */
export function counterRate(previous: number, current: number, seconds: number): number | undefined {
  if (!(seconds > 0)) return undefined;
  return (current >= previous ? current - previous : current) / seconds;
}
