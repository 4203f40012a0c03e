/**
 * KubeMom's default policy. Against MOM it:
 * - reads the host through MemAvailable, the kubelet's own eviction signals and PSI
 *   (not MemFree + page cache);
 * - keeps a reserve above the kubelet's eviction thresholds (capped in absolute terms
 *   on large nodes) and reclaims only what the node needs to get back over it, shared
 *   across guests by their spare memory and priority (lower priority gives first);
 * - sizes what each guest keeps from its own reports (guest-needs.ts): a decaying peak
 *   of its use, so a periodic load keeps in its trough what it will need again, and
 *   headroom from the largest jump it showed between reports, scaled by how late its
 *   last report is, larger without swap or with autodeflate, and raised by priority; a guest with
 *   no cushion (no swap, no autodeflate) first seen keeps a quarter of its memory as
 *   its jump until its own reports say otherwise;
 * - takes nothing from a guest whose use rose in its recent reports or that is still
 *   in its start grace, nor from one in distress, unless the node is critical (then a
 *   guest gives what it holds above its need, the lowest priority first);
 * - gives a guest in distress the shortfall its report measures, once per report, and
 *   ends the distress when a report shows headroom again;
 * - gives back slowly (asymmetric rates): only after the node has been calm a while,
 *   one step per guest per interval, never a move inside the dead band;
 * - gives a guest it can no longer see (no memory stats) its memory back, slowly, while
 *   the node can afford it;
 * - when losses are unavoidable keeps the node above the eviction line by taking from
 *   the lowest priority first, down to what a guest uses plus its margin (plus its
 *   growth for a guest with no cushion: taken mid-burst it would be OOM-killed);
 * - runs KSM only when it pays (pressure and sharing potential), within a CPU budget,
 *   through the kernel's KSM advisor when present;
 * - follows the VM lifecycle (no inflation while starting, hold while migrating; in
 *   the start grace only under critical node pressure, and never below a generous floor).
 */
import { decideIoPressure, IO_PRESSURE_DEFAULTS } from './io-pressure.js';
import { InputError } from '../common/errors.js';
import { guardTarget, inStartGrace, lifecycleGate } from './phase-rules.js';
import { guestSignals } from './guest-signals.js';
import { kubeletHeadroom, signalTrend, softThresholdClock } from './kubelet-headroom.js';
import { grantedSinceBytes } from './granted-fall.js';
import { assessGuest, headroomBytes, reportPeriod, type GuestMemory, type GuestNeed } from './guest-needs.js';
import { ksmWrites } from '../policy/mom/ksm.js';
import type { BalloonDecision, GuestState, HostSample, KsmControl, Policy, PolicyDecisions, PolicyInput } from '../policy/types.js';
import { MiB } from '../common/units.js';

