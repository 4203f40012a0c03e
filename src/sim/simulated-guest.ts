/**
 * A simulated guest: a workload's demand meets the memory the balloon leaves it.
 *
 * The guest's view (balloon without autodeflate shrinking MemTotal; with autodeflate
 * the sums are the same): programs' anonymous memory stays resident up to what the
 * balloon leaves and the rest goes to swap; page cache fills what is left and is
 * dropped first. When swap is full the guest either deflates the balloon itself
 * (autodeflate, "Out of puff") or its OOM killer kills the biggest program.
 * The host holds what the guest touched: with free page reporting, freed pages go
 * back to the host within about 2 s; without it, only the balloon returns memory.
 */
import type { GuestSample, GuestState, Phase } from '../policy/types.js';
import { BalloonDynamics, type BalloonTimings } from './balloon-dynamics.js';
import { Prng } from './prng.js';
import type { StatsBehaviour } from './stats-feed.js';
import { stillHeldBytes, type EndReason } from './release.js';
import { createWorkload, type Workload, type WorkloadSpec } from './workloads.js';

const PAGE = 4096;

export interface GuestConfig {
  name: string;
  namespace: string;
  memoryBytes: number;
  guaranteedBytes: number;
  marginBytes: number;
  priority: number;
  /** Guest swap space, bytes (0: none). */
  swapBytes: number;
  autodeflate: boolean;
  freePageReporting: boolean;
  /** Boot time, ms from the start of the run. */
  startAtMs: number;
  /** How long the guest runs, ms (undefined: to the end). */
  runForMs?: number;
  /** What the pod holds besides the guest, bytes (undefined: the node's vmOverhead). */
  overheadBytes?: number;
  workload: WorkloadSpec;
  /** How its balloon stats reach the policy (default: on time, a little jitter). */
  stats?: StatsBehaviour;
}

/** Why a guest stopped before the end. */
export type GuestEnd = EndReason;

/** Cumulative harm and incidents of one guest. */
export interface GuestCounters {
  swapInBytes: number;
  swapOutBytes: number;
  majorFaults: number;
  /** Time spent with part of its need swapped out because of the balloon, ms. */
  underNeedMs: number;
  guestOomKills: number;
  autodeflates: number;
  autodeflatedBytes: number;
  /** Hot page cache read again from disk because it was taken, bytes. */
  rereadBytes: number;
}

/** Fraction of swapped-out memory the guest touches again per second (thrash). */
const SWAP_CHURN_PER_SECOND = 0.05;
/** After an OOM kill the killed program restarts after this long. */
const OOM_RESTART_MS = 60_000;
/** Page cache grows no faster than the guest reads files. */
const CACHE_FILL_BYTES_PER_SECOND = 32 * 2 ** 20;
/** A booting guest's programs reach their working set over this long (boot-storm models its own boot). */
const WARM_UP_MS = 30_000;
/** Free page reporting hands freed memory back with this time constant. */
const FREE_PAGE_REPORTING_MS = 2_000;
/**
 * A hot page cache the guest lacks is read back at this share per second (the working
 * set of a database or file server is touched within seconds): re-reads and major
 * faults until the guest has it again.
 */
const HOT_REREAD_PER_SECOND = 0.2;

/** A workload's need `ageMs` after boot, with the warm-up of a booting guest applied. */
export function warmedNeed(spec: WorkloadSpec, needBytes: number, ageMs: number): number {
  if (spec.model !== 'boot-storm' && ageMs < WARM_UP_MS) return Math.round(needBytes * Math.max(0.2, ageMs / WARM_UP_MS));
  return needBytes;
}

