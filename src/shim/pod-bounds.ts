/**
 * The VM pod's own bounds on its guest's memory (docs/kubelet-signals.md, "Pod limits and requests"):
 *
 * - a ceiling: the pod's cgroup memory limit less the pod's overhead (its working set less the guest's balloon
 *   actual: QEMU, libvirt, virt-launcher, the sidecars) less a margin. A guest given more than that gets QEMU
 *   OOM-killed by its cgroup. The overhead kept is the largest seen for the pod: a guest that has not yet
 *   touched all its memory makes working set - actual look smaller than QEMU's real overhead.
 * - a floor, for a VM without a guarantee of its own (pod-floors.ts supplies it).
 *
 * The bounds go into the policy input (GuestState.ceilingBytes, guaranteedMemoryBytes), are enforced on every
 * decision after the policy (boundDecisions, the one clamp), and travel to the agent with each target.
 */
import type { Logger } from '../common/log.js';
import type { BalloonDecision, GuestState } from '../policy/types.js';
import { readCgroupMemory } from './host/cgroup-memory.js';
import type { EvictionSignalReader } from './host/eviction-signals.js';
import type { SidecarSession } from './session.js';

const MiB = 2 ** 20;

/** The ceiling's granularity. */
export const CEILING_STEP_BYTES = 4 * MiB;

/** A move smaller than this is no crossing worth reporting (balloon granularity, rounding). */
const CROSSING_TOLERANCE_BYTES = 16 * MiB;

/** The ceiling from one pod cgroup reading. Pure. */
export function podCeiling(
  limitBytes: number,
  workingSetBytes: number,
  balloonActualBytes: number,
  previousOverheadBytes: number | undefined,
  marginBytes: number,
): { overheadBytes: number; ceilingBytes: number } {
  const overheadBytes = Math.max(previousOverheadBytes ?? 0, workingSetBytes - balloonActualBytes, 0);
  // Whole 4 MiB steps: the ceiling travels with every target, and must not change with every small move.
  const ceilingBytes = Math.floor(Math.max(0, limitBytes - overheadBytes - marginBytes) / CEILING_STEP_BYTES) * CEILING_STEP_BYTES;
  return { overheadBytes, ceilingBytes };
}

export interface BoundedDecision {
  guestId: string;
  /** What the policy asked (undefined: the policy made no decision; the bound made one). */
  fromBytes?: number;
  toBytes: number;
  /** pod-ceiling: lowered to the ceiling; floor: raised to the floor. */
  bound: 'pod-ceiling' | 'floor';
}

/**
 * The one clamp after the policy: every target within [floor, ceiling] (the ceiling wins where the two cross:
 * above it the cgroup kills the VM); and a guest holding more than its ceiling with no decision gets one down
 * to it. Pure.
 */
export function boundDecisions(balloons: readonly BalloonDecision[], guests: readonly GuestState[]): { balloons: BalloonDecision[]; bounded: BoundedDecision[] } {
  const byId = new Map(guests.map((g) => [g.id, g]));
  const upperOf = (g: GuestState): number => Math.min(g.guestMemoryBytes, g.ceilingBytes ?? Infinity);
  const out: BalloonDecision[] = [];
  const bounded: BoundedDecision[] = [];
  const decided = new Set<string>();
  for (const d of balloons) {
    decided.add(d.guestId);
    const g = byId.get(d.guestId);
    if (!g) {
      out.push(d);
      continue;
    }
    const upper = upperOf(g);
    const lower = Math.min(g.guaranteedMemoryBytes, upper);
    const target = Math.min(upper, Math.max(lower, d.targetBytes));
    if (target === d.targetBytes) {
      out.push(d);
      continue;
    }
    const bound = target < d.targetBytes ? 'pod-ceiling' : 'floor';
    bounded.push({ guestId: d.guestId, fromBytes: d.targetBytes, toBytes: target, bound });
    out.push({ guestId: d.guestId, targetBytes: target, reason: `${d.reason}+${bound}` });
  }
  for (const g of guests) {
    if (decided.has(g.id) || g.ceilingBytes === undefined || g.balloonActualBytes === undefined) continue;
    const upper = upperOf(g);
    const holds = Math.min(g.balloonActualBytes, g.targetBytes ?? Infinity);
    if (holds > upper + CROSSING_TOLERANCE_BYTES) {
      bounded.push({ guestId: g.id, toBytes: upper, bound: 'pod-ceiling' });
      out.push({ guestId: g.id, targetBytes: upper, reason: 'pod-ceiling' });
    }
  }
  return { balloons: out, bounded };
}

export interface PodBoundsOptions {
  /** Memory kept free under the pod's limit above its measured overhead, bytes (default 64 MiB). */
  ceilingMarginBytes?: number;
}

/** A node floor for a VM (pod-floors.ts), or none. */
export interface FloorSource {
  floorFor(session: SidecarSession): { bytes: number; source: string } | undefined;
}

export interface PodBoundsObserver {
  /** A pod cgroup could not be read (not found, unreadable): no ceiling for that VM this cycle. */
  onCgroupProblem?(reason: string): void;
  /** The guest was seen holding more than its ceiling (autodeflate: the guest deflated its balloon itself). */
  onCrossing?(session: SidecarSession, cause: 'autodeflate' | 'other'): void;
}

/** What the shim knows of one VM pod. */
export interface PodBoundsState {
  podUid: string;
  cgroup?: string;
  limitBytes?: number;
  workingSetBytes?: number;
  overheadBytes?: number;
  ceilingBytes?: number;
  floorBytes?: number;
  floorSource?: string;
  /** autodeflate is on and the guest's memory is above the ceiling: the guest can deflate past it. */
  autodeflateCanCross: boolean;
}

