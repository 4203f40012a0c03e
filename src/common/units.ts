/**
 * Units and OS limits used across KubeMom, defined once: binary sizes, sizes for people, and the unix socket address
 * limit every socket path KubeMom makes must fit.
 */
export const KiB = 1024;
export const MiB = 2 ** 20;
export const GiB = 2 ** 30;

/** A unix socket path's longest length in bytes: sun_path holds 108 bytes including the terminating NUL. */
export const UNIX_SOCKET_PATH_MAX = 107;

/** Bytes as GiB (two decimals) or whole MiB. */
export function size(bytes: number): string {
  if (Math.abs(bytes) >= GiB) return `${(bytes / GiB).toFixed(2)} GiB`;
  return `${Math.round(bytes / MiB)} MiB`;
}

/** Whole MiB, or "-" when unknown. */
export function mib(bytes: number | undefined): string {
  return bytes === undefined ? '-' : String(Math.round(bytes / MiB));
}
