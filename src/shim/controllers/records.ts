/** What the loop keeps of each balloon decision, shared by the loop and its balloon controller. */

export type LoopTrigger = 'period' | 'pressure' | 'manual';

/** One balloon decision and what came of it. */
export interface DecisionRecord {
  atMs: number;
  trigger: LoopTrigger;
  guestId: string;
  targetBytes: number;
  reason: string;
  /** applied, unchanged (not resent), skipped-*, deadline, error, unknown-guest. */
  outcome?: string;
  appliedBytes?: number;
  clamp?: string;
  /** The pod bound the shim applied after the policy (pod-ceiling, floor), when one did. */
  bound?: string;
}
