/**
 * KubeMom's default policy. Against MOM it:
 * - reads the host through MemAvailable and PSI (not MemFree + page cache);
 * - keeps a reserve above the kubelet's eviction thresholds and reclaims only what
 *   the node needs to get back over it, shared across guests by their spare memory
 *   and priority (lower priority gives first, like Proxmox's shares);
 * - never reclaims from a guest that swaps, faults or runs out of memory, and gives
 *   back to such a guest first;
 * - takes large steps under critical pressure, and holds inside a hysteresis band
 *   when calm (grows guests back only well above the reserve);
 * - runs KSM only when it pays (pressure and sharing potential), within a CPU budget,
 *   through the kernel's KSM advisor when present;
 * - follows the VM lifecycle (no inflation while starting, hold while migrating).
 */
import { InputError } from '../common/errors.js';
import { guardTarget, lifecycleGate } from './lifecycle.js';
import { guestSignals } from './guest-signals.js';
import { ksmWrites } from './mom-ksm.js';
import type { BalloonDecision, GuestState, KsmControl, Policy, PolicyDecisions, PolicyInput } from './types.js';

const MiB = 2 ** 20;

/** Tunables (all overridable by name as policy parameters). */
export const DEFAULT_PARAMETERS = {
  balloonEnabled: true,
  ksmEnabled: true,
  /** Reserve above the kubelet's eviction threshold: the larger of this fraction of MemTotal ... */
  reservePercent: 0.05,
  /** ... and this many bytes. */
  reserveMinBytes: 512 * MiB,
  /** Hysteresis band as a fraction of MemTotal: reclaim to reserve + band, grow back above reserve + 2 bands. */
  bandPercent: 0.03,
  /** Free memory a guest keeps (fraction of its balloon), normally and under critical pressure. */
  guestFreePercent: 0.1,
  guestFreePercentCritical: 0.04,
  /** Largest reclaim per guest per 10 s outside critical pressure, fraction of its memory. */
  reclaimStepPercent: 0.1,
  /** Largest give-back per guest per cycle, fraction of its memory (at least growStepMinBytes). */
  growStepPercent: 0.25,
  growStepMinBytes: 256 * MiB,
  /** Guest distress: major faults per second, available memory fraction; cooldown after distress. */
  majorFaultRate: 100,
  guestMinAvailablePercent: 0.03,
  distressCooldownMs: 120_000,
  /** Host PSI (percent, avg10): `some` means pressure, `full` means critical. */
  psiSomePressure: 10,
  psiFullCritical: 5,
  /** Smallest balloon change worth sending, bytes. */
  minChangeBytes: 16 * MiB,
  /** Lifecycle: grace after stats flow before any inflation; hold during migration. */
  startGraceMs: 60_000,
  holdDuringMigration: true,
  /** KSM: shareable memory (fraction of MemTotal) that makes KSM worth running. */
  ksmMinShareablePercent: 0.1,
  /** KSM CPU budget, percent of one core. */
  ksmCpuBudgetPercent: 10,
  /** KSM scan budget without the advisor: pages_to_scan x 1000 / sleep_millisecs pages per second. */
  ksmMaxPagesPerSecond: 5000,
  ksmSleepMs: 20,
};

export type DefaultParameters = typeof DEFAULT_PARAMETERS;

export type HostMode = 'calm' | 'hold' | 'reclaim' | 'critical';

export interface DefaultPolicyState {
  lastNowMs?: number;
  mode?: HostMode;
  /** Guests that showed distress: not reclaimed from until this time, ms. */
  distressUntil: Record<string, number>;
}

interface GuestPlan {
  guest: GuestState;
  cur: number;
  spare: number;
  distressed: boolean;
  gate: ReturnType<typeof lifecycleGate>;
  target?: number;
  reason?: string;
}

/** Water-filling: shares `need` by weights, each capped, redistributing what caps leave. */
export function shareByWeight(need: number, items: Array<{ weight: number; cap: number }>): number[] {
  const out = items.map(() => 0);
  let left = need;
  let open = items.map((it, i) => i).filter((i) => items[i]!.cap > 0 && items[i]!.weight > 0);
  while (left > 1e-6 && open.length > 0) {
    const total = open.reduce((s, i) => s + items[i]!.weight, 0);
    let used = 0;
    const still: number[] = [];
    for (const i of open) {
      const want = (left * items[i]!.weight) / total;
      const room = items[i]!.cap - out[i]!;
      const take = Math.min(want, room);
      out[i]! += take;
      used += take;
      if (room - take > 1e-6) still.push(i);
    }
    left -= used;
    if (still.length === open.length && used < 1e-6) break;
    open = still;
  }
  return out;
}

/** Priority 0 gives 4x its share, 50 gives 1x, 100 gives a quarter. */
function priorityFactor(priority: number): number {
  return 2 ** ((50 - Math.min(100, Math.max(0, priority))) / 25);
}