/** Tunables (all overridable by name as policy parameters). */
export const DEFAULT_PARAMETERS = {
  balloonEnabled: true,
  ksmEnabled: true,
  /** Reserve above the kubelet's eviction threshold: the larger of this fraction of MemTotal ... */
  reservePercent: 0.05,
  /** ... and this many bytes, but at most reserveMaxBytes (a large node does not idle 5 % of itself). */
  reserveMinBytes: 512 * MiB,
  reserveMaxBytes: 2048 * MiB,
  /**
   * Hysteresis band as a fraction of MemTotal. Reclaim starts under reserve + band and
   * goes on until reserve + 2 bands; guests grow back above reserve + 3 bands, down to
   * reserve + 2.5 bands. Under the reserve the node is critical.
   */
  bandPercent: 0.03,
  /** The band's cap in bytes. */
  bandMaxBytes: 1024 * MiB,
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
  /** ... but never more than this many of the guest's own report periods (a guest reporting every second is re-measured sooner). */
  growthHorizonReports: 2,
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
  /**
   * Give-back in calm, slow on purpose (reclaim is fast: asymmetric rates): a guest gets
   * at most this fraction of its memory (at least growStepMinBytes) per growIntervalMs,
   * and only after the node has been calm for calmHoldMs.
   */
  growStepPercent: 0.05,
  growStepMinBytes: 128 * MiB,
  growIntervalMs: 60_000,
  calmHoldMs: 120_000,
  /** No page cache is given back to a guest re-reading it for this long after the node was critical. */
  cacheGiveBackHoldMs: 60_000,
  /** Guest distress: major faults per second, available memory fraction; no reclaim for this long after distress. */
  majorFaultRate: 100,
  guestMinAvailablePercent: 0.03,
  distressCooldownMs: 30_000,
  /** A guest's peak use and largest jump between reports decay with these half-lives. */
  peakHalfLifeMs: 600_000,
  jumpHalfLifeMs: 1_800_000,
  /** The jump assumed for a swap-less guest first seen, fraction of its memory (guest-needs.ts). */
  unseenJumpPercent: 0.25,
  /**
   * Target moves smaller than this are not sent outside critical pressure, and a rise of
   * use larger than this over the last riseReports reports makes a guest rising (no
   * reclaim from it): wider than the reports' noise.
   */
  deadBandBytes: 64 * MiB,
  riseReports: 4,
  /** Trim (step 4): when the node is not calm, pool what guests hold above what they keep. */
  trimEnabled: true,
  /**
   * In calm, trim too while the node's available memory (or its projection) is under this
   * fraction of MemTotal: MOM's pressure line (20 %), where it starts taking idle memory. Above
   * it the guests keep their idle memory as page cache. 0 turns the calm trim off.
   */
  trimCalmBelowPercent: 0.2,
  /** Headroom multipliers for a guest without swap (or unknown) and for one with autodeflate. */
  noSwapHeadroomFactor: 1.5,
  autodeflateHeadroomFactor: 1.25,
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
  /** When the node was last critical, ms. */
  criticalAtMs?: number;
  mode?: HostMode;
  /** Guests that showed distress: not reclaimed from until this time, ms. */
  distressUntil: Record<string, number>;
  /** Since when the kubelet's memory.available has been under its soft threshold, ms. */
  kubeletSoftSinceMs?: number;
  /** What the policy remembers of each guest (peak, largest jump, last distress report served). */
  guests?: Record<string, GuestMemory>;
  /** Since when the node has been calm, ms. */
  calmSinceMs?: number;
}

