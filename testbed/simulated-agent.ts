/**
 * SimulatedAgent: a kubemom.v1 Agent server on a real unix socket, with a
 * simulated guest behind it instead of QEMU. It stands in for the hook sidecar's
 * agent where a model is the point: the shim's tests, the demo and the
 * 1,000-sidecar scale benchmark. It speaks the real protocol over real gRPC; only
 * the guest is modelled.
 *
 * The simulated guest: it uses `usedBytes`, holds `actualBytes` (the balloon's
 * `actual`), and moves `actual` toward the last target at `balloonRateBytesPerSecond`.
 * Targets are clamped like a careful agent would: never below the guaranteed memory
 * or what the guest uses plus a margin, never above the guest memory.
 */
import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KUBEMOM_VERSION } from '../src/common/version.js';
import {
  AGENT_API_REVISION,
  agentServiceDefinition,
  type WireClampReason,
  type WireDescribeResponse,
  type WirePhase,
  type WireSetTargetRequest,
  type WireSetTargetResponse,
  type WireStatsSample,
} from '../src/shim/agent-wire.js';

const MI = 2 ** 20;

export interface SimulatedAgentOptions {
  /** Where to serve kubemom.v1 (the sidecar's `<hooks dir>/kubemom.sock`). */
  socketPath: string;
  namespace: string;
  name: string;
  /** VMI uid. */
  uid: string;
  /** The pod UID this agent claims in Describe (a lying agent claims another). */
  podUid: string;
  guestMemoryBytes: number;
  guaranteedMemoryBytes: number;
  /** What the simulated guest uses; default a quarter of its memory. */
  usedBytes?: number;
  priority?: number;
  policy?: string;
  /** Stats period; default 1000 ms. */
  statsPeriodMs?: number;
  /** How fast the balloon moves; default 512 MiB/s. */
  balloonRateBytesPerSecond?: number;
  /** Free memory the agent always leaves above use; default 64 MiB. */
  marginBytes?: number;
  /** Page cache the guest holds, bytes (at most what it has available); default -1: min(128 MiB, half of what is available). */
  cacheBytes?: number;
  /** When the VM entered its phase (Unix ms), as the agent reports it; default when constructed. 0 plays an older sidecar. */
  phaseSinceMs?: number;
  /** Report the phase as begun at or before phaseSinceMs (a restarted sidecar); default false. */
  phaseBeganEarlier?: boolean;
  /** Describe.guaranteed_memory_source (annotation, vmi-request, guest-memory); default: not reported. */
  guaranteedMemorySource?: string;
}

/** One SetTarget call as the agent received it. */
export interface ReceivedSetTarget {
  atMs: number;
  targetBytes: number;
  reason: string;
  appliedBytes: number;
  /** The pod bounds the shim sent with the target (0: none). */
  ceilingBytes: number;
  floorBytes: number;
}

/** Misbehaviours a test can switch on, to play a broken sidecar. */
export interface SimulatedFaults {
  /** Describe never answers. */
  hangDescribe: boolean;
  /** SetTarget never answers. */
  hangSetTarget: boolean;
  /** The stats stream stops sending (the connection stays open). */
  muteStats: boolean;
  /** Describe has no VM yet, as before OnDefineDomain. */
  noVmYet: boolean;
}

export class SimulatedAgent extends EventEmitter {
  readonly options: Required<SimulatedAgentOptions>;
  readonly faults: SimulatedFaults = { hangDescribe: false, hangSetTarget: false, muteStats: false, noVmYet: false };
  readonly received: ReceivedSetTarget[] = [];
  private server: grpc.Server | undefined;
  private readonly streams = new Set<grpc.ServerWritableStream<unknown, WireStatsSample>>();
  private ticker: NodeJS.Timeout | undefined;
  private actualBytes: number;
  private targetBytes = 0;
  private lastStepMs = Date.now();
  private phase: WirePhase = 'PHASE_RUNNING';
  private swapInBytes = 0;
  private majorFaults = 0;

