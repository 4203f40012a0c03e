/** Sizes for people. */
const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** Bytes as GiB (two decimals) or whole MiB. */
export function size(bytes: number): string {
  if (Math.abs(bytes) >= GiB) return `${(bytes / GiB).toFixed(2)} GiB`;
  return `${Math.round(bytes / MiB)} MiB`;
}

/** Whole MiB, or "-" when unknown. */
export function mib(bytes: number | undefined): string {
  return bytes === undefined ? '-' : String(Math.round(bytes / MiB));
}
