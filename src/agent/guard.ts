/**
 * The balloon guard: every balloon target the agent sends to QEMU is decided here.
 *
 * QEMU accepts any target (4 KiB too, which kills the guest), so the guard clamps
 * each request to [max(guaranteed, what the guest needs now + margin), guest memory],
 * takes memory from the guest in steps no faster than the guest gives it, and gives
 * memory back on its own when the guest shows pressure.
 *
 * Pure: state and observations in, a decision and the next state out; time is an
 * input. The agent does the I/O (query-balloon, guest-stats, `balloon`).
 *
 * "Need" is measured in balloon-actual units: need = actual - available. Without
 * autodeflate the guest's total shrinks with the balloon, so this is total - available
 * plus the kernel's own reserve (actual - total); with autodeflate the total stays
 * and the balloon's pages count as used, and the same formula still holds. So the
 * guard never takes more than (available - margin) from a guest.
 */
import type { ClampReason } from '../api/kubemom-v1.js';
import type { GuestMemoryStats } from './guest-stats.js';
import type { Phase } from './lifecycle.js';
import { MiB } from '../common/units.js';

/** Why a target differs from what was asked (or why the agent moved it on its own). */
export type { ClampReason };

export interface GuardConfig {
  /** Domain <memory>: the most the guest can have. */
  guestMemoryBytes: number;
  /** kubemom.io/guaranteed-memory. */
  guaranteedBytes: number;
  /** kubemom.io/memory-margin: available memory always left to the guest. */
  marginBytes: number;
  /** The guest stats period. */
  periodMs: number;
  /** The most the agent takes from the guest per second; one step is this times the period. */
  maxInflateBytesPerSecond: number;
  /** |actual - target| at most this counts as reached. */
  reachedToleranceBytes: number;
  /** An inflation step not reached after this long is abandoned: the guest cannot give more. */
  stuckMs: number;
  /** Pressure: swap-in above this rate. */
  swapInBytesPerSecond: number;
  /** Pressure: major faults above this rate. */
  majorFaultsPerSecond: number;
  /** No SetTarget for this long: the shim counts as silent and the target holds. */
  shimSilenceMs: number;
  /** After a self-protection deflate, no inflation for this long. */
  protectCooldownMs: number;
  /** Set when the VM is observed only (passthrough devices): no memory is ever taken, this says why. */
  observeOnlyReason?: string;
  /**
   * The VM has no guarantee of its own (guaranteed = guest memory by default): the shim's floor (the pod's
   * memory request, or the cluster's memory overcommit) stands in for it.
   */
  acceptsNodeFloor?: boolean;
}

/** A TCG guest gave 256 MiB in 0.3 to 0.9 s (at least ~280 MiB/s): the agent takes under half that. */
export const DEFAULT_MAX_INFLATE_BYTES_PER_SECOND = 128 * MiB;
/** Swap-in above this rate is guest pressure. */
export const DEFAULT_SWAP_IN_PRESSURE_BYTES_PER_SECOND = 1 * MiB;

/** Defaults chosen from measurements under TCG (see docs/agent.md). */
export function defaultGuardConfig(vm: { guestMemoryBytes: number; guaranteedBytes: number; marginBytes: number; periodSeconds: number }): GuardConfig {
  const periodMs = vm.periodSeconds * 1000;
  return {
    guestMemoryBytes: vm.guestMemoryBytes,
    guaranteedBytes: vm.guaranteedBytes,
    marginBytes: vm.marginBytes,
    periodMs,
    maxInflateBytesPerSecond: DEFAULT_MAX_INFLATE_BYTES_PER_SECOND,
    reachedToleranceBytes: 2 * MiB,
    stuckMs: Math.max(3 * periodMs, 5000),
    swapInBytesPerSecond: DEFAULT_SWAP_IN_PRESSURE_BYTES_PER_SECOND,
    majorFaultsPerSecond: 100,
    shimSilenceMs: Math.max(6 * periodMs, 30_000),
    protectCooldownMs: Math.max(6 * periodMs, 30_000),
  };
}

const PAGE = 4096;

/** What the agent observed most recently. */
export interface Observation {
  nowMs: number;
  phase: Phase;
  /** query-balloon `actual`, when QEMU answered. */
  actualBytes: number | undefined;
  /** The latest guest report, when there is one. */
  stats: GuestMemoryStats | undefined;
  /** The report is older than the stale limit. */
  stale: boolean;
  /** A migration is under way and the balloon must hold still (the agent's migration hold). */
  migrating?: boolean;
}