function resolve(params: Record<string, boolean | number>): DefaultParameters {
  const p: Record<string, boolean | number> = { ...DEFAULT_PARAMETERS };
  for (const [k, v] of Object.entries(params)) {
    const d = (DEFAULT_PARAMETERS as Record<string, boolean | number>)[k];
    if (d === undefined) throw new InputError(`parameters.${k}`, `is not a parameter of policy default; accepted: ${Object.keys(DEFAULT_PARAMETERS).join(', ')}`);
    if (typeof d === 'boolean') p[k] = typeof v === 'boolean' ? v : v !== 0;
    else if (typeof v === 'number' && Number.isFinite(v) && v >= 0) p[k] = v;
    else throw new InputError(`parameters.${k}`, `is ${v}; accepted: a number >= 0`);
  }
  return p as DefaultParameters;
}

export function evaluateDefault(input: PolicyInput, state: DefaultPolicyState, p: DefaultParameters): { decisions: PolicyDecisions; state: DefaultPolicyState } {
  const h = input.host.history[input.host.history.length - 1];
  if (!h) return { decisions: { balloons: [], ksm: {}, notRun: 'host monitor is not ready (no sample)' }, state };
  const elapsedMs = state.lastNowMs === undefined ? 10_000 : Math.max(0, input.nowMs - state.lastNowMs);
  const avail = h.memAvailableBytes;
  const hard = input.host.evictionHardBytes;
  const threshold = Math.max(hard, input.host.evictionSoftBytes ?? 0);
  const reserve = threshold + Math.max(p.reserveMinBytes, p.reservePercent * h.memTotalBytes);
  const band = p.bandPercent * h.memTotalBytes;
  const criticalLine = hard + (reserve - hard) / 2;
  const psiSome = h.psi?.someAvg10 ?? 0;
  const psiFull = h.psi?.fullAvg10 ?? 0;
  let mode: HostMode;
  if (avail < criticalLine || psiFull >= p.psiFullCritical) mode = 'critical';
  else if (avail < reserve || psiSome >= p.psiSomePressure) mode = 'reclaim';
  // Hysteresis: once reclaiming, go on until a band above the reserve; grow only above two bands.
  else if ((state.mode === 'reclaim' || state.mode === 'critical') && avail < reserve + band) mode = 'reclaim';
  else if (avail > reserve + 2 * band && psiSome < p.psiSomePressure / 2) mode = 'calm';
  else mode = 'hold';

  const distressUntil: Record<string, number> = {};
  const lifecycle = { startGraceMs: p.startGraceMs, holdDuringMigration: p.holdDuringMigration };
  const plans: GuestPlan[] = [];
  const skipped: Array<{ guestId: string; reason: string }> = [];
  for (const guest of input.guests) {
    const cur = guest.balloonActualBytes;
    if (cur === undefined) {
      skipped.push({ guestId: guest.id, reason: 'no balloon data' });
      continue;
    }
    const sig = guestSignals(guest, { majorFaultRate: p.majorFaultRate, minAvailableFraction: p.guestMinAvailablePercent });
    let until = state.distressUntil[guest.id] ?? -Infinity;
    if (sig.lastDistressMs !== undefined) until = Math.max(until, sig.lastDistressMs + p.distressCooldownMs);
    if (until > input.nowMs) distressUntil[guest.id] = until;
    const distressed = until > input.nowMs;
    const freeFraction = mode === 'critical' ? p.guestFreePercentCritical : p.guestFreePercent;
    let spare = 0;
    if (sig.availableBytes !== undefined) {
      const used = cur - sig.availableBytes;
      const floor = Math.max(guest.guaranteedMemoryBytes, used + Math.max(guest.marginBytes, freeFraction * cur));
      spare = Math.max(0, cur - floor);
    }
    plans.push({ guest, cur, spare, distressed, gate: lifecycleGate(guest, input.nowMs, lifecycle) });
  }

  let budget = avail; // host memory we may still hand out this cycle, bytes above zero
  // 1. Guests in distress get memory back first, from anything above the critical line.
  const giveBudget = (line: number): number => Math.max(0, budget - line);
  for (const g of [...plans].filter((x) => x.distressed).sort((a, b) => b.guest.priority - a.guest.priority)) {
    if (g.gate === 'hold' || g.cur >= g.guest.guestMemoryBytes) continue;
    const step = Math.max(p.growStepMinBytes, p.growStepPercent * g.guest.guestMemoryBytes);
    const give = Math.min(g.guest.guestMemoryBytes - g.cur, step, giveBudget(criticalLine));
    if (give >= p.minChangeBytes || g.cur + give >= g.guest.guestMemoryBytes) {
      if (give > 0) {
        g.target = g.cur + give;
        g.reason = 'guest-pressure';
        budget -= give;
      }
    }
  }
  // 2. Reclaim what the node needs (including what step 1 gave away), shared by spare memory and priority.
  if (p.balloonEnabled && (mode === 'reclaim' || mode === 'critical' || budget < reserve)) {
    // PSI can show stalls while MemAvailable looks fine (reclaim cannot keep up): take a band then.
    const psiPressure = psiSome >= p.psiSomePressure || psiFull >= p.psiFullCritical;
    const need = Math.max(reserve + band - budget, psiPressure ? band : 0);
    const donors = plans.filter((g) => !g.distressed && g.gate === 'free' && g.target === undefined && g.spare > 0);
    const stepCap = (g: GuestPlan): number => (mode === 'critical' ? g.spare : Math.min(g.spare, p.reclaimStepPercent * g.guest.guestMemoryBytes * (elapsedMs / 10_000)));
    const takes = shareByWeight(Math.max(0, need), donors.map((g) => ({ weight: g.spare * priorityFactor(g.guest.priority), cap: stepCap(g) })));
    donors.forEach((g, i) => {
      const take = takes[i]!;
      if (take >= p.minChangeBytes) {
        g.target = g.cur - take;
        g.reason = mode === 'critical' ? 'host-critical' : 'host-pressure';
      }
    });
  }
  // 3. Calm: give memory back above the band, the guests with the least room first.
  if (mode === 'calm') {
    const line = reserve + 1.5 * band;
    const growers = plans
      .filter((g) => g.target === undefined && g.gate !== 'hold' && g.cur < g.guest.guestMemoryBytes)
      .sort((a, b) => a.spare / a.cur - b.spare / b.cur || b.guest.priority - a.guest.priority);
    for (const g of growers) {
      const step = Math.max(p.growStepMinBytes, p.growStepPercent * g.guest.guestMemoryBytes);
      const give = Math.min(g.guest.guestMemoryBytes - g.cur, step, giveBudget(line));
      if (give >= p.minChangeBytes || (give > 0 && g.cur + give >= g.guest.guestMemoryBytes)) {
        g.target = g.cur + give;
        g.reason = 'grow';
        budget -= give;
      }
    }
  }
  const balloons: BalloonDecision[] = [];
  for (const g of plans) {
    let target = g.target;
    let reason = g.reason;
    if (g.cur < g.guest.guaranteedMemoryBytes && (target === undefined || target < g.guest.guaranteedMemoryBytes)) {
      target = g.guest.guaranteedMemoryBytes;
      reason = 'guaranteed';
    }
    if (target === undefined) continue;
    // Whole KiB, and never an inflation of a guest in distress.
    let bytes = Math.trunc(target / 1024) * 1024;
    if (g.distressed && bytes < g.cur) bytes = g.cur;
    const safe = guardTarget(g.guest, bytes, g.gate);
    if (safe !== undefined && safe !== g.cur) balloons.push({ guestId: g.guest.id, targetBytes: safe, reason: reason ?? 'policy' });
  }
  const decisions: PolicyDecisions = { balloons, ksm: {}, skipped };
  decideKsm(input, p, mode, decisions);
  return { decisions, state: { lastNowMs: input.nowMs, mode, distressUntil } };
}

