/**
 * The guest's memory as QEMU holds it once KubeVirt's memory hotplug is in play
 * (v1.6+: `<maxMemory>`, then a virtio-mem device whose `requested-size` KubeVirt sets).
 *
 * QEMU's balloon counts boot RAM (and pc-dimm devices) only: `balloon` targets and
 * `query-balloon`'s `actual` are relative to it (hw/virtio/virtio-balloon.c,
 * `get_current_ram_size`), while virtio-mem memory the guest has plugged is outside it.
 * The agent speaks of the whole guest (boot + plugged) and converts at the QMP edge.
 *
 * Pure: query-memory-size-summary and query-memory-devices replies in (qapi/machine.json),
 * numbers out. The agent never writes `requested-size`: KubeVirt owns it.
 */

/** One virtio-mem device as query-memory-devices reports it. */
export interface VirtioMemState {
  id: string;
  /** Memory the guest has plugged now, bytes. */
  sizeBytes: number;
  /** What KubeVirt asked for, bytes (read only: KubeVirt owns it). */
  requestedSizeBytes: number;
  maxSizeBytes: number;
}

export interface MemoryLayout {
  /** Boot RAM (`base-memory`). */
  bootBytes: number;
  /** Hot-plugged memory the guest has (`plugged-memory`: DIMMs and plugged virtio-mem). */
  pluggedBytes: number;
  /** What the guest has in all: boot + plugged. */
  guestBytes: number;
  /** Plugged memory the balloon does not count (virtio-mem): add to `actual`, subtract from targets. */
  outsideBalloonBytes: number;
  virtioMem: VirtioMemState[];
}

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0;
}

/** The layout from the two replies; undefined when the summary has no base memory. */
export function memoryLayout(summary: unknown, devices: unknown): MemoryLayout | undefined {
  if (typeof summary !== 'object' || summary === null) return undefined;
  const s = summary as Record<string, unknown>;
  const bootBytes = num(s['base-memory']);
  if (bootBytes === 0) return undefined;
  const virtioMem: VirtioMemState[] = [];
  let dimmBytes = 0;
  for (const device of Array.isArray(devices) ? devices : []) {
    if (typeof device !== 'object' || device === null) continue;
    const d = device as { type?: unknown; data?: Record<string, unknown> };
    const data = d.data ?? {};
    if (d.type === 'virtio-mem') {
      virtioMem.push({
        id: typeof data['id'] === 'string' ? data['id'] : '',
        sizeBytes: num(data['size']),
        requestedSizeBytes: num(data['requested-size']),
        maxSizeBytes: num(data['max-size']),
      });
    } else if (d.type === 'dimm') {
      dimmBytes += num(data['size']);
    }
  }
  const outsideBalloonBytes = virtioMem.reduce((sum, v) => sum + v.sizeBytes, 0);
  const pluggedBytes = s['plugged-memory'] !== undefined ? num(s['plugged-memory']) : dimmBytes + outsideBalloonBytes;
  return { bootBytes, pluggedBytes, guestBytes: bootBytes + pluggedBytes, outsideBalloonBytes, virtioMem };
}