export interface GuardState {
  /** Where the agent is heading: the shim's last request, clamped. */
  goalBytes?: number;
  /** The last target sent to QEMU. */
  appliedBytes?: number;
  /** When the last target was sent. */
  appliedAtMs?: number;
  /** When actual was first seen at the applied target (undefined while moving). */
  reachedAtMs?: number;
  /** Last SetTarget. */
  lastShimContactMs?: number;
  /** Self-protection holds until this time: no inflation below protectFloorBytes before it. */
  protectUntilMs?: number;
  /**
   * What the guest had when it last showed pressure, plus what self-protection gave it:
   * while protection holds, nothing is taken below it. Memory the shim gave on top (a
   * guest-growth grant) can still be taken back when the node needs it.
   */
  protectFloorBytes?: number;
  /** last-update of the guest report self-protection last acted on. */
  protectedReportSeconds?: number;
  /** Why the agent last moved the balloon on its own ("" when it did not). */
  selfProtectionReason: string;
  /** The shim is silent: the target holds. */
  holding: boolean;
  /** The pod ceiling from the last SetTarget (pod limit - overhead - margin); undefined: none. */
  ceilingBytes?: number;
  /** The node's floor from the last SetTarget (used only with acceptsNodeFloor); undefined: none. */
  nodeFloorBytes?: number;
}

export const INITIAL_GUARD_STATE: GuardState = Object.freeze({ selfProtectionReason: '', holding: false });

export interface Decision {
  state: GuardState;
  /** The target to send to QEMU now; undefined leaves the balloon as it is. */
  send?: number;
}

export interface TargetDecision extends Decision {
  /** What QEMU has been told (after this decision), bytes. */
  appliedBytes: number;
  /** The clamped goal the agent moves toward, bytes. */
  goalBytes: number;
  clamp: ClampReason;
  detail: string;
}

function roundUpToPage(bytes: number): number {
  return Math.ceil(bytes / PAGE) * PAGE;
}

function roundDownToPage(bytes: number): number {
  return Math.floor(bytes / PAGE) * PAGE;
}

