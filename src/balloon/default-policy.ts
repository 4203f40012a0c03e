/**
 * KubeMom's default policy. Against MOM it:
 * - reads the host through MemAvailable and PSI (not MemFree + page cache);
 * - keeps a reserve above the kubelet's eviction thresholds and reclaims only what
 *   the node needs to get back over it, shared across guests by their spare memory
 *   and priority (lower priority gives first, like Proxmox's shares);
 * - never reclaims from a guest that swaps, faults or runs out of memory, and gives
 *   back to such a guest first;
 * - acts before the node reaches its reserve: reclaim starts a band above it and
 *   aims two bands above it, sized to the deficit (less what is already on its way),
 *   so one cycle closes the gap; under the reserve (critical) guests keep less free
 *   memory and even a guest in its start grace gives its unused memory;
 * - holds inside a hysteresis band when calm (grows guests back only well above the
 *   reserve);
 * - runs KSM only when it pays (pressure and sharing potential), within a CPU budget,
 *   through the kernel's KSM advisor when present;
 * - follows the VM lifecycle (no inflation while starting, hold while migrating; in
 *   the start grace only under critical node pressure, and never below a generous floor).
 */
import { decideIoPressure, IO_PRESSURE_DEFAULTS } from './io-pressure.js';
import { InputError } from '../common/errors.js';
import { guardTarget, inStartGrace, lifecycleGate } from './phase-rules.js';
import { guestSignals } from './guest-signals.js';
import { kubeletHeadroom, softThresholdClock } from './kubelet-headroom.js';
import { ksmWrites } from '../policy/mom/ksm.js';
import type { BalloonDecision, GuestState, HostSample, KsmControl, Policy, PolicyDecisions, PolicyInput } from '../policy/types.js';
import { MiB } from '../common/units.js';

/** Tunables (all overridable by name as policy parameters). */
export const DEFAULT_PARAMETERS = {
  balloonEnabled: true,
  ksmEnabled: true,
  /** Reserve above the kubelet's eviction threshold: the larger of this fraction of MemTotal ... */
  reservePercent: 0.05,
  /** ... and this many bytes. */
  reserveMinBytes: 512 * MiB,
  /**
   * Hysteresis band as a fraction of MemTotal. Reclaim starts under reserve + band and
   * goes on until reserve + 2 bands; guests grow back above reserve + 3 bands, down to
   * reserve + 2.5 bands. Under the reserve the node is critical.
   */
  bandPercent: 0.03,
  /** Free memory a guest keeps (fraction of its balloon), normally and under critical pressure. */
  guestFreePercent: 0.1,
  guestFreePercentCritical: 0.04,
  /**
   * Largest reclaim per guest per cycle outside critical pressure, fraction of its
   * memory (under the reserve a guest gives its whole share at once). The amount is
   * sized to the node's deficit; this only spreads a large one over a few cycles.
   */
  reclaimStepPercent: 0.25,
  /**
   * Under critical pressure a guest still in its start grace gives memory it does not
   * use, keeping used memory plus this fraction of its memory (its need still grows).
   */
  startGraceFreePercent: 0.05,
  /**
   * A donor also keeps what its used memory will grow by at its recent rate over this
   * long (ms; about two stats reports, after which the next report re-measures it), and
   * a guest whose used memory would outgrow its balloon within it gets memory first.
   */
  growthHorizonMs: 10_000,
  /**
   * MemAvailable's trend: when it falls so fast that it would cross a watermark within
   * this long (ms, about one loop period), the policy acts as if it already had.
   */
  trendHorizonMs: 5_000,
  /**
   * The kubelet's eviction signals (when the host sample has them) count like MemAvailable, each as its
   * headroom above its own threshold less what it falls over this long (ms; the kubelet's eviction check
   * interval): the policy acts on the smallest of them.
   */
  kubeletCheckMs: 10_000,
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
  /** IO tune (io-pressure.ts): throttle opted-in VMs by priority while IO PSI some avg10 >= ioPsiThrottle. */
  ...IO_PRESSURE_DEFAULTS,
};

export type DefaultParameters = typeof DEFAULT_PARAMETERS;

export type HostMode = 'calm' | 'hold' | 'reclaim' | 'critical';

export interface DefaultPolicyState {
  lastNowMs?: number;
  mode?: HostMode;
  /** Guests that showed distress: not reclaimed from until this time, ms. */
  distressUntil: Record<string, number>;
  /** Since when the kubelet's memory.available has been under its soft threshold, ms. */
  kubeletSoftSinceMs?: number;
}