  constructor(options: SimulatedAgentOptions) {
    super();
    this.options = {
      usedBytes: Math.floor(options.guestMemoryBytes / 4),
      priority: 50,
      policy: '',
      statsPeriodMs: 1000,
      balloonRateBytesPerSecond: 512 * MI,
      marginBytes: 64 * MI,
      cacheBytes: -1,
      phaseSinceMs: Date.now(),
      phaseBeganEarlier: false,
      // "" plays a sidecar from before guaranteed_memory_source (nothing reported).
      guaranteedMemorySource: '',
      ...options,
    };
    this.actualBytes = options.guestMemoryBytes;
  }

  /** Binds the socket and starts the stats ticker. */
  async start(): Promise<void> {
    mkdirSync(path.dirname(this.options.socketPath), { recursive: true });
    try {
      unlinkSync(this.options.socketPath);
    } catch {
      // No leftover socket.
    }
    const server = new grpc.Server();
    server.addService(agentServiceDefinition(), {
      Describe: (_call: grpc.ServerUnaryCall<unknown, WireDescribeResponse>, callback: grpc.sendUnaryData<WireDescribeResponse>) => {
        if (this.faults.hangDescribe) return; // never answers: the caller's deadline must fire
        callback(null, this.describe());
      },
      WatchStats: (call: grpc.ServerWritableStream<unknown, WireStatsSample>) => {
        this.streams.add(call);
        const drop = (): void => void this.streams.delete(call);
        call.on('cancelled', drop);
        call.on('close', drop);
        call.on('error', drop);
        if (!this.faults.muteStats) call.write(this.sample(Date.now()));
      },
      SetTarget: (call: grpc.ServerUnaryCall<WireSetTargetRequest, WireSetTargetResponse>, callback: grpc.sendUnaryData<WireSetTargetResponse>) => {
        if (this.faults.hangSetTarget) return;
        callback(null, this.setTarget(call.request, Date.now()));
      },
    });
    // The kubelet-style path is longer than the unix socket limit (in the pod the
    // real sidecar sees a short one): bind through a short symlink to the directory.
    const linkDir = mkdtempSync(path.join(os.tmpdir(), 'kmsa-'));
    const link = path.join(linkDir, 'd');
    symlinkSync(path.dirname(this.options.socketPath), link);
    try {
      await new Promise<void>((resolve, reject) =>
        server.bindAsync(`unix://${link}/${path.basename(this.options.socketPath)}`, grpc.ServerCredentials.createInsecure(), (error) =>
          error ? reject(error) : resolve(),
        ),
      );
    } finally {
      rmSync(linkDir, { recursive: true, force: true });
    }
    this.server = server;
    this.lastStepMs = Date.now();
    this.ticker = setInterval(() => this.tick(), this.options.statsPeriodMs);
    this.ticker.unref();
  }

