/**
 * When a policy runs. The policy objects are pure; how often the caller samples and
 * evaluates is part of what makes a policy fast or slow, so the simulator drives each
 * one the way its real loop does.
 */
export interface Cadence {
  /** Evaluate every this long, ms. */
  intervalMs: number;
  /** Host samples are taken this often (the history the policy sees), ms. */
  hostSampleMs: number;
  /** Host samples kept in the policy input. */
  hostHistory: number;
  /** Guest reports kept in the policy input. */
  guestHistory: number;
  /**
   * Pressure wakes the loop at once: the shim's PSI trigger (memory `some` stall of at
   * least `psiTriggerStallMs` within the last `psiTriggerWindowMs`, at most once per
   * window, as the kernel fires it), and available memory under the reserve (the
   * design's second wake-up), at most once per `minWakeGapMs`.
   */
  wakeOnPressure: boolean;
  psiTriggerStallMs: number;
  psiTriggerWindowMs: number;
  minWakeGapMs: number;
}

/** MOM: a 10 s policy interval, 5 s monitors, 10 samples kept (MOM's own defaults; vdsm runs 15 s). */
export const MOM_CADENCE: Cadence = { intervalMs: 10_000, hostSampleMs: 5_000, hostHistory: 10, guestHistory: 10, wakeOnPressure: false, psiTriggerStallMs: 0, psiTriggerWindowMs: 1_000, minWakeGapMs: 0 };

/** Proxmox's pvestatd runs its autoballoon every 10 s on the current sample. */
export const AUTOBALLOON_CADENCE: Cadence = { intervalMs: 10_000, hostSampleMs: 10_000, hostHistory: 10, guestHistory: 10, wakeOnPressure: false, psiTriggerStallMs: 0, psiTriggerWindowMs: 1_000, minWakeGapMs: 0 };

/**
 * The KubeMom shim: a 5 s loop (its `--period` default) plus wake-ups on pressure: its
 * PSI trigger at the shipped default `some 150000 1000000` (150 ms of stall within 1 s;
 * measured to fire 100-160 ms after a thrashing process started even in the polling
 * fallback, so within the simulator's 100 ms tick plus one), and MemAvailable under
 * the reserve. Host read every second. Guest history: 24 reports (2 min at 5 s).
 */
export const SHIM_CADENCE: Cadence = { intervalMs: 5_000, hostSampleMs: 1_000, hostHistory: 60, guestHistory: 24, wakeOnPressure: true, psiTriggerStallMs: 150, psiTriggerWindowMs: 1_000, minWakeGapMs: 500 };