function fmt(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/** The most the guest may have: its memory, or the pod ceiling when lower. */
export function upperOf(config: GuardConfig, state: GuardState): number {
  return Math.min(config.guestMemoryBytes, state.ceilingBytes ?? Infinity);
}

/** The guaranteed memory in force: the VM's own, or the node's floor for a VM that has none. */
export function guaranteedOf(config: GuardConfig, state: GuardState): number {
  const own = Math.min(config.guaranteedBytes, config.guestMemoryBytes);
  return config.acceptsNodeFloor && state.nodeFloorBytes !== undefined ? Math.min(state.nodeFloorBytes, own) : own;
}

/** The target QEMU holds now, as far as the agent knows. */
function currentOf(state: GuardState, obs: Observation, config: GuardConfig): number {
  return state.appliedBytes ?? obs.actualBytes ?? config.guestMemoryBytes;
}

/** The guest report is usable for inflating: present, fresh, and running. */
function inflationBlock(obs: Observation): { clamp: ClampReason; detail: string } | undefined {
  if (obs.phase !== 'running') return { clamp: 'not-running', detail: `the VM is ${obs.phase}; the agent only takes memory from a running guest` };
  if (!obs.stats || obs.stale || obs.actualBytes === undefined) return { clamp: 'no-fresh-stats', detail: 'no fresh guest stats; the agent does not take memory blind' };
  return undefined;
}

/** What the floors depend on: the VM's memory, its guaranteed memory and its margin. */
export type FloorLimits = Pick<GuardConfig, 'guestMemoryBytes' | 'guaranteedBytes' | 'marginBytes'>;

/**
 * The lowest safe target for a guest whose balloon holds `actualBytes` and that reports `availableBytes` available
 * (undefined: no report, only the guaranteed memory binds), and which floor binds. The simulator and the test bed's
 * simulated agent use this same rule.
 */
export function memoryFloor(limits: FloorLimits, actualBytes: number | undefined, availableBytes: number | undefined): { bytes: number; reason: 'guaranteed' | 'guest-need'; needBytes?: number } {
  const guaranteed = Math.min(limits.guaranteedBytes, limits.guestMemoryBytes);
  if (availableBytes === undefined || actualBytes === undefined) return { bytes: guaranteed, reason: 'guaranteed' };
  const needBytes = Math.max(0, actualBytes - availableBytes);
  const needFloor = Math.min(limits.guestMemoryBytes, roundUpToPage(needBytes + limits.marginBytes));
  return needFloor > guaranteed ? { bytes: needFloor, reason: 'guest-need', needBytes } : { bytes: guaranteed, reason: 'guaranteed', needBytes };
}

/**
 * The lowest safe target with the stats at hand, and which floor binds. Never above the pod ceiling: past it
 * the whole VM is OOM-killed by its cgroup, which no floor is worth. The node's floor stands in for a VM
 * without a guarantee of its own.
 */
export function floorOf(config: GuardConfig, obs: Observation, state: GuardState = INITIAL_GUARD_STATE): { bytes: number; reason: 'guaranteed' | 'guest-need'; needBytes?: number } {
  const upper = upperOf(config, state);
  return memoryFloor({ guestMemoryBytes: upper, guaranteedBytes: Math.min(guaranteedOf(config, state), upper), marginBytes: config.marginBytes }, obs.actualBytes, obs.stats?.availableBytes);
}

/** Pressure signs in the latest report, or undefined when there are none. */
export function pressureOf(config: GuardConfig, stats: GuestMemoryStats | undefined): string | undefined {
  if (!stats) return undefined;
  const signs: string[] = [];
  if (stats.swapInBytesPerSecond > config.swapInBytesPerSecond) signs.push(`swap-in ${fmt(stats.swapInBytesPerSecond)}/s`);
  if (stats.majorFaultsPerSecond > config.majorFaultsPerSecond) signs.push(`major faults ${stats.majorFaultsPerSecond.toFixed(0)}/s`);
  if (stats.availableBytes < config.marginBytes) signs.push(`available ${fmt(stats.availableBytes)} under the margin ${fmt(config.marginBytes)}`);
  return signs.length ? signs.join(', ') : undefined;
}

/**
 * Whether an inflation step may go out now, and how far: the previous move must
 * have been reached, and a guest report taken after that must be in (so "need"
 * is measured with the balloon where it is).
 */
/** The self-protection floor while it holds, else undefined. */
function protectionFloor(state: GuardState, nowMs: number): number | undefined {
  return state.protectUntilMs !== undefined && nowMs < state.protectUntilMs ? state.protectFloorBytes : undefined;
}

function stepAllowance(config: GuardConfig, state: GuardState, obs: Observation): { ok: true; maxStep: number } | { ok: false; detail: string } {
  if (state.appliedBytes !== undefined && state.reachedAtMs === undefined) return { ok: false, detail: 'the previous move has not been reached yet' };
  if (state.reachedAtMs !== undefined && obs.stats && obs.stats.lastUpdateUnixSeconds * 1000 < state.reachedAtMs) {
    return { ok: false, detail: 'waiting for a guest report taken after the last move' };
  }
  return { ok: true, maxStep: Math.floor((config.maxInflateBytesPerSecond * config.periodMs) / 1000) };
}

/**
 * The last line of defence, applied to every target that goes to QEMU whatever
 * computed it: never under the guaranteed memory, never over the guest memory nor the pod ceiling (the
 * ceiling wins over the floor: above it the cgroup kills the VM).
 */
export function safeTarget(config: GuardConfig, bytes: number, state: GuardState = INITIAL_GUARD_STATE): number {
  const upper = upperOf(config, state);
  return Math.min(upper, Math.max(Math.min(guaranteedOf(config, state), upper), bytes));
}

function emit(config: GuardConfig, state: GuardState, target: number, nowMs: number): { state: GuardState; send: number } {
  const send = safeTarget(config, target, state);
  return { state: { ...state, appliedBytes: send, appliedAtMs: nowMs, reachedAtMs: undefined }, send };
}

/**
 * Plans a move from `current` toward `goal` (already clamped to the static and
 * need floors). Deflating (giving memory back) goes out at once; inflating goes in
 * steps, only when allowed.
 */
function move(config: GuardConfig, state: GuardState, obs: Observation, wanted: number): { state: GuardState; send?: number; limited?: string } {
  const current = currentOf(state, obs, config);
  // A goal above the pod ceiling (set before the ceiling fell) is an inflation to the ceiling, in steps.
  const goal = Math.min(wanted, upperOf(config, state));
  if (goal >= current) {
    if (goal === state.appliedBytes) return { state };
    return emit(config, state, goal, obs.nowMs);
  }
  const blocked = inflationBlock(obs);
  if (blocked) return { state, limited: blocked.detail };
  const allowance = stepAllowance(config, state, obs);
  if (!allowance.ok) return { state, limited: allowance.detail };
  // The floor is re-measured for every step: what the guest needs may have grown.
  const floor = Math.max(floorOf(config, obs, state).bytes, protectionFloor(state, obs.nowMs) ?? 0);
  const stepTarget = Math.max(goal, floor, roundUpToPage(current - allowance.maxStep));
  if (stepTarget >= current) return { state, limited: 'the guest needs what it has now' };
  return { ...emit(config, state, stepTarget, obs.nowMs), ...(stepTarget > goal ? { limited: `at most ${fmt(allowance.maxStep)} per step` } : {}) };
}

/** The order clamp reasons are reported in when several apply: the goal's own clamp first. */
function describe(parts: string[]): string {
  return parts.filter((p) => p.length > 0).join('; ');
}

/**
 * SetTarget: the shim asks for `requestedBytes` of guest memory. The answer says what
 * went to QEMU, the goal the agent keeps moving toward, and the clamp with its reason.
 */
export function requestTarget(
  config: GuardConfig,
  state: GuardState,
  obs: Observation,
  requestedBytes: number,
  bounds: { ceilingBytes?: number; floorBytes?: number } = {},
): TargetDecision {
  let next: GuardState = { ...state, lastShimContactMs: obs.nowMs, holding: false };
  // The shim's bounds hold until its next SetTarget (0 / absent: none).
  delete next.ceilingBytes;
  delete next.nodeFloorBytes;
  if (bounds.ceilingBytes !== undefined && bounds.ceilingBytes > 0) next.ceilingBytes = roundDownToPage(bounds.ceilingBytes);
  if (bounds.floorBytes !== undefined && bounds.floorBytes > 0) next.nodeFloorBytes = roundUpToPage(bounds.floorBytes);
  const current = currentOf(next, obs, config);
  let goal = requestedBytes;
  let clamp: ClampReason = 'none';
  const details: string[] = [];
  if (goal > config.guestMemoryBytes) {
    goal = config.guestMemoryBytes;
    clamp = 'guest-memory';
    details.push(`lowered to the guest memory ${fmt(goal)}`);
  }
  if (next.ceilingBytes !== undefined && goal > next.ceilingBytes) {
    goal = next.ceilingBytes;
    clamp = 'pod-ceiling';
    details.push(`lowered to the pod ceiling ${fmt(goal)} (pod memory limit less overhead and margin)`);
  }
  goal = roundUpToPage(goal);
  if (obs.migrating) {
    // Moving the balloon mid-migration dirties pages (slower convergence) or does nothing on the
    // target: remember the goal and move after the migration.
    return { state: { ...next, goalBytes: goal }, appliedBytes: current, goalBytes: goal, clamp: 'migrating', detail: 'held still while the VM migrates; applied when the migration ends' };
  }
  if (goal < current && config.observeOnlyReason !== undefined) {
    return { state: { ...next, goalBytes: current }, appliedBytes: current, goalBytes: current, clamp: 'observe-only', detail: `refused: ${config.observeOnlyReason}` };
  }
  if (goal < current) {
    const blocked = inflationBlock(obs);
    if (blocked) {
      return { state: { ...next, goalBytes: current }, appliedBytes: current, goalBytes: current, clamp: blocked.clamp, detail: blocked.detail };
    }
    const held = protectionFloor(next, obs.nowMs);
    if (held !== undefined && goal < held) {
      goal = roundUpToPage(Math.min(held, current));
      clamp = 'guest-pressure';
      details.push(`raised to ${fmt(goal)}: ${next.selfProtectionReason || 'the guest showed pressure'}; nothing under it is taken before ${new Date(next.protectUntilMs!).toISOString()}`);
    }
    const floor = floorOf(config, obs, next);
    if (goal < floor.bytes) {
      goal = floor.bytes;
      clamp = floor.reason;
      details.push(
        floor.reason === 'guaranteed'
          ? `raised to the guaranteed memory ${fmt(goal)}`
          : `raised to the guest's need ${fmt(floor.needBytes ?? 0)} plus the margin ${fmt(config.marginBytes)}: ${fmt(goal)}`,
      );
    }
    // Never inflate past where we are only to come back: the goal is at most current.
    goal = Math.min(goal, current);
  } else if (goal < guaranteedOf(config, next) && guaranteedOf(config, next) <= upperOf(config, next)) {
    // Already at or under the guaranteed memory (someone else moved the balloon): raise.
    goal = roundUpToPage(guaranteedOf(config, next));
    clamp = 'guaranteed';
    details.push(`raised to the guaranteed memory ${fmt(goal)}`);
  }
  next = { ...next, goalBytes: goal };
  const planned = move(config, next, obs, goal);
  next = planned.state;
  const applied = currentOf(next, obs, config);
  if (planned.limited && applied !== goal) {
    if (clamp === 'none') clamp = 'rate-limit';
    details.push(`now ${fmt(applied)}, heading to ${fmt(goal)}: ${planned.limited}`);
  }
  return { state: next, ...(planned.send !== undefined ? { send: planned.send } : {}), appliedBytes: applied, goalBytes: goal, clamp, detail: describe(details) };
}

/**
 * Follows query-balloon between reports: notes when the last target was reached,
 * and abandons an inflation the guest cannot complete.
 */
export function observeActual(config: GuardConfig, state: GuardState, nowMs: number, actualBytes: number): Decision {
  if (state.appliedBytes === undefined || state.reachedAtMs !== undefined) return { state };
  if (Math.abs(actualBytes - state.appliedBytes) <= config.reachedToleranceBytes) return { state: { ...state, reachedAtMs: nowMs } };
  if (actualBytes > state.appliedBytes && state.appliedAtMs !== undefined && nowMs - state.appliedAtMs > config.stuckMs) {
    // The guest did not give what was asked: stop asking, keep what it gave.
    const emitted = emit(config, state, roundUpToPage(actualBytes), nowMs);
    const target = emitted.send;
    return {
      state: { ...emitted.state, reachedAtMs: nowMs, goalBytes: Math.max(state.goalBytes ?? target, target), selfProtectionReason: `the guest gave only ${fmt(actualBytes)} of the ${fmt(state.appliedBytes)} asked within ${config.stuckMs} ms` },
      send: target,
    };
  }
  return { state };
}

/**
 * Called once per stats sample: self-protection first, then the shim-silence hold,
 * then the next step toward the goal.
 */
export function tick(config: GuardConfig, state: GuardState, obs: Observation): Decision {
  let next = state;
  if (obs.actualBytes !== undefined) next = observeActual(config, next, obs.nowMs, obs.actualBytes).state;
  if (obs.phase === 'gone' || obs.phase === 'stopping') return { state: next };

  // Self-protection acts once per new guest report.
  const report = obs.stats?.lastUpdateUnixSeconds;
  const pressure = obs.stale ? undefined : pressureOf(config, obs.stats);
  if (pressure && report !== undefined && report !== next.protectedReportSeconds && obs.actualBytes !== undefined) {
    const current = Math.max(currentOf(next, obs, config), obs.actualBytes);
    const shortfall = Math.max(0, config.marginBytes - (obs.stats?.availableBytes ?? 0));
    const boost = Math.max(config.marginBytes, Math.floor(config.guestMemoryBytes / 8)) + shortfall;
    const target = safeTarget(config, roundUpToPage(current + boost), next);
    const capped = next.ceilingBytes !== undefined && target < roundUpToPage(current + boost) && target === next.ceilingBytes;
    const reason =
      target > obs.actualBytes
        ? `guest pressure (${pressure}): gave back ${fmt(target - obs.actualBytes)}${capped ? ', up to the pod ceiling' : ''}`
        : `guest pressure (${pressure}): nothing given back, the guest is at the pod ceiling ${fmt(target)}`;
    next = {
      ...next,
      protectedReportSeconds: report,
      protectUntilMs: obs.nowMs + config.protectCooldownMs,
      protectFloorBytes: Math.max(target, obs.actualBytes, protectionFloor(next, obs.nowMs) ?? 0),
      selfProtectionReason: reason,
      goalBytes: Math.max(next.goalBytes ?? target, target),
    };
    if (target !== next.appliedBytes && target > obs.actualBytes) return emit(config, next, target, obs.nowMs);
    return { state: next };
  }

  // Mid-migration only distress (above) moves the balloon; the goal waits for the end.
  if (obs.migrating) return { state: next };

  if (next.lastShimContactMs !== undefined && obs.nowMs - next.lastShimContactMs > config.shimSilenceMs && !next.holding) {
    // The shim is silent: hold where we are (no further inflation), keep protecting.
    const hold = currentOf(next, obs, config);
    next = { ...next, holding: true, goalBytes: Math.max(next.goalBytes ?? hold, hold), selfProtectionReason: `the shim has been silent for over ${config.shimSilenceMs} ms: holding the target` };
  }

  if (next.goalBytes === undefined) return { state: next };
  const planned = move(config, next, obs, next.goalBytes);
  return { state: planned.state, ...(planned.send !== undefined ? { send: planned.send } : {}) };
}
