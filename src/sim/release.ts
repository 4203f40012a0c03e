/**
 * How a VM or pod that stopped gives its memory back to the node. Not at once: the
 * kernel frees an exiting process's memory at about RELEASE_BYTES_PER_SECOND (an
 * estimate: exit_mmap and the OOM reaper free pages in the GiB/s range), after the
 * delay of how it was stopped (the kubelet's kill goes through the container runtime;
 * the OOM reaper starts on the victim at once, mm/oom_kill.c).
 */
export type EndReason = 'guest-oom' | 'host-oom' | 'evicted' | 'stopped';

export const RELEASE_BYTES_PER_SECOND = 2 * 2 ** 30;
export const RELEASE_DELAY_MS: Record<EndReason, number> = { 'host-oom': 0, evicted: 1_000, stopped: 1_000, 'guest-oom': 0 };

/** What is still held `nowMs` after an end at `endAtMs` that held `heldAtEndBytes`. */
export function stillHeldBytes(heldAtEndBytes: number, reason: EndReason, endAtMs: number, nowMs: number): number {
  const since = nowMs - endAtMs - RELEASE_DELAY_MS[reason];
  if (since < 0) return heldAtEndBytes;
  return Math.max(0, heldAtEndBytes - (RELEASE_BYTES_PER_SECOND * since) / 1000);
}
