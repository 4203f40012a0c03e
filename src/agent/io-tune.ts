/**
 * IO tune: applies each disk's limits (the owner's annotation, tightened by the node
 * policy's) through QMP block throttling. Disks are found in QEMU's `query-block` by the
 * guest device's qdev id, which libvirt sets to KubeVirt's `ua-<disk>` alias: no guessing
 * from drive names or device order.
 */
import {
  combineIoLimits,
  formatIoLimits,
  limitsFromQueryBlock,
  normalizeIoLimits,
  qmpThrottleArguments,
  type IoLimits,
} from '../common/io-limits.js';
import type { DomainDisk } from '../hook-sidecar/domain-facts.js';
import type { QmpBlockInfo, QmpCommandOptions } from '../qmp/types.js';

/** What the agent knows of one disk after an apply. */
export interface DiskIoState {
  /** The VMI's disk name. */
  name: string;
  /** QEMU's qdev (id or QOM path) of its device; "" when QEMU has no such device. */
  qdev: string;
  /** kubemom.io/io-limits.<disk>. */
  ownerLimits: IoLimits;
  /** What QEMU reports now (query-block after the apply). */
  applied: IoLimits;
  /** Why the disk could not be throttled; "" when it was. */
  error: string;
}

/** The QMP commands this needs (QmpClient has them). */
export interface IoQmp {
  queryBlock(options?: QmpCommandOptions): Promise<QmpBlockInfo[]>;
  blockSetIoThrottle(args: Readonly<Record<string, string | number>>, options?: QmpCommandOptions): Promise<void>;
}

/** True when QEMU's qdev for a device names the device with this id. */
export function qdevMatches(qdev: string | undefined, alias: string): boolean {
  if (!qdev) return false;
  // Bare id (older QEMU), or the QOM path of the device or its backend:
  // "/machine/peripheral/<id>" or "/machine/peripheral/<id>/virtio-backend".
  return qdev === alias || qdev === `/machine/peripheral/${alias}` || qdev.startsWith(`/machine/peripheral/${alias}/`);
}

/** The query-block entry of each disk, by disk name (absent: QEMU has no such device, or no medium). */
export function matchDisks(blocks: readonly QmpBlockInfo[], disks: readonly DomainDisk[]): Map<string, QmpBlockInfo> {
  const out = new Map<string, QmpBlockInfo>();
  for (const disk of disks) {
    const block = blocks.find((b) => qdevMatches(b.qdev, disk.alias));
    if (block) out.set(disk.name, block);
  }
  return out;
}

/** Equal throttles; a burst length of 1 s is QEMU's default, the same as none. */
function same(a: IoLimits, b: IoLimits): boolean {
  const canonical = (l: IoLimits): string =>
    formatIoLimits(Object.fromEntries(Object.entries(normalizeIoLimits(l)).filter(([k, v]) => !(k.endsWith('_max_length') && v === 1))));
  return canonical(a) === canonical(b);
}

/**
 * Sets every disk's limits to owner ∩ policy, sending block_set_io_throttle only where
 * QEMU's current values differ, then reads them back. Disks without a medium (an empty
 * CD-ROM) or absent from QEMU are reported with an error, not thrown.
 */
export async function applyIoLimits(
  qmp: IoQmp,
  disks: readonly DomainDisk[],
  ownerLimits: Readonly<Record<string, IoLimits>>,
  policyLimits: IoLimits,
  options?: QmpCommandOptions,
): Promise<DiskIoState[]> {
  const matched = matchDisks(await qmp.queryBlock(options), disks);
  const states: DiskIoState[] = [];
  let changed = false;
  for (const disk of disks) {
    const owner = ownerLimits[disk.name] ?? {};
    const block = matched.get(disk.name);
    const state: DiskIoState = { name: disk.name, qdev: block?.qdev ?? '', ownerLimits: owner, applied: {}, error: '' };
    states.push(state);
    if (!block) {
      state.error = `QEMU has no device with qdev id "${disk.alias}" (query-block)`;
      continue;
    }
    if (!block.inserted) {
      state.error = 'no medium inserted: an empty drive cannot be throttled';
      continue;
    }
    const want = combineIoLimits(owner, policyLimits);
    state.applied = limitsFromQueryBlock(block.inserted);
    if (same(want, state.applied)) continue;
    try {
      await qmp.blockSetIoThrottle(qmpThrottleArguments(block.qdev!, want), options);
      changed = true;
    } catch (err) {
      state.error = err instanceof Error ? err.message : String(err);
    }
  }
  if (changed) {
    const after = matchDisks(await qmp.queryBlock(options), disks);
    for (const state of states) {
      const inserted = after.get(state.name)?.inserted;
      if (inserted) state.applied = limitsFromQueryBlock(inserted);
    }
  }
  return states;
}