function decideKsm(input: PolicyInput, p: DefaultParameters, mode: HostMode, decisions: PolicyDecisions): void {
  const ksm = input.host.ksm;
  const h = input.host.history[input.host.history.length - 1]!;
  if (!ksm) return;
  const controls: Partial<Record<KsmControl, number>> = {};
  const shareable = input.host.ksmShareableBytes ?? 0;
  const shared = ksm.pages_shared ?? 0;
  const sharing = ksm.pages_sharing ?? 0;
  // It pays when there is much to share, or when what is merged already saves a lot.
  const potential = shareable >= p.ksmMinShareablePercent * h.memTotalBytes || sharing > 2 * shared + 1000;
  const want = p.ksmEnabled && mode !== 'calm' && potential;
  if (!want) {
    // Stop scanning (merged pages stay merged); only when calm, so it does not flap.
    if (ksm.run === 1 && (mode === 'calm' || !p.ksmEnabled)) controls.run = 0;
  } else {
    controls.run = 1;
    const advisor = input.host.ksmAdvisorMode !== undefined && 'advisor_max_cpu' in ksm;
    if (advisor) {
      // The kernel sizes pages_to_scan itself, within our CPU budget.
      if (input.host.ksmAdvisorMode !== 'scan-time') decisions.ksmAdvisorMode = 'scan-time';
      controls.advisor_max_cpu = p.ksmCpuBudgetPercent;
    } else {
      controls.sleep_millisecs = p.ksmSleepMs;
      const maxPages = Math.max(64, Math.floor((p.ksmMaxPagesPerSecond * p.ksmSleepMs) / 1000));
      const cur = ksm.pages_to_scan ?? 100;
      let pages = mode === 'critical' ? maxPages : Math.min(maxPages, cur + 100);
      const cpu = input.host.ksmdCpuPercent;
      if (cpu !== undefined && cpu > p.ksmCpuBudgetPercent) pages = Math.floor((cur * p.ksmCpuBudgetPercent) / cpu);
      controls.pages_to_scan = Math.min(maxPages, Math.max(64, pages));
    }
  }
  decisions.ksm = ksmWrites(controls, ksm);
}

/** KubeMom's default policy with optional parameter overrides. */
export function defaultPolicy(params: Record<string, boolean | number> = {}): Policy<DefaultPolicyState> {
  const p = resolve(params);
  return {
    name: 'default',
    initialState: () => ({ distressUntil: {} }),
    evaluate: (input, state) => evaluateDefault(input, state, p),
  };
}