export class SimulatedGuest {
  readonly id: string;
  readonly uid: string;
  readonly workload: Workload;
  readonly balloon: BalloonDynamics;
  phase: Phase = 'starting';
  phaseSinceMs = 0;
  ended?: { reason: GuestEnd; atMs: number };
  /** Current demand and split of the guest's memory. */
  needBytes = 0;
  residentAnonBytes = 0;
  swappedBytes = 0;
  cacheBytes = 0;
  freeBytes = 0;
  /** Memory this guest holds on the host (QEMU RSS, without the fixed overhead). */
  hostResidentBytes = 0;
  readonly counters: GuestCounters = {
    swapInBytes: 0,
    swapOutBytes: 0,
    majorFaults: 0,
    underNeedMs: 0,
    guestOomKills: 0,
    autodeflates: 0,
    autodeflatedBytes: 0,
    rereadBytes: 0,
  };
  /** The last target the guard sent. */
  targetBytes?: number;
  history: GuestSample[] = [];
  private oomUntilMs = -Infinity;
  private oomCapBytes = Infinity;
  /** The shmem/tmpfs/slab part of the need now. */
  private shmemBytes = 0;
  /** What the ended VM still held when it stopped (overhead included), bytes. */
  private heldAtEndBytes = 0;

  constructor(
    readonly config: GuestConfig,
    seed: number,
    horizonMs: number,
    timings: BalloonTimings,
    /** A workload made by the caller (the demo's scripted timeline); default: from `config.workload`. */
    workload?: Workload,
  ) {
    this.id = `${config.namespace}/${config.name}`;
    this.uid = `sim-${config.name}`;
    this.workload = workload ?? createWorkload(config.workload, config.memoryBytes, seed, config.name, horizonMs);
    this.balloon = new BalloonDynamics(config.memoryBytes, timings, Prng.forLabel(seed, `balloon:${config.name}`));
  }

  /** The guest runs and holds memory on the host. */
  get alive(): boolean {
    return this.phase === 'running';
  }

  /** Advances the guest to `nowMs` by `dtMs`. */
  step(nowMs: number, dtMs: number): void {
    if (this.ended) return;
    const c = this.config;
    if (this.phase === 'starting') {
      if (nowMs < c.startAtMs) return;
      this.phase = 'running';
      this.phaseSinceMs = nowMs;
    }
    if (c.runForMs !== undefined && nowMs >= c.startAtMs + c.runForMs) {
      this.end('stopped', nowMs);
      return;
    }
    const dt = dtMs / 1000;
    const demand = this.workload.at(nowMs - c.startAtMs);
    let need = warmedNeed(c.workload, demand.needBytes, nowMs - c.startAtMs);
    if (nowMs < this.oomUntilMs) need = Math.min(need, this.oomCapBytes);
    this.needBytes = need;
    this.shmemBytes = Math.min(demand.shmemBytes, need);

    const reclaimable = Math.max(0, this.balloon.actualBytes - Math.min(need, this.balloon.actualBytes));
    this.balloon.step(dtMs, reclaimable);
    let actual = this.balloon.actualBytes;

    // Anonymous memory beyond what the balloon leaves goes to swap.
    let swapped = Math.max(0, need - actual);
    if (swapped > c.swapBytes) {
      const excess = swapped - c.swapBytes;
      if (c.autodeflate) {
        this.balloon.forceDeflate(excess);
        actual = this.balloon.actualBytes;
        this.counters.autodeflates++;
        this.counters.autodeflatedBytes += excess;
      } else {
        // The OOM killer kills the biggest program: the need drops to what fits, until it restarts.
        this.counters.guestOomKills++;
        this.oomCapBytes = Math.max(0, Math.min(need, actual + c.swapBytes) - 0.1 * c.memoryBytes);
        this.oomUntilMs = nowMs + OOM_RESTART_MS;
        need = Math.min(need, this.oomCapBytes);
        this.needBytes = need;
      }
      swapped = Math.max(0, need - actual);
    }
    const churn = swapped * SWAP_CHURN_PER_SECOND * dt;
    if (swapped < this.swappedBytes) this.counters.swapInBytes += this.swappedBytes - swapped;
    if (swapped > this.swappedBytes) this.counters.swapOutBytes += swapped - this.swappedBytes;
    this.counters.swapInBytes += churn;
    this.counters.swapOutBytes += churn;
    this.counters.majorFaults += (churn + Math.max(0, this.swappedBytes - swapped)) / PAGE;
    if (swapped > 0) this.counters.underNeedMs += dtMs;
    this.swappedBytes = swapped;

    this.residentAnonBytes = need - swapped;
    const cacheRoom = Math.max(0, Math.min(demand.cacheBytes, actual - this.residentAnonBytes));
    // Cache is dropped at once when memory is short, but refills only as files are read.
    this.cacheBytes = Math.min(cacheRoom, this.cacheBytes + CACHE_FILL_BYTES_PER_SECOND * dt);
    // A hot cache it has no room for is read again and again, page by page (major
    // faults); one still filling after boot is a first read, not a re-read.
    const hotMissing = Math.max(0, demand.hotCacheBytes - cacheRoom);
    if (hotMissing > 0) {
      const reread = hotMissing * HOT_REREAD_PER_SECOND * dt;
      this.counters.rereadBytes += reread;
      this.counters.majorFaults += reread / PAGE;
    }
    this.freeBytes = Math.max(0, actual - this.residentAnonBytes - this.cacheBytes);

    const touched = this.residentAnonBytes + this.cacheBytes;
    if (!c.freePageReporting) {
      // Without free page reporting the host keeps every page the guest ever touched.
      this.hostResidentBytes = Math.min(actual, Math.max(this.hostResidentBytes, touched));
    } else if (touched >= this.hostResidentBytes) {
      this.hostResidentBytes = touched;
    } else {
      const back = (this.hostResidentBytes - touched) * Math.min(1, dtMs / FREE_PAGE_REPORTING_MS);
      this.hostResidentBytes = Math.min(actual, this.hostResidentBytes - back);
    }
  }

