/** The migration rules: query-migrate's numbers, and the guard's hold while a migration runs. */
import { expect } from 'chai';
import { migrationInProgress, migrationNumbers, NO_MIGRATION } from '../../src/agent/migration.js';
import { defaultGuardConfig, INITIAL_GUARD_STATE, requestTarget, tick } from '../../src/agent/guard.js';

const MiB = 2 ** 20;
const T0 = 1_800_000_000_000;

describe('migration numbers and hold', () => {
  it('reads query-migrate in base units and keeps the last values once a field is gone', () => {
    const active = migrationNumbers({ status: 'active', 'expected-downtime': 300, ram: { total: 512 * MiB, transferred: 100 * MiB, remaining: 400 * MiB, 'dirty-pages-rate': 250, 'page-size': 4096, 'dirty-sync-count': 2 } });
    expect(active).to.deep.equal({
      status: 'active',
      memoryTotalBytes: 512 * MiB,
      memoryProcessedBytes: 100 * MiB,
      memoryRemainingBytes: 400 * MiB,
      dirtyRateBytesPerSecond: 250 * 4096,
      iteration: 2,
      downtimeSeconds: 0.3,
    });
    // The completed reply has the measured downtime; the incoming side's reply may carry only the status.
    const done = migrationNumbers({ status: 'completed', downtime: 42, ram: { total: 512 * MiB, transferred: 520 * MiB, remaining: 0, 'dirty-sync-count': 3 } }, active);
    expect(done).to.include({ status: 'completed', downtimeSeconds: 0.042, memoryRemainingBytes: 0, iteration: 3, dirtyRateBytesPerSecond: 250 * 4096 });
    expect(migrationNumbers({ status: 'completed' }, done)).to.deep.equal(done);
    expect(migrationNumbers(undefined)).to.deep.equal(NO_MIGRATION);
  });

  it('counts setup to the switch-over and post-copy as in progress, and none, completed, failed, cancelled not', () => {
    for (const s of ['setup', 'active', 'pre-switchover', 'device', 'postcopy-active', 'cancelling']) expect(migrationInProgress(s), s).to.equal(true);
    for (const s of ['none', 'completed', 'failed', 'cancelled', undefined]) expect(migrationInProgress(s), String(s)).to.equal(false);
  });

  const config = defaultGuardConfig({ guestMemoryBytes: 512 * MiB, guaranteedBytes: 128 * MiB, marginBytes: 64 * MiB, periodSeconds: 1 });
  const stats = (availableBytes: number, atMs: number, extra = {}) => ({
    totalBytes: 480 * MiB, freeBytes: availableBytes, availableBytes, diskCachesBytes: 0, swapInBytes: 0, swapOutBytes: 0, majorFaults: 0, minorFaults: 0,
    swapInBytesPerSecond: 0, swapOutBytesPerSecond: 0, majorFaultsPerSecond: 0, minorFaultsPerSecond: 0, lastUpdateUnixSeconds: Math.floor(atMs / 1000), ...extra,
  });

  it('holds every target still while migrating, then moves to the remembered goal after', () => {
    const migrating = { nowMs: T0, phase: 'migrating' as const, actualBytes: 384 * MiB, stats: stats(300 * MiB, T0), stale: false, migrating: true };
    for (const requested of [256 * MiB, 512 * MiB]) {
      const d = requestTarget(config, { ...INITIAL_GUARD_STATE, appliedBytes: 384 * MiB, reachedAtMs: T0 - 5000 }, migrating, requested);
      expect(d.clamp).to.equal('migrating');
      expect(d.send).to.equal(undefined);
      expect(d.appliedBytes).to.equal(384 * MiB);
      expect(d.goalBytes).to.equal(requested);
      expect(tick(config, d.state, { ...migrating, nowMs: T0 + 1000 }).send).to.equal(undefined);
      // After the migration the goal is applied (deflation at once).
      if (requested > 384 * MiB) {
        const after = tick(config, d.state, { ...migrating, nowMs: T0 + 2000, phase: 'running', migrating: false, stats: stats(300 * MiB, T0 + 1500) });
        expect(after.send).to.equal(512 * MiB);
      }
    }
  });

  it('still gives memory back mid-migration when the guest is in distress', () => {
    const distressed = { nowMs: T0, phase: 'migrating' as const, actualBytes: 384 * MiB, stats: stats(10 * MiB, T0, { swapInBytesPerSecond: 50 * MiB }), stale: false, migrating: true };
    const d = tick(config, { ...INITIAL_GUARD_STATE, appliedBytes: 384 * MiB, reachedAtMs: T0 - 5000 }, distressed);
    expect(d.send).to.be.greaterThan(384 * MiB);
    expect(d.state.selfProtectionReason).to.contain('guest pressure');
  });
});