interface GuestPlan {
  guest: GuestState;
  cur: number;
  spare: number;
  /**
   * The part of `spare` that is free memory in the guest (MemFree above the floor, less
   * what a move under way already takes). A balloon takes free pages first, and with
   * free page reporting those are not resident on the host: taking them caps how much
   * more the guest can touch, but gives the node nothing now. Only the rest (page cache)
   * raises MemAvailable.
   */
  freeSpare: number;
  /** Memory it will be short of within the growth horizon at its recent growth, bytes (0: none). */
  shortfall: number;
  /** Its free memory is being filled with page cache (free falls, used does not grow). */
  filling: boolean;
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

/**
 * MemAvailable's rate of change, bytes per ms, from the latest host sample and the
 * oldest one of the last 10 s at least 1 s before it; 0 without such a sample.
 */
export function availableTrend(history: readonly HostSample[]): number {
  const last = history[history.length - 1];
  if (!last) return 0;
  let from: HostSample | undefined;
  for (let i = history.length - 2; i >= 0; i--) {
    const x = history[i]!;
    if (last.atMs - x.atMs > 10_000) break;
    if (last.atMs - x.atMs >= 1_000) from = x;
  }
  return from ? (last.memAvailableBytes - from.memAvailableBytes) / (last.atMs - from.atMs) : 0;
}

/** The memory the default policy keeps available on a node: the kubelet's threshold plus a margin. */
export function reserveBytes(memTotalBytes: number, evictionThresholdBytes: number, p: DefaultParameters = DEFAULT_PARAMETERS): number {
  return evictionThresholdBytes + Math.max(p.reserveMinBytes, p.reservePercent * memTotalBytes);
}

/**
 * The default policy's floor: the least memory a guest keeps, its guarantee, or what it
 * uses plus the larger of its margin and the free memory it keeps, plus its growth.
 */
export function floorBytes(guaranteedBytes: number, usedBytes: number, marginBytes: number, keepFreeBytes: number, growthBytes: number): number {
  return Math.max(guaranteedBytes, usedBytes + Math.max(marginBytes, keepFreeBytes) + growthBytes);
}

/**
 * A guest's floor outside critical pressure, from its balloon and recent reports, as the
 * default policy computes it (used memory from the last report, growth over the last
 * three); undefined without a balloon size or available memory. The shim's committed
 * memory and `kubemom advise` use it, so both follow the policy's own rule.
 */
export function guestFloorBytes(guest: GuestState, p: DefaultParameters = DEFAULT_PARAMETERS): number | undefined {
  const actual = guest.balloonActualBytes;
  if (actual === undefined) return undefined;
  const sig = guestSignals(guest, { majorFaultRate: p.majorFaultRate, minAvailableFraction: p.guestMinAvailablePercent });
  if (sig.availableBytes === undefined) return undefined;
  const cur = guest.targetBytes !== undefined && guest.targetBytes < actual ? guest.targetBytes : actual;
  const used = sig.usedBytes ?? actual - sig.availableBytes;
  const growth = Math.max(0, sig.usedGrowthRate ?? 0) * (p.growthHorizonMs / 1000);
  return Math.min(guest.guestMemoryBytes, floorBytes(guest.guaranteedMemoryBytes, used, guest.marginBytes, p.guestFreePercent * cur, growth));
}

/** True when the guest swapped, faulted hard or ran nearly out of memory within the distress cooldown before `nowMs`. */
export function guestInDistress(guest: GuestState, nowMs: number, p: DefaultParameters = DEFAULT_PARAMETERS): boolean {
  const sig = guestSignals(guest, { majorFaultRate: p.majorFaultRate, minAvailableFraction: p.guestMinAvailablePercent });
  return sig.lastDistressMs !== undefined && sig.lastDistressMs + p.distressCooldownMs > nowMs;
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
  const avail = h.memAvailableBytes;
  const hard = input.host.evictionHardBytes;
  const threshold = Math.max(hard, input.host.evictionSoftBytes ?? 0);
  const reserve = reserveBytes(h.memTotalBytes, threshold, p);
  const band = p.bandPercent * h.memTotalBytes;
  // Nothing is given back, not even to a guest in distress, under this line.
  const floorLine = hard + (reserve - hard) / 2;
  const psiSome = h.psi?.someAvg10 ?? 0;
  const psiFull = h.psi?.fullAvg10 ?? 0;
  const reclaiming = state.mode === 'reclaim' || state.mode === 'critical';
  // Where MemAvailable will be in about one loop period at its recent rate of fall.
  let seen = Math.min(avail, avail + availableTrend(input.host.history) * p.trendHorizonMs);
  // The kubelet's own signals, put on MemAvailable's scale: the same headroom above `threshold`.
  for (const k of kubeletHeadroom(input.host, p.kubeletCheckMs)) seen = Math.min(seen, threshold + k.headroomBytes);
  // Under the soft threshold the kubelet's grace period runs: no less urgent than the reserve.
  const soft = softThresholdClock(input.host, input.nowMs, state.kubeletSoftSinceMs);
  let mode: HostMode;
  // Under the reserve is critical: the kubelet's threshold is near, act at full speed.
  if (seen < reserve || soft !== undefined || psiFull >= p.psiFullCritical) mode = 'critical';
  // Reclaim starts a band above the reserve, so a rising need is met before the reserve.
  else if (seen < reserve + band || psiSome >= p.psiSomePressure) mode = 'reclaim';
  // Hysteresis: once reclaiming, go on until two bands above the reserve; grow only above three.
  else if (reclaiming && seen < reserve + 2 * band) mode = 'reclaim';
  else if (seen > reserve + 3 * band && psiSome < p.psiSomePressure / 2) mode = 'calm';
  else mode = 'hold';

  const distressUntil: Record<string, number> = {};
  const lifecycle = { startGraceMs: p.startGraceMs, holdDuringMigration: p.holdDuringMigration };
  const plans: GuestPlan[] = [];
  const skipped: Array<{ guestId: string; reason: string }> = [];
  let inFlightRelief = 0; // page cache balloons are still taking toward targets already sent, bytes
  for (const guest of input.guests) {
    const actual = guest.balloonActualBytes;
    if (actual === undefined) {
      skipped.push({ guestId: guest.id, reason: 'no balloon data' });
      continue;
    }
    const sig = guestSignals(guest, { majorFaultRate: p.majorFaultRate, minAvailableFraction: p.guestMinAvailablePercent });
    let until = state.distressUntil[guest.id] ?? -Infinity;
    if (sig.lastDistressMs !== undefined) until = Math.max(until, sig.lastDistressMs + p.distressCooldownMs);
    if (until > input.nowMs) distressUntil[guest.id] = until;
    const distressed = until > input.nowMs;
    let gate = lifecycleGate(guest, input.nowMs, lifecycle);
    // Under critical pressure a guest in its start grace gives what it does not use
    // (an eviction or host OOM would stop a whole VM), keeping a generous share free.
    // Only with a trend to go by (three reports): a guest that just booted may climb fast.
    const graceDonor = gate === 'no-inflate' && mode === 'critical' && guest.history.length >= 3 && inStartGrace(guest, input.nowMs, lifecycle);
    if (graceDonor) gate = 'free';
    // A target already sent and not yet reached: reclaim from there (what it takes beyond
    // the guest's free memory is counted as relief on its way, below).
    const cur = guest.targetBytes !== undefined && guest.targetBytes < actual ? guest.targetBytes : actual;
    const freeFraction = graceDonor ? p.startGraceFreePercent : mode === 'critical' ? p.guestFreePercentCritical : p.guestFreePercent;
    let spare = 0;
    if (sig.availableBytes !== undefined) {
      const used = sig.usedBytes ?? actual - sig.availableBytes;
      const keepFree = graceDonor ? freeFraction * guest.guestMemoryBytes : freeFraction * cur;
      const growth = Math.max(0, sig.usedGrowthRate ?? 0) * (p.growthHorizonMs / 1000);
      const floor = floorBytes(guest.guaranteedMemoryBytes, used, guest.marginBytes, keepFree, growth);
      spare = Math.max(0, cur - floor);
    }
    const free = guest.history[guest.history.length - 1]?.freeBytes;
    const freeSpare = Math.min(spare, Math.max(0, (free ?? 0) - (actual - cur)));
    if (gate !== 'hold') inFlightRelief += Math.max(0, actual - cur - (free ?? 0));
    const filling = (sig.freeGrowthRate ?? 0) < 0 && (sig.usedGrowthRate ?? 0) <= -(sig.freeGrowthRate ?? 0) / 4;
    // A guest whose used memory climbs toward its balloon gets memory before it swaps.
    let shortfall = 0;
    if (sig.usedBytes !== undefined && (sig.usedGrowthRate ?? 0) > 0) {
      const projected = sig.usedBytes + sig.usedGrowthRate! * (p.growthHorizonMs / 1000) + Math.max(guest.marginBytes, p.guestFreePercentCritical * cur);
      shortfall = Math.max(0, Math.min(guest.guestMemoryBytes, projected) - cur);
    }
    plans.push({ guest, cur, spare, freeSpare, shortfall, filling, distressed, gate });
  }

  // Host memory we may still hand out this cycle: moves under way counted, the trend's fall not.
  let budget = seen + inFlightRelief;
  // 1. Guests in distress get memory back first, from anything above the floor line.
  const giveBudget = (line: number): number => Math.max(0, budget - line);
  for (const g of [...plans].filter((x) => x.distressed).sort((a, b) => b.guest.priority - a.guest.priority)) {
    if (g.gate === 'hold' || g.cur >= g.guest.guestMemoryBytes) continue;
    const step = Math.max(p.growStepMinBytes, p.growStepPercent * g.guest.guestMemoryBytes);
    const give = Math.min(g.guest.guestMemoryBytes - g.cur, step, giveBudget(floorLine));
    if (give >= p.minChangeBytes || g.cur + give >= g.guest.guestMemoryBytes) {
      if (give > 0) {
        g.target = g.cur + give;
        g.reason = 'guest-pressure';
        budget -= give;
      }
    }
  }
  // 1b. Guests that climb toward their balloon get what they will need over the growth
  // horizon, before they swap (priority first), from the same budget; under critical
  // pressure only from above the reserve: an anticipated need does not deepen a crisis
  // (a guest that swaps does get memory, step 1).
  for (const g of [...plans].filter((x) => !x.distressed && x.shortfall > 0).sort((a, b) => b.guest.priority - a.guest.priority)) {
    if (g.gate === 'hold' || g.target !== undefined) continue;
    const step = Math.max(p.growStepMinBytes, p.growStepPercent * g.guest.guestMemoryBytes);
    const give = Math.min(g.guest.guestMemoryBytes - g.cur, step, g.shortfall, giveBudget(mode === 'critical' ? reserve : floorLine));
    if (give >= p.minChangeBytes) {
      g.target = g.cur + give;
      g.reason = 'guest-growth';
      budget -= give;
    }
  }
  // 2. Reclaim the deficit: what takes the node (moves under way counted, and what step 1
  // gave away) back to two bands above the reserve, shared by spare memory and priority.
  if (p.balloonEnabled && (mode === 'reclaim' || mode === 'critical' || budget < reserve + band)) {
    // PSI can show stalls while MemAvailable looks fine (reclaim cannot keep up): take a band then.
    const psiPressure = psiSome >= p.psiSomePressure || psiFull >= p.psiFullCritical;
    const need = Math.max(reserve + 2 * band - budget, psiPressure ? band : 0);
    const donors = plans.filter((g) => !g.distressed && g.gate === 'free' && g.target === undefined && g.spare > 0);
    // Relief comes from page cache; a donor gives its free memory first (the balloon
    // takes free pages first). Outside critical pressure a guest gives at most a step.
    const stepCap = (g: GuestPlan): number => (mode === 'critical' ? g.spare : Math.min(g.spare, p.reclaimStepPercent * g.guest.guestMemoryBytes));
    const reliefCap = (g: GuestPlan): number => Math.max(0, stepCap(g) - g.freeSpare);
    const reliefs = shareByWeight(Math.max(0, need), donors.map((g) => ({ weight: reliefCap(g) * priorityFactor(g.guest.priority), cap: reliefCap(g) })));
    donors.forEach((g, i) => {
      const relief = reliefs[i]!;
      // A donor filling its free memory with page cache, or any donor under critical
      // pressure, also gives its free memory above its floor: it costs the guest nothing
      // now and stops it from touching what the node is short of (a fill the node cannot
      // follow). A guest that only sits on free memory keeps it (its next burst needs it).
      const take = relief > 0 || g.filling || mode === 'critical' ? Math.min(stepCap(g), g.freeSpare + relief) : 0;
      if (take >= p.minChangeBytes) {
        g.target = g.cur - take;
        g.reason = mode === 'critical' ? 'host-critical' : 'host-pressure';
      }
    });
  }
  // 3. Calm: give memory back down to 2.5 bands above the reserve, the guests with the least room first.
  if (mode === 'calm') {
    const line = reserve + 2.5 * band;
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
    const actual = g.guest.balloonActualBytes!;
    if (actual < g.guest.guaranteedMemoryBytes && (target === undefined || target < g.guest.guaranteedMemoryBytes)) {
      target = g.guest.guaranteedMemoryBytes;
      reason = 'guaranteed';
    }
    if (target === undefined) continue;
    // Whole KiB, and never an inflation of a guest in distress.
    let bytes = Math.trunc(target / 1024) * 1024;
    if (g.distressed && bytes < actual) bytes = actual;
    const safe = guardTarget(g.guest, bytes, g.gate);
    if (safe !== undefined && safe !== actual && safe !== g.guest.targetBytes) balloons.push({ guestId: g.guest.id, targetBytes: safe, reason: reason ?? 'policy' });
  }
  const decisions: PolicyDecisions = { balloons, ksm: {}, skipped };
  decideKsm(input, p, mode, decisions);
  const io = decideIoPressure(h, input.guests, p);
  if (io.length > 0) decisions.io = io;
  const next: DefaultPolicyState = { lastNowMs: input.nowMs, mode, distressUntil };
  if (soft) next.kubeletSoftSinceMs = soft.sinceMs;
  return { decisions, state: next };
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
