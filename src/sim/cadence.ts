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
   * Node pressure (available memory under the reserve, or PSI some avg10 over
   * `psiWakePercent`) wakes the loop at once, at most once per `minWakeGapMs`.
   */
  wakeOnPressure: boolean;
  psiWakePercent: number;
  minWakeGapMs: number;
}

/** MOM: a 10 s policy interval, 5 s monitors, 10 samples kept (MOM's own defaults; vdsm runs 15 s). */
export const MOM_CADENCE: Cadence = { intervalMs: 10_000, hostSampleMs: 5_000, hostHistory: 10, guestHistory: 10, wakeOnPressure: false, psiWakePercent: 0, minWakeGapMs: 0 };

/** Proxmox's pvestatd runs its autoballoon every 10 s on the current sample. */
export const AUTOBALLOON_CADENCE: Cadence = { intervalMs: 10_000, hostSampleMs: 10_000, hostHistory: 10, guestHistory: 10, wakeOnPressure: false, psiWakePercent: 0, minWakeGapMs: 0 };

/**
 * The KubeMom shim: a steady loop plus wake-ups on pressure (its PSI trigger and
 * MemAvailable under the reserve), host read every second. Guest history: 24 reports
 * (2 min at 5 s): the default policy dates a guest's start grace from its oldest kept
 * report, so it must hold more than the grace (60 s) or the guest never leaves it.
 */
export const SHIM_CADENCE: Cadence = { intervalMs: 5_000, hostSampleMs: 1_000, hostHistory: 60, guestHistory: 24, wakeOnPressure: true, psiWakePercent: 10, minWakeGapMs: 500 };