  /** Stops cleanly: ends streams, closes the server, removes the socket. */
  async stop(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    const server = this.server;
    this.server = undefined;
    for (const stream of this.streams) stream.end();
    this.streams.clear();
    if (server) {
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), 500);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    }
    try {
      unlinkSync(this.options.socketPath);
    } catch {
      // Already gone.
    }
  }

  /** The guest's working set, to play load changes. */
  setUsedBytes(bytes: number): void {
    this.options.usedBytes = bytes;
  }

  /** A phase change the agent sees happen now. */
  setPhase(phase: WirePhase): void {
    if (phase === this.phase) return;
    this.phase = phase;
    this.options.phaseSinceMs = Date.now();
    this.options.phaseBeganEarlier = false;
  }

  get actual(): number {
    return this.actualBytes;
  }

  get target(): number {
    return this.targetBytes;
  }

  describe(): WireDescribeResponse {
    const o = this.options;
    return {
      api_revision: AGENT_API_REVISION,
      agent_version: `${KUBEMOM_VERSION}-simulated`,
      features: ['stats-stream', 'set-target'],
      vm: this.faults.noVmYet ? null : { namespace: o.namespace, name: o.name, uid: o.uid, pod_uid: o.podUid },
      guest_memory_bytes: o.guestMemoryBytes,
      guaranteed_memory_bytes: o.guaranteedMemoryBytes,
      priority: o.priority,
      policy: o.policy,
      phase: this.phase,
      stats_period_seconds: Math.max(1, Math.round(o.statsPeriodMs / 1000)),
      memory_margin_bytes: o.marginBytes,
      autodeflate: true,
      phase_since_unix_ms: o.phaseSinceMs,
      phase_began_earlier: o.phaseBeganEarlier,
      ...(o.guaranteedMemorySource !== '' ? { guaranteed_memory_source: o.guaranteedMemorySource } : {}),
    };
  }

  private floorBytes(): number {
    const o = this.options;
    return Math.min(o.guestMemoryBytes, Math.max(o.guaranteedMemoryBytes, o.usedBytes + o.marginBytes));
  }

  private setTarget(request: WireSetTargetRequest, nowMs: number): WireSetTargetResponse {
    this.step(nowMs);
    const o = this.options;
    let applied = request.target_bytes;
    let clamp: WireClampReason = 'CLAMP_NONE';
    let detail = '';
    const floor = this.floorBytes();
    if (applied > o.guestMemoryBytes) {
      applied = o.guestMemoryBytes;
      clamp = 'CLAMP_GUEST_MEMORY';
      detail = `lowered to the guest memory ${o.guestMemoryBytes}`;
    } else if (applied < floor) {
      applied = floor;
      clamp = floor === o.guaranteedMemoryBytes ? 'CLAMP_GUARANTEED' : 'CLAMP_GUEST_NEED';
      detail = `raised to ${floor}`;
    }
    this.targetBytes = applied;
    const received = { atMs: nowMs, targetBytes: request.target_bytes, reason: request.reason, appliedBytes: applied, ceilingBytes: request.ceiling_bytes ?? 0, floorBytes: request.floor_bytes ?? 0 };
    this.received.push(received);
    if (this.received.length > 1000) this.received.shift();
    this.emit('set-target', received);
    return { applied_bytes: applied, clamp, clamp_detail: detail, actual_bytes: this.actualBytes, phase: this.phase, goal_bytes: applied };
  }

  /** Moves the balloon toward the target at the configured rate. */
  private step(nowMs: number): void {
    const elapsed = Math.max(0, nowMs - this.lastStepMs) / 1000;
    this.lastStepMs = nowMs;
    if (this.targetBytes === 0) return;
    const maxMove = this.options.balloonRateBytesPerSecond * elapsed;
    const delta = this.targetBytes - this.actualBytes;
    this.actualBytes += Math.sign(delta) * Math.min(Math.abs(delta), maxMove);
    this.actualBytes = Math.round(this.actualBytes);
    // A guest squeezed below its use swaps: the symptom a policy must react to.
    const deficit = this.options.usedBytes - this.actualBytes;
    if (deficit > 0) {
      this.swapInBytes += Math.round(deficit * elapsed * 0.1);
      this.majorFaults += Math.round((deficit / 4096) * elapsed * 0.1);
    }
  }

  sample(nowMs: number): WireStatsSample {
    const o = this.options;
    const available = Math.max(0, this.actualBytes - o.usedBytes);
    const cache = o.cacheBytes >= 0 ? Math.min(o.cacheBytes, available) : Math.min(128 * MI, available / 2);
    return {
      sampled_at_unix_ms: nowMs,
      phase: this.phase,
      guest: {
        total_bytes: this.actualBytes,
        free_bytes: Math.max(0, Math.round(available - cache)),
        available_bytes: available,
        disk_caches_bytes: Math.round(cache),
        swap_in_bytes: this.swapInBytes,
        swap_out_bytes: 0,
        major_faults: this.majorFaults,
        minor_faults: 0,
        swap_in_bytes_per_second: 0,
        swap_out_bytes_per_second: 0,
        major_faults_per_second: 0,
        minor_faults_per_second: 0,
        last_update_unix_seconds: Math.floor(nowMs / 1000),
      },
      stale: false,
      balloon_actual_bytes: this.actualBytes,
      balloon_target_bytes: this.targetBytes,
      self_protection_reason: '',
      balloon_goal_bytes: this.targetBytes,
      unreachable_reason: '',
      holding: false,
      phase_since_unix_ms: o.phaseSinceMs,
      phase_began_earlier: o.phaseBeganEarlier,
    };
  }

  private tick(): void {
    const now = Date.now();
    this.step(now);
    if (this.faults.muteStats || this.streams.size === 0) return;
    const sample = this.sample(now);
    for (const stream of this.streams) stream.write(sample);
  }
}
