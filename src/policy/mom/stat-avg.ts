/**
 * MOM's StatAvg and the sample window it averages over.
 *
 * MOM's monitors keep the last 10 samples; StatAvg(x) is the sum of the values of x
 * that are present (None ignored) divided by their count, 0.0 when none is present.
 */

/** How many samples a MOM monitor keeps (and StatAvg averages over). */
export const MOM_HISTORY_LENGTH = 10;

/** A value that a monitor may not have (MOM's None). */
export type Stat = number | null | undefined;

/**
 * Mean of the present values among the last `window` entries, oldest first,
 * summed in order (so the result has the same bits as MOM's Python sum).
 */
export function statAvg(values: readonly Stat[], window: number = MOM_HISTORY_LENGTH): number {
  let sum = 0;
  let count = 0;
  for (let i = Math.max(0, values.length - window); i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) continue;
    sum += v;
    count++;
  }
  return count === 0 ? 0.0 : sum / count;
}

/** The last `window` entries of a history, oldest first. */
export function lastSamples<T>(history: readonly T[], window: number = MOM_HISTORY_LENGTH): T[] {
  return history.slice(Math.max(0, history.length - window));
}
