/**
 * The `default` policy's IO part: while the node is under IO pressure (PSI
 * /proc/pressure/io), the VMs that opted in (kubemom.io/io-throttle) get a per-disk
 * limit scaled by their priority; when the pressure ends the limit is lifted.
 *
 * Stateless: whether a VM is throttled now is an input (GuestState.ioLimits), so a
 * restarted shim picks up where the sidecars are. Pure: no I/O, no clock.
 */
import type { GuestState, HostSample, IoDecision, IoRates } from '../policy/types.js';

export interface IoPressureParameters {
  ioThrottleEnabled: boolean;
  /** IO PSI `some` avg10 (percent) at or over which opted-in VMs are throttled. */
  ioPsiThrottle: number;
  /** IO PSI `some` avg10 and avg60 (percent) under which the throttle is lifted (hysteresis). */
  ioPsiLift: number;
  /** The limit of a priority-50 VM, per disk: bytes per second, and operations per second. */
  ioThrottleBytesSec: number;
  ioThrottleIopsSec: number;
}

export const IO_PRESSURE_DEFAULTS: IoPressureParameters = {
  ioThrottleEnabled: true,
  ioPsiThrottle: 20,
  ioPsiLift: 5,
  ioThrottleBytesSec: 50 * 2 ** 20,
  ioThrottleIopsSec: 500,
};

/**
 * Priority scale, as for memory: priority 0 gets a quarter of the priority-50 limit,
 * 100 four times it (2^((priority - 50) / 25)).
 */
export function priorityScale(priority: number): number {
  return Math.pow(2, (priority - 50) / 25);
}

/** The limits a throttled VM of this priority gets. */
export function throttleFor(priority: number, p: IoPressureParameters): IoRates {
  const s = priorityScale(priority);
  const out: IoRates = {};
  if (p.ioThrottleBytesSec > 0) out.total_bytes_sec = Math.max(1, Math.round(p.ioThrottleBytesSec * s));
  if (p.ioThrottleIopsSec > 0) out.total_iops_sec = Math.max(1, Math.round(p.ioThrottleIopsSec * s));
  return out;
}

function limited(rates: IoRates | undefined): boolean {
  return Object.values(rates ?? {}).some((v) => (v ?? 0) > 0);
}

/** Equal rate sets (absent and 0 both unlimited). */
export function sameRates(a: IoRates, b: IoRates | undefined): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b ?? {})]) as Set<keyof IoRates>;
  return [...keys].every((k) => (a[k] ?? 0) === (b?.[k] ?? 0));
}

/**
 * IO decisions for this cycle: only changes (throttle, re-scale after a priority change,
 * lift). Without IO PSI in the sample, nothing is decided (a node that cannot see IO
 * pressure never throttles, and leaves any throttle where it is).
 */
export function decideIoPressure(sample: HostSample | undefined, guests: readonly GuestState[], p: IoPressureParameters): IoDecision[] {
  const psi = sample?.ioPsi;
  if (!psi) return [];
  const pressure = p.ioThrottleEnabled && psi.someAvg10 >= p.ioPsiThrottle;
  const calm = !p.ioThrottleEnabled || (psi.someAvg10 < p.ioPsiLift && psi.someAvg60 < p.ioPsiLift);
  const out: IoDecision[] = [];
  for (const g of guests) {
    if (!g.ioThrottle) continue;
    const throttled = limited(g.ioLimits);
    if (pressure || (throttled && !calm)) {
      const want = throttleFor(g.priority, p);
      if (!sameRates(want, g.ioLimits)) out.push({ guestId: g.id, limits: want, reason: 'io-pressure' });
    } else if (throttled && calm) {
      out.push({ guestId: g.id, limits: {}, reason: 'io-calm' });
    }
  }
  return out;
}

/**
 * Rates as a policy may send them: whole, positive, and for each kind (bytes, IOPS)
 * either a total or per-direction rates, as QEMU requires; the total wins when a
 * policy set both (it is the tighter intent).
 */
export function normalizeRates(rates: IoRates): IoRates {
  const out: IoRates = {};
  for (const [name, value] of Object.entries(rates) as Array<[keyof IoRates, number]>) {
    const v = Math.trunc(value);
    if (v > 0) out[name] = v;
  }
  for (const kind of ['bytes', 'iops'] as const) {
    if (out[`total_${kind}_sec`]) {
      delete out[`read_${kind}_sec`];
      delete out[`write_${kind}_sec`];
    }
  }
  return out;
}
