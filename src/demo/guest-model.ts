/**
 * The simulator's guest (src/sim/simulated-guest.ts) behind a SimulatedQemu: the
 * QMP server asks it for the balloon's `actual` and the driver's stats, and hands it
 * `balloon` targets. The guest is stepped by the demo's node clock, not here, so
 * every guest and the node move together.
 */
import type { SimulatedGuest } from '../sim/simulated-guest.js';
import type { SimulatedGuestModel } from '../kubevirt-sim/simulated-qemu.js';

export class SimGuestQemuModel implements SimulatedGuestModel {
  constructor(readonly guest: SimulatedGuest) {}

  actualBytes(): number {
    return Math.round(this.guest.balloon.actualBytes);
  }

  setBalloonTarget(bytes: number): void {
    // QEMU clamps a target above the guest's memory to it.
    const target = Math.min(this.guest.config.memoryBytes, Math.max(0, Math.round(bytes)));
    this.guest.balloon.setTarget(target);
    this.guest.targetBytes = target;
  }

  guestStats(nowMs: number): Record<string, number> | undefined {
    if (!this.guest.alive) return undefined;
    const s = this.guest.sample(nowMs);
    return {
      'stat-total-memory': s.totalBytes ?? this.actualBytes(),
      'stat-free-memory': s.freeBytes ?? 0,
      'stat-available-memory': s.availableBytes ?? 0,
      'stat-disk-caches': s.diskCachesBytes ?? 0,
      'stat-swap-in': s.swapInBytes ?? 0,
      'stat-swap-out': s.swapOutBytes ?? 0,
      'stat-major-faults': s.majorFaults ?? 0,
      'stat-minor-faults': s.minorFaults ?? 0,
      'stat-htlb-pgalloc': 0,
      'stat-htlb-pgfail': 0,
    };
  }
}
