/**
 * `autoballoon`: a Proxmox-VE-style automatic ballooning policy, as a baseline for the
 * benchmarks. Proxmox's rule, as its documentation states it: keep the node's memory
 * use at or under 80 %; when over, take memory from the VMs, when under, give it back;
 * move each VM by at most 100 MiB per 10 s cycle; split the change by "shares".
 *
 * Here the shares come from kubemom.io/priority (a higher priority keeps more: it gives
 * less and gets more), each VM stays within [guaranteed, guest memory], and the node's
 * use is MemTotal - MemAvailable of the latest sample. Pure and deterministic.
 */
import type { BalloonDecision, GuestState, Policy, PolicyInput } from './types.js';
import { MiB } from '../common/units.js';

export interface AutoballoonParameters {
  /** Target node memory use, fraction of MemTotal. */
  targetUse: number;
  /** Largest move per VM per `cycleMs`. */
  maxStepBytes: number;
  cycleMs: number;
  /** Moves smaller than this are not sent. */
  minChangeBytes: number;
}

export const AUTOBALLOON_DEFAULTS: AutoballoonParameters = {
  targetUse: 0.8,
  maxStepBytes: 100 * MiB,
  cycleMs: 10_000,
  minChangeBytes: 1 * MiB,
};

/** When each VM was last moved, so the step limit holds per 10 s even if called more often. */
export interface AutoballoonState {
  lastMoveMs: Record<string, number>;
}

/** Proxmox's shares (default 1000) from a priority 0..100 (default 50). */
export function sharesOf(priority: number): number {
  return (1000 * (Math.max(0, Math.min(100, priority)) + 1)) / 51;
}

interface Candidate {
  guest: GuestState;
  current: number;
  room: number;
  weight: number;
}

function balloonable(g: GuestState): g is GuestState & { balloonActualBytes: number } {
  return g.phase === 'running' && g.balloonActualBytes !== undefined;
}

/** Splits `total` over candidates by weight, each capped by its room and the step. */
function split(cands: Candidate[], total: number, stepOf: (c: Candidate) => number): Map<string, number> {
  const out = new Map<string, number>();
  let left = total;
  let open = cands.filter((c) => Math.min(c.room, stepOf(c)) > 0);
  // Water-filling: a capped VM's unused share goes to the others.
  while (left > 1 && open.length > 0) {
    const weights = open.reduce((s, c) => s + c.weight, 0);
    const next: Candidate[] = [];
    let given = 0;
    for (const c of open) {
      const have = out.get(c.guest.id) ?? 0;
      const cap = Math.min(c.room, stepOf(c)) - have;
      const share = (left * c.weight) / weights;
      const take = Math.min(cap, share);
      out.set(c.guest.id, have + take);
      given += take;
      if (share < cap) next.push(c);
    }
    left -= given;
    if (next.length === open.length) break;
    open = next;
  }
  return out;
}

export function evaluateAutoballoon(input: PolicyInput, state: AutoballoonState, p: AutoballoonParameters): { balloons: BalloonDecision[]; state: AutoballoonState } {
  const host = input.host.history[input.host.history.length - 1];
  if (!host) return { balloons: [], state };
  const used = host.memTotalBytes - host.memAvailableBytes;
  const diff = p.targetUse * host.memTotalBytes - used;
  const guests = input.guests.filter(balloonable);
  const stepOf = (c: Candidate) => {
    const last = state.lastMoveMs[c.guest.id];
    const elapsed = last === undefined ? p.cycleMs : input.nowMs - last;
    return p.maxStepBytes * Math.min(1, Math.max(0, elapsed) / p.cycleMs);
  };
  let cands: Candidate[];
  let sign: number;
  if (diff < 0) {
    sign = -1;
    cands = guests.map((g) => ({
      guest: g,
      current: g.balloonActualBytes,
      room: Math.max(0, g.balloonActualBytes - Math.min(g.guaranteedMemoryBytes, g.guestMemoryBytes)),
      weight: 1 / sharesOf(g.priority),
    }));
  } else {
    sign = 1;
    cands = guests.map((g) => ({
      guest: g,
      current: g.balloonActualBytes,
      room: Math.max(0, g.guestMemoryBytes - g.balloonActualBytes),
      weight: sharesOf(g.priority),
    }));
  }
  const moves = split(cands, Math.abs(diff), stepOf);
  const balloons: BalloonDecision[] = [];
  const lastMoveMs = { ...state.lastMoveMs };
  for (const c of cands) {
    const move = moves.get(c.guest.id) ?? 0;
    if (move < p.minChangeBytes) continue;
    balloons.push({
      guestId: c.guest.id,
      targetBytes: Math.round(c.current + sign * move),
      reason: sign < 0 ? 'node-over-target' : 'node-under-target',
    });
    lastMoveMs[c.guest.id] = input.nowMs;
  }
  return { balloons, state: { lastMoveMs } };
}

/** The autoballoon policy with optional parameter overrides. */
export function autoballoonPolicy(params: Partial<AutoballoonParameters> = {}): Policy<AutoballoonState> {
  const p = { ...AUTOBALLOON_DEFAULTS, ...params };
  return {
    name: 'autoballoon',
    initialState: () => ({ lastMoveMs: {} }),
    evaluate(input, state) {
      const r = evaluateAutoballoon(input, state, p);
      return { decisions: { balloons: r.balloons, ksm: {} }, state: r.state };
    },
  };
}
