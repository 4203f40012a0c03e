/**
 * Live migration as the agent follows it through QMP: the `MIGRATION` event's status
 * and `query-migrate` (qapi/migration.json, `MigrationInfo`, `MigrationStats`), on the
 * source (outgoing) and on the target (incoming, QEMU started with `-incoming`).
 *
 * Pure: QMP replies in, numbers out.
 */
import type { MigrationView } from '../api/kubemom-v1.js';

/** What the agent does about migrations; each behaviour can be switched off (sidecar flags). */
export interface MigrationBehaviour {
  /** Report phase `migrating` while a migration runs (from setup to completion). */
  phase: boolean;
  /** Hold the balloon still while a migration runs (no inflation, no deflation) unless the guest is in distress. */
  hold: boolean;
  /** Read query-migrate and report the migration's numbers in every sample. */
  metrics: boolean;
}

export const DEFAULT_MIGRATION_BEHAVIOUR: MigrationBehaviour = Object.freeze({ phase: true, hold: true, metrics: true });

/**
 * Statuses during which a migration is under way (qapi `MigrationStatus`): pre-copy,
 * post-copy, the switch-over and a cancellation that has not finished. `none`,
 * `completed`, `failed` and `cancelled` are not.
 */
const IN_PROGRESS = new Set([
  'setup',
  'active',
  'pre-switchover',
  'device',
  'wait-unplug',
  'postcopy-active',
  'postcopy-paused',
  'postcopy-recover-setup',
  'postcopy-recover',
  'cancelling',
  'colo',
]);

export function migrationInProgress(status: string | undefined): boolean {
  return status !== undefined && IN_PROGRESS.has(status);
}

/** The numbers of the current (or last) migration, as kubemom.v1 carries them (src/api/kubemom-v1.ts). */
export type MigrationNumbers = MigrationView;

export const NO_MIGRATION: MigrationNumbers = Object.freeze({
  status: 'none',
  memoryTotalBytes: 0,
  memoryProcessedBytes: 0,
  memoryRemainingBytes: 0,
  dirtyRateBytesPerSecond: 0,
  iteration: 0,
  downtimeSeconds: 0,
});

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/**
 * The numbers from a query-migrate reply. Fields QEMU leaves out (no RAM section
 * before setup ends, no downtime before completion, the incoming side's short reply)
 * keep their previous values, so the last migration's numbers stay after it ended.
 */
export function migrationNumbers(reply: unknown, previous: MigrationNumbers = NO_MIGRATION): MigrationNumbers {
  if (typeof reply !== 'object' || reply === null) return previous;
  const r = reply as Record<string, unknown>;
  const status = typeof r['status'] === 'string' ? r['status'] : previous.status;
  const ram = (typeof r['ram'] === 'object' && r['ram'] !== null ? r['ram'] : {}) as Record<string, unknown>;
  const pageSize = num(ram['page-size']) ?? 4096;
  const dirtyPages = num(ram['dirty-pages-rate']);
  const downtime = num(r['downtime']) ?? (status === 'completed' ? undefined : num(r['expected-downtime']));
  return {
    status,
    memoryTotalBytes: num(ram['total']) ?? previous.memoryTotalBytes,
    memoryProcessedBytes: num(ram['transferred']) ?? previous.memoryProcessedBytes,
    memoryRemainingBytes: num(ram['remaining']) ?? previous.memoryRemainingBytes,
    dirtyRateBytesPerSecond: dirtyPages !== undefined ? dirtyPages * pageSize : previous.dirtyRateBytesPerSecond,
    iteration: num(ram['dirty-sync-count']) ?? previous.iteration,
    downtimeSeconds: downtime !== undefined ? downtime / 1000 : previous.downtimeSeconds,
  };
}