export class PodBounds {
  private readonly pods = new Map<string, PodBoundsState>();
  private readonly crossed = new WeakSet<SidecarSession>();
  private readonly logged = new Map<string, string>();

  constructor(
    private readonly cgroups: EvictionSignalReader | undefined,
    private readonly floors: FloorSource | undefined,
    private readonly options: PodBoundsOptions,
    private readonly log: Logger,
    private readonly observer: PodBoundsObserver = {},
  ) {}

  /** The bounds as last measured, by pod UID (metrics, tests). */
  get(podUid: string): PodBoundsState | undefined {
    return this.pods.get(podUid);
  }

  /** Measures every described session's pod and sets its bounds; forgets pods no session has any more. */
  refresh(sessions: readonly SidecarSession[]): void {
    const seen = new Set<string>();
    for (const session of sessions) {
      const d = session.describe;
      if (!d?.vm) continue;
      const podUid = session.found.podUid;
      seen.add(podUid);
      const state = this.pods.get(podUid) ?? { podUid, autodeflateCanCross: false };
      this.pods.set(podUid, state);
      this.measureCeiling(session, state);
      const floor = this.floors?.floorFor(session);
      state.floorBytes = floor?.bytes;
      state.floorSource = floor?.source;
      session.bounds = {
        ...(state.ceilingBytes !== undefined ? { ceilingBytes: state.ceilingBytes } : {}),
        ...(floor ? { floorBytes: floor.bytes } : {}),
      };
      this.watchCrossing(session, state);
    }
    for (const uid of [...this.pods.keys()]) if (!seen.has(uid)) this.pods.delete(uid);
  }

  private measureCeiling(session: SidecarSession, state: PodBoundsState): void {
    const reader = this.cgroups;
    const actual = session.latest?.balloonActualBytes;
    // Without the pods cgroup there is no pod cgroup either; the eviction signal reader already said so.
    if (!reader || !reader.kubepodsExists()) {
      delete state.ceilingBytes;
      return;
    }
    const found = reader.podCgroup(state.podUid);
    if (!found) {
      delete state.ceilingBytes;
      this.problem(state.podUid, 'no-pod-cgroup', `no cgroup for pod ${state.podUid} under the pods cgroup: no pod ceiling for ${session.id}`);
      return;
    }
    state.cgroup = found.relative;
    const memory = readCgroupMemory(found.layout, found.relative);
    if (!memory.ok) {
      delete state.ceilingBytes;
      this.problem(state.podUid, memory.problem.reason, `${memory.problem.file}: ${memory.problem.detail}; no pod ceiling for ${session.id}`);
      return;
    }
    this.clear(state.podUid);
    state.limitBytes = memory.value.limitBytes;
    state.workingSetBytes = memory.value.workingSetBytes;
    if (memory.value.limitBytes === undefined || actual === undefined || actual <= 0) {
      // No limit (the usual case without a namespace quota on limits.memory), or no balloon reading yet.
      delete state.ceilingBytes;
      return;
    }
    const c = podCeiling(memory.value.limitBytes, memory.value.workingSetBytes, actual, state.overheadBytes, this.options.ceilingMarginBytes ?? 64 * MiB);
    state.overheadBytes = c.overheadBytes;
    state.ceilingBytes = c.ceilingBytes;
  }

  private watchCrossing(session: SidecarSession, state: PodBoundsState): void {
    const d = session.describe!;
    const guestMemory = session.latest?.memory?.guestBytes || d.guestMemoryBytes;
    const ceiling = state.ceilingBytes;
    const canCross = d.autodeflate && ceiling !== undefined && guestMemory > ceiling + CROSSING_TOLERANCE_BYTES;
    if (canCross && !state.autodeflateCanCross) {
      this.log.warn(
        { vm: session.id, ceilingBytes: ceiling, guestMemoryBytes: guestMemory, limitBytes: state.limitBytes, overheadBytes: state.overheadBytes },
        "the guest may deflate its balloon itself (autodeflate) past its pod ceiling: an OOM in the guest could then get QEMU OOM-killed by the pod's memory limit; raise the VM's memory limit or set kubemom.io/autodeflate: \"false\"",
      );
    }
    state.autodeflateCanCross = canCross;
    const actual = session.latest?.balloonActualBytes;
    if (ceiling === undefined || actual === undefined) return;
    if (actual > ceiling + CROSSING_TOLERANCE_BYTES) {
      if (this.crossed.has(session)) return;
      this.crossed.add(session);
      const target = session.latest?.balloonTargetBytes ?? 0;
      const cause = d.autodeflate && target > 0 && target <= ceiling + CROSSING_TOLERANCE_BYTES ? 'autodeflate' : 'other';
      this.observer.onCrossing?.(session, cause);
      this.log.warn(
        { vm: session.id, actualBytes: actual, ceilingBytes: ceiling, targetBytes: target, cause },
        cause === 'autodeflate' ? 'the guest deflated its balloon past its pod ceiling (autodeflate)' : 'the guest holds more memory than its pod ceiling',
      );
    } else {
      this.crossed.delete(session);
    }
  }

  private problem(podUid: string, reason: string, message: string): void {
    this.observer.onCgroupProblem?.(reason);
    if (this.logged.get(podUid) === reason) return;
    this.logged.set(podUid, reason);
    this.log.warn({ podUid, reason }, message);
  }

  private clear(podUid: string): void {
    if (this.logged.get(podUid)) this.log.info({ podUid }, 'pod cgroup readable again');
    this.logged.delete(podUid);
  }
}