  /**
   * The guest stops (killed, evicted or finished). `overheadBytes` is its
   * virt-launcher's share; what it held goes back to the node over time (releasedBytes).
   */
  end(reason: GuestEnd, nowMs: number, overheadBytes = 0): void {
    this.ended = { reason, atMs: nowMs };
    this.phase = 'gone';
    this.phaseSinceMs = nowMs;
    this.heldAtEndBytes = this.hostResidentBytes + overheadBytes;
    this.hostResidentBytes = 0;
  }

  /** Memory an ended VM still holds on the node at `nowMs` (0 while it runs or once released). */
  releasingBytes(nowMs: number): number {
    if (!this.ended) return 0;
    return stillHeldBytes(this.heldAtEndBytes, this.ended.reason, this.ended.atMs, nowMs);
  }

  /** A balloon stats report, as the virtio balloon driver gives it. */
  sample(nowMs: number): GuestSample {
    const actual = this.balloon.actualBytes;
    return {
      atMs: nowMs,
      totalBytes: Math.round(actual),
      freeBytes: Math.round(this.freeBytes),
      // MemAvailable leaves out shmem/tmpfs/slab, Cached (disk caches) counts shmem.
      availableBytes: Math.round(this.freeBytes + this.cacheBytes),
      diskCachesBytes: Math.round(this.cacheBytes + Math.min(this.shmemBytes, this.residentAnonBytes)),
      swapInBytes: Math.round(this.counters.swapInBytes),
      swapOutBytes: Math.round(this.counters.swapOutBytes),
      majorFaults: Math.round(this.counters.majorFaults),
      minorFaults: 0,
      balloonActualBytes: Math.round(actual),
    };
  }

  /** Records a stats report (taken now, or one that arrives late), keeping the last `keep`. */
  record(nowMs: number, keep: number, report: GuestSample = this.sample(nowMs)): void {
    this.history.push(report);
    if (this.history.length > keep) this.history.splice(0, this.history.length - keep);
  }

  /**
   * The guest as the policy sees it. `epochMs` is added to simulation times so the
   * phase start is in the same clock as the reports and the policy's `nowMs`.
   */
  state(policyName: string, epochMs = 0): GuestState {
    const c = this.config;
    const state: GuestState = {
      id: this.id,
      namespace: c.namespace,
      name: c.name,
      uid: this.uid,
      guestMemoryBytes: c.memoryBytes,
      guaranteedMemoryBytes: c.guaranteedBytes,
      marginBytes: c.marginBytes,
      priority: c.priority,
      policy: policyName,
      phase: this.phase,
      phaseSinceMs: epochMs + this.phaseSinceMs,
      history: this.history.slice(),
      swapBytes: c.swapBytes,
      autodeflate: c.autodeflate,
    };
    if (this.phase === 'running') state.balloonActualBytes = Math.round(this.balloon.actualBytes);
    if (this.targetBytes !== undefined) state.targetBytes = this.targetBytes;
    return state;
  }
}