interface GuestPlan {
  guest: GuestState;
  actual: number;
  /** A reclaim target already sent and not yet reached, else the balloon's size. */
  cur: number;
  need: GuestNeed;
  /** What it keeps outside critical pressure: max(peak, use + growth) + max(headroom, free share), bytes. */
  keep: number;
  /** What it keeps under critical pressure: use + growth + headroom. */
  keepCritical: number;
  /** The least it keeps when losses are unavoidable: use + margin (the agent's own floor), its guarantee. */
  keepLast: number;
  /**
   * Free memory in the guest above what a move under way already takes. A balloon takes
   * free pages first, and with free page reporting those are not resident on the host:
   * taking them caps how much more the guest can touch, but gives the node nothing now.
   * Only the rest (page cache) raises MemAvailable.
   */
  freeAvail: number;
  /** Its free memory is being filled with page cache (free falls, used does not grow). */
  filling: boolean;
  /** Showed distress within the cooldown: no reclaim outside critical pressure. */
  distressed: boolean;
  gate: ReturnType<typeof lifecycleGate>;
  /** May give under critical pressure although its start grace runs. */
  graceDonor: boolean;
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
 * MemAvailable's rate of change, bytes per ms, by the kubelet signals' trend rule (signalTrend), less
 * the fall the policy's own grants explain when `grantedSince` is given.
 */
export function availableTrend(history: readonly HostSample[], grantedSince?: (fromMs: number) => number): number {
  return signalTrend(history, (s) => s.memAvailableBytes, grantedSince);
}

/** The memory the default policy keeps available on a node: the kubelet's threshold plus a margin. */
export function reserveBytes(memTotalBytes: number, evictionThresholdBytes: number, p: DefaultParameters = DEFAULT_PARAMETERS): number {
  return evictionThresholdBytes + Math.min(Math.max(p.reserveMinBytes, p.reservePercent * memTotalBytes), Math.max(p.reserveMinBytes, p.reserveMaxBytes));
}

/** The hysteresis band: a fraction of MemTotal, capped in bytes. */
export function bandBytes(memTotalBytes: number, p: DefaultParameters = DEFAULT_PARAMETERS): number {
  return Math.min(p.bandPercent * memTotalBytes, p.bandMaxBytes);
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
  const growth = Math.max(0, sig.usedGrowthRate ?? 0) * (growthHorizonMs(p, reportPeriod(guest.history)) / 1000);
  return Math.min(guest.guestMemoryBytes, floorBytes(guest.guaranteedMemoryBytes, used, guest.marginBytes, p.guestFreePercent * cur, growth));
}

/**
 * How far ahead a guest's growth is extrapolated: until its next reports re-measure it, at most
 * growthHorizonMs. Extrapolating a burst's rate further gives a guest memory it may never use, which
 * the node then lacks when the next pressure comes.
 */
export function growthHorizonMs(p: DefaultParameters, periodMs: number | undefined): number {
  return periodMs === undefined ? p.growthHorizonMs : Math.min(p.growthHorizonMs, p.growthHorizonReports * periodMs);
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
  const now = input.nowMs;
  const avail = h.memAvailableBytes;
  const hard = input.host.evictionHardBytes;
  const threshold = Math.max(hard, input.host.evictionSoftBytes ?? 0);
  const reserve = reserveBytes(h.memTotalBytes, threshold, p);
  const band = bandBytes(h.memTotalBytes, p);
  // Nothing is given back, not even to a guest in distress, under this line.
  const floorLine = hard + (reserve - hard) / 2;
  const psiSome = h.psi?.someAvg10 ?? 0;
  const psiFull = h.psi?.fullAvg10 ?? 0;
  const reclaiming = state.mode === 'reclaim' || state.mode === 'critical';
  // Where MemAvailable will be in about one loop period at its recent rate of fall.
  // A fall the policy's own calm grants caused is not extrapolated: the next round would take them back.
  const grantedSince = (fromMs: number) => grantedSinceBytes(input.guests, fromMs, (id) => state.guests?.[id]?.grownAtMs);
  let seen = Math.min(avail, avail + availableTrend(input.host.history, grantedSince) * p.trendHorizonMs);
  // The kubelet's own signals, put on MemAvailable's scale: the same headroom above `threshold`.
  for (const k of kubeletHeadroom(input.host, p.kubeletCheckMs, grantedSince)) seen = Math.min(seen, threshold + k.headroomBytes);
  // Under the soft threshold the kubelet's grace period runs: no less urgent than the reserve.
  const soft = softThresholdClock(input.host, now, state.kubeletSoftSinceMs);
  let mode: HostMode;
  // Under the reserve is critical: the kubelet's threshold is near, act at full speed.
  if (seen < reserve || soft !== undefined || psiFull >= p.psiFullCritical) mode = 'critical';
  // Reclaim starts a band above the reserve, so a rising need is met before the reserve.
  else if (seen < reserve + band || psiSome >= p.psiSomePressure) mode = 'reclaim';
  // Hysteresis: once reclaiming, go on until two bands above the reserve; grow only above three.
  else if (reclaiming && seen < reserve + 2 * band) mode = 'reclaim';
  else if (seen > reserve + 3 * band && psiSome < p.psiSomePressure / 2) mode = 'calm';
  else mode = 'hold';
  const critical = mode === 'critical';
  const criticalAtMs = critical ? now : state.criticalAtMs;
  // Page cache a guest re-reads is a cost, not a loss: it is not handed back while the node has
  // just been critical (what caused it usually is still there, and the next round would take it again).
  const recentlyCritical = criticalAtMs !== undefined && now - criticalAtMs < p.cacheGiveBackHoldMs;
  const calmSinceMs = mode === 'calm' ? (state.mode === 'calm' ? (state.calmSinceMs ?? now) : now) : undefined;

  const distressUntil: Record<string, number> = {};
  const memories: Record<string, GuestMemory> = {};
  const lifecycle = { startGraceMs: p.startGraceMs, holdDuringMigration: p.holdDuringMigration };
  const needParams = { peakHalfLifeMs: p.peakHalfLifeMs, jumpHalfLifeMs: p.jumpHalfLifeMs, deadBandBytes: p.deadBandBytes, riseReports: p.riseReports, majorFaultRate: p.majorFaultRate, guestMinAvailablePercent: p.guestMinAvailablePercent, unseenJumpPercent: p.unseenJumpPercent };
  const factors = { noSwap: p.noSwapHeadroomFactor, autodeflate: p.autodeflateHeadroomFactor };
  const plans: GuestPlan[] = [];
  const skipped: Array<{ guestId: string; reason: string }> = [];
  let inFlightRelief = 0; // page cache balloons are still taking toward targets already sent, bytes
  for (const guest of input.guests) {
    const actual = guest.balloonActualBytes;
    if (actual === undefined) {
      skipped.push({ guestId: guest.id, reason: 'no balloon data' });
      continue;
    }
    const mem = Math.min(guest.guestMemoryBytes, guest.ceilingBytes ?? Infinity);
    const cur = guest.targetBytes !== undefined && guest.targetBytes < actual ? guest.targetBytes : actual;
    const keepFreeCritical = Math.min(p.guestFreePercentCritical * cur, band);
    const need = assessGuest(guest, now, state.guests?.[guest.id], needParams, Math.max(guest.marginBytes, keepFreeCritical));
    memories[guest.id] = need.next;
    const sig = guestSignals(guest, { majorFaultRate: p.majorFaultRate, minAvailableFraction: p.guestMinAvailablePercent });
    let until = state.distressUntil[guest.id] ?? -Infinity;
    if (sig.lastDistressMs !== undefined) until = Math.max(until, sig.lastDistressMs + p.distressCooldownMs);
    if (until > now) distressUntil[guest.id] = until;
    let gate = lifecycleGate(guest, now, lifecycle);
    // Under critical pressure a guest in its start grace gives what it does not use
    // (an eviction or host OOM would stop a whole VM), keeping a generous share free.
    // Only with a trend to go by (three reports): a guest that just booted may climb fast.
    const graceDonor = gate === 'no-inflate' && critical && guest.history.length >= 3 && inStartGrace(guest, now, lifecycle);
    const free = guest.history[guest.history.length - 1]?.freeBytes;
    if (gate !== 'hold') inFlightRelief += Math.max(0, actual - cur - (free ?? 0));
    const headroom = headroomBytes(guest, need, factors);
    const growth = Math.max(0, sig.usedGrowthRate ?? 0) * (growthHorizonMs(p, need.periodMs) / 1000);
    const used = need.usedBytes;
    const cap = (x: number) => Math.min(mem, Math.max(guest.guaranteedMemoryBytes, x));
    let keep = mem;
    let keepCritical = mem;
    let keepLast = mem;
    if (used !== undefined && !need.blind) {
      const keepFree = graceDonor ? p.startGraceFreePercent * guest.guestMemoryBytes : Math.min(p.guestFreePercent * cur, band);
      keep = cap(Math.max(Math.max(need.peakBytes ?? used, used + growth) + Math.max(headroom, keepFree), need.shortAtBytes));
      keepCritical = cap(used + growth + Math.max(headroom, graceDonor ? keepFree : keepFreeCritical));
      // A guest with no cushion (no swap, no autodeflate) keeps its growth too: taken mid-burst to its last
      // report's use it is OOM-killed seconds later, which saves the node nothing. With a cushion it swaps.
      const cushioned = Boolean(guest.swapBytes) || guest.autodeflate === true;
      keepLast = cap(used + (cushioned ? 0 : growth) + guest.marginBytes);
    }
    const filling = (sig.freeGrowthRate ?? 0) < 0 && (sig.usedGrowthRate ?? 0) <= -(sig.freeGrowthRate ?? 0) / 4;
    plans.push({ guest, actual, cur, need, keep, keepCritical, keepLast, freeAvail: Math.max(0, (free ?? 0) - (actual - cur)), filling, distressed: until > now, gate: graceDonor ? 'free' : gate, graceDonor, reason: undefined });
  }

  // Host memory we may still hand out this cycle: moves under way counted, the trend's fall not.
  let budget = seen + inFlightRelief;
  const budgetStart = budget;
  const giveBudget = (line: number): number => Math.max(0, budget - line);
  const give = (g: GuestPlan, to: number, line: number, reason: string, minMove: number): void => {
    const from = Math.max(g.cur, g.actual);
    const amount = Math.min(to, Math.min(g.guest.guestMemoryBytes, g.guest.ceilingBytes ?? Infinity)) - from;
    const granted = Math.min(amount, giveBudget(line));
    if (granted <= 0 || (granted < minMove && granted < amount)) return;
    g.target = from + granted;
    g.reason = reason;
    budget -= granted;
  };
  const byPriorityDesc = (a: GuestPlan, b: GuestPlan) => b.guest.priority - a.guest.priority;
  // 1. A guest in distress gets the shortfall its last report measures, from anything above
  // the floor line. Sized from the report (its balloon then plus what it lacked), so every
  // evaluation on the same report asks for the same target: given once per report. Under
  // critical pressure only what it must have (swapped-in memory, available under its floor):
  // page cache it reads back costs it time, an eviction would cost a VM.
  for (const g of plans.filter((x) => x.need.shortfallBytes > 0 && x.gate !== 'hold').sort(byPriorityDesc)) {
    const last = g.guest.history.filter((s) => s.atMs === g.need.reportMs).pop();
    const base = last?.balloonActualBytes ?? g.actual;
    // What it must have comes from above the floor line; the page cache it reads back only from
    // above the reclaim line: a cost paid from surplus, never a reason to push the node into reclaim.
    const must = g.need.shortfallBytes - g.need.cacheShortfallBytes;
    if (must > 0) give(g, base + must, floorLine, 'guest-pressure', 0);
    if (!critical && !recentlyCritical && g.need.cacheShortfallBytes > 0) give(g, Math.max(g.target ?? 0, base + must) + g.need.cacheShortfallBytes, reserve + band, 'guest-pressure', 0);
  }
  // 1b. A guest short of its critical floor (its use climbs toward its balloon) gets it back
  // before it swaps; under critical pressure only from above the reserve.
  for (const g of plans.filter((x) => x.target === undefined && x.gate !== 'hold' && !x.need.blind && x.keepCritical > Math.max(x.cur, x.actual) + p.minChangeBytes).sort(byPriorityDesc)) {
    give(g, g.keepCritical, critical ? reserve : floorLine, 'guest-growth', p.minChangeBytes);
  }
  // 2. Reclaim the deficit: what takes the node (moves under way counted, and what step 1
  // gave away) back to two bands above the reserve.
  if (p.balloonEnabled && (mode === 'reclaim' || critical || budget < reserve + band)) {
    // PSI can show stalls while MemAvailable looks fine (reclaim cannot keep up): take a band then.
    const psiPressure = psiSome >= p.psiSomePressure || psiFull >= p.psiFullCritical;
    let deficit = Math.max(0, reserve + 2 * band - budget, psiPressure ? band : 0);
    const initialDeficit = deficit;
    const taken = new Map<GuestPlan, number>();
    const take = (g: GuestPlan, amount: number, reason: string): number => {
      if (amount <= 0) return 0;
      const before = taken.get(g) ?? 0;
      const total = before + amount;
      taken.set(g, total);
      g.target = g.cur - total;
      g.reason = reason;
      // Free pages the balloon takes first give the node nothing now.
      return Math.max(0, total - g.freeAvail) - Math.max(0, before - g.freeAvail);
    };
    // 2a. Donors: free to inflate, not in distress, not rising, with memory above what they keep;
    // shared by spare memory and priority (lower priority gives more). Outside critical
    // pressure a guest gives at most a step.
    const donors = plans.filter((g) => !g.distressed && g.gate === 'free' && g.target === undefined && !g.need.rising && g.cur - g.keep > 0);
    const stepCap = (g: GuestPlan): number => (critical ? g.cur - g.keep : Math.min(g.cur - g.keep, p.reclaimStepPercent * g.guest.guestMemoryBytes));
    const freeSpare = (g: GuestPlan): number => Math.min(stepCap(g), g.freeAvail);
    const reliefCap = (g: GuestPlan): number => Math.max(0, stepCap(g) - freeSpare(g));
    const reliefs = shareByWeight(deficit, donors.map((g) => ({ weight: reliefCap(g) * priorityFactor(g.guest.priority), cap: reliefCap(g) })));
    donors.forEach((g, i) => {
      const relief = reliefs[i]!;
      // A donor filling its free memory with page cache, or any donor under critical
      // pressure, also gives its free memory above what it keeps: it costs the guest
      // nothing now and stops it from touching what the node is short of.
      const amount = relief > 0 || g.filling || critical ? Math.min(stepCap(g), freeSpare(g) + relief) : 0;
      if (amount >= (critical ? p.minChangeBytes : Math.max(p.minChangeBytes, p.deadBandBytes))) deficit -= take(g, amount, critical ? 'host-critical' : 'host-pressure');
    });
    // 2b. Critical and still short of the reserve: every guest that may give (also one in
    // distress, rising or in its start grace) gives what it holds above its use, growth and
    // headroom, the lowest priority first.
    const lowestFirst = (a: GuestPlan, b: GuestPlan) => a.guest.priority - b.guest.priority || (b.cur - b.keepCritical) - (a.cur - a.keepCritical);
    // How far under `line` the node stays after what is taken so far.
    const shortOf = (line: number) => Math.max(0, line - (budget + initialDeficit - deficit));
    if (critical) {
      for (const g of plans.filter((x) => x.gate === 'free').sort(lowestFirst)) {
        const short = shortOf(reserve);
        if (short <= 0) break;
        const room = g.cur - (taken.get(g) ?? 0) - g.keepCritical;
        if (room >= p.minChangeBytes) deficit -= take(g, Math.min(room, short + g.freeAvail), 'host-critical');
      }
      // 2c. Losses unavoidable: the node is (now, not by a projection) under the floor line and
      // stays there after 2a and 2b. The lowest priority gives down to its use plus margin
      // (a swap-in risk for it, not an eviction for anyone).
      const measured = Math.min(avail, ...kubeletHeadroom(input.host, 0).map((k) => threshold + k.headroomBytes));
      const shortNow = (line: number) => Math.max(0, line - (measured + inFlightRelief - (budgetStart - budget) + initialDeficit - deficit));
      for (const g of plans.filter((x) => x.gate === 'free').sort(lowestFirst)) {
        const short = shortNow(floorLine);
        if (short <= 0) break;
        const room = g.cur - (taken.get(g) ?? 0) - g.keepLast;
        if (room >= p.minChangeBytes) deficit -= take(g, Math.min(room, short + g.freeAvail), 'host-critical-lowest-priority');
      }
    }
  }
  // 3. Outside pressure, a guest under what it keeps gets it back (its headroom), from above two
  // bands over the reserve (where reclaim stops: a grant the guest fills must not start the next
  // reclaim); in calm, a guest it cannot see (no memory stats) and then every
  // guest get memory back slowly, down to 2.5 bands above the reserve.
  if (mode === 'calm' || mode === 'hold') {
    for (const g of plans.filter((x) => x.target === undefined && x.gate !== 'hold' && !x.need.blind && x.keep > Math.max(x.cur, x.actual) + p.deadBandBytes).sort(byPriorityDesc)) {
      give(g, g.keep, reserve + 2 * band, 'guest-headroom', p.deadBandBytes);
    }
  }
  const stepOf = (g: GuestPlan) => Math.max(p.growStepMinBytes, p.growStepPercent * g.guest.guestMemoryBytes);
  // 4. Trim: when the node is not calm (or calm but under MOM's pressure line: idle memory a
  // denser node needs), a guest that holds more than two steps above what it keeps gives the
  // excess back to the node's pool, a step at a time (deflating is fast, inflating is slow: memory
  // the node holds can be handed back within a report, memory a guest filled with cache cannot be
  // taken back as fast). Never from a guest rising, in distress or not free. It lands a step above
  // what the guest keeps, where the calm grow stops: no grow follows it.
  const calmTrim = mode === 'calm' && seen < p.trimCalmBelowPercent * h.memTotalBytes;
  if (p.balloonEnabled && p.trimEnabled && (mode === 'reclaim' || mode === 'hold' || calmTrim)) {
    for (const g of plans.filter((x) => x.target === undefined && x.gate === 'free' && !x.distressed && !x.need.rising && !x.need.blind)) {
      const excess = g.cur - (g.keep + 2 * stepOf(g));
      if (excess < p.deadBandBytes) continue;
      g.target = g.cur - Math.min(excess + stepOf(g), p.reclaimStepPercent * g.guest.guestMemoryBytes);
      g.reason = 'trim';
    }
  }
  if (mode === 'calm' && calmSinceMs !== undefined && now - calmSinceMs >= p.calmHoldMs) {
    const line = reserve + 2.5 * band;
    // Up to a step above what it keeps (a blind guest: to its full memory; it cannot be watched).
    const growers = plans
      .filter((g) => g.target === undefined && g.gate !== 'hold' && g.cur < g.guest.guestMemoryBytes && (g.need.blind || g.cur < g.keep + stepOf(g)) && now - (g.need.next.grownAtMs ?? -Infinity) >= p.growIntervalMs)
      .sort((a, b) => Number(b.need.blind) - Number(a.need.blind) || (a.cur - a.keep) / a.guest.guestMemoryBytes - (b.cur - b.keep) / b.guest.guestMemoryBytes || b.guest.priority - a.guest.priority);
    for (const g of growers) {
      const to = g.need.blind ? Math.max(g.cur, g.actual) + stepOf(g) : Math.min(Math.max(g.cur, g.actual) + stepOf(g), g.keep + stepOf(g));
      give(g, to, line, 'grow', p.deadBandBytes);
      if (g.target !== undefined) g.need.next.grownAtMs = now;
    }
  }
  const balloons: BalloonDecision[] = [];
  for (const g of plans) {
    let target = g.target;
    let reason = g.reason;
    const actual = g.actual;
    if (actual < g.guest.guaranteedMemoryBytes && (target === undefined || target < g.guest.guaranteedMemoryBytes)) {
      target = g.guest.guaranteedMemoryBytes;
      reason = 'guaranteed';
    }
    if (target === undefined) continue;
    // Whole KiB, never over the pod's ceiling, and never an inflation of a guest in distress
    // outside critical pressure (under it, never below what it uses plus its headroom).
    let bytes = Math.trunc(Math.min(target, g.guest.ceilingBytes ?? Infinity) / 1024) * 1024;
    if (g.distressed && bytes < actual) bytes = critical ? Math.max(bytes, Math.min(actual, g.keepLast)) : actual;
    const safe = guardTarget(g.guest, bytes, g.gate);
    if (safe !== undefined && safe !== actual && safe !== g.guest.targetBytes) balloons.push({ guestId: g.guest.id, targetBytes: safe, reason: reason ?? 'policy' });
  }
  const decisions: PolicyDecisions = { balloons, ksm: {}, skipped };
  decideKsm(input, p, mode, decisions);
  const io = decideIoPressure(h, input.guests, p);
  if (io.length > 0) decisions.io = io;
  const next: DefaultPolicyState = { lastNowMs: now, mode, distressUntil, guests: memories };
  if (criticalAtMs !== undefined) next.criticalAtMs = criticalAtMs;
  if (calmSinceMs !== undefined) next.calmSinceMs = calmSinceMs;
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
