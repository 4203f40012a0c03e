/**
 * SimulatedAgent: a kubemom.v1 Agent server on a real unix socket, with a
 * simulated guest behind it instead of QEMU. It stands in for the hook sidecar's
 * agent where a model is the point: the shim's tests, the demo and the
 * 1,000-sidecar scale benchmark. It speaks the real protocol over real gRPC; only
 * the guest is modelled.
 *
 * The simulated guest: it uses `usedBytes`, holds `actualBytes` (the balloon's
 * `actual`), and moves `actual` toward the last target at `balloonRateBytesPerSecond`.
 * Targets are clamped by the agent's own floor (memoryFloor, src/agent/guard.ts): never
 * below the guaranteed memory or what the guest uses plus a margin, never above the
 * guest memory; the agent's step limits and self-protection are not played.
 */
import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KUBEMOM_VERSION } from '../src/common/version.js';
import {
  agentServiceDefinition,
  API_REVISION,
  decodeTargetRequest,
  encodeDescription,
  encodeSample,
  encodeTargetReply,
  type AgentImplementation,
  type ClampReason,
  type TargetReply,
  type WireDescribeResponse,
  type WireStatsSample,
} from '../src/api/kubemom-v1.js';
import type { Phase } from '../src/policy/types.js';
import { memoryFloor } from '../src/agent/guard.js';

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
  private phase: Phase = 'running';
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
    // No SetIoLimits: grpc-js answers UNIMPLEMENTED, as an agent without the "io-limits" feature would never be asked.
    const implementation: Omit<AgentImplementation, 'SetIoLimits'> = {
      Describe: (_call, callback) => {
        if (this.faults.hangDescribe) return; // never answers: the caller's deadline must fire
        callback(null, this.describe());
      },
      WatchStats: (call) => {
        this.streams.add(call);
        const drop = (): void => void this.streams.delete(call);
        call.on('cancelled', drop);
        call.on('close', drop);
        call.on('error', drop);
        if (!this.faults.muteStats) call.write(this.sample(Date.now()));
      },
      SetTarget: (call, callback) => {
        if (this.faults.hangSetTarget) return;
        const request = decodeTargetRequest(call.request);
        const bounds = { ceilingBytes: Number(request.ceilingBytes ?? 0), floorBytes: Number(request.floorBytes ?? 0) };
        callback(null, encodeTargetReply(this.setTarget(Number(request.targetBytes), request.reason, Date.now(), bounds)));
      },
    };
    server.addService(agentServiceDefinition(), implementation);
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
  setPhase(phase: Phase): void {
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
    const described = encodeDescription({
      apiRevision: API_REVISION,
      agentVersion: `${KUBEMOM_VERSION}-simulated`,
      features: ['stats-stream', 'set-target'],
      vm: { namespace: o.namespace, name: o.name, uid: o.uid, podUid: o.podUid },
      guestMemoryBytes: o.guestMemoryBytes,
      guaranteedMemoryBytes: o.guaranteedMemoryBytes,
      priority: o.priority,
      policy: o.policy,
      phase: this.phase,
      statsPeriodSeconds: Math.max(1, Math.round(o.statsPeriodMs / 1000)),
      memoryMarginBytes: o.marginBytes,
      autodeflate: true,
      disks: [],
      ioThrottle: false,
      vcpus: 0,
      cpuLimitMillicores: 0,
      cpuRequestMillicores: 0,
      phaseSinceMs: o.phaseSinceMs,
      phaseBeganEarlier: o.phaseBeganEarlier,
      unmanaged: undefined,
      guaranteedMemorySource: o.guaranteedMemorySource,
    });
    // Before OnDefineDomain a sidecar knows no VM.
    return this.faults.noVmYet ? { ...described, vm: null } : described;
  }

  /** The agent's own floor rule (src/agent/guard.ts) on what this guest's report would show. */
  private floor(): { bytes: number; reason: 'guaranteed' | 'guest-need' } {
    const o = this.options;
    const available = Math.max(0, this.actualBytes - o.usedBytes);
    return memoryFloor({ guestMemoryBytes: o.guestMemoryBytes, guaranteedBytes: o.guaranteedMemoryBytes, marginBytes: o.marginBytes }, this.actualBytes, available);
  }

  private setTarget(targetBytes: number, reason: string, nowMs: number, bounds: { ceilingBytes: number; floorBytes: number } = { ceilingBytes: 0, floorBytes: 0 }): TargetReply {
    this.step(nowMs);
    const o = this.options;
    let applied = targetBytes;
    let clamp: ClampReason = 'none';
    let detail = '';
    const floor = this.floor();
    if (applied > o.guestMemoryBytes) {
      applied = o.guestMemoryBytes;
      clamp = 'guest-memory';
      detail = `lowered to the guest memory ${o.guestMemoryBytes}`;
    } else if (applied < floor.bytes) {
      applied = floor.bytes;
      clamp = floor.reason;
      detail = `raised to ${floor.bytes}`;
    }
    this.targetBytes = applied;
    const received = { atMs: nowMs, targetBytes, reason, appliedBytes: applied, ceilingBytes: bounds.ceilingBytes, floorBytes: bounds.floorBytes };
    this.received.push(received);
    if (this.received.length > 1000) this.received.shift();
    this.emit('set-target', received);
    return { appliedBytes: applied, clamp, detail, actualBytes: this.actualBytes, phase: this.phase, goalBytes: applied };
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
    return encodeSample({
      sampledAtMs: nowMs,
      phase: this.phase,
      phaseSinceMs: o.phaseSinceMs,
      phaseBeganEarlier: o.phaseBeganEarlier,
      guest: {
        totalBytes: this.actualBytes,
        freeBytes: Math.max(0, Math.round(available - cache)),
        availableBytes: available,
        diskCachesBytes: Math.round(cache),
        swapInBytes: this.swapInBytes,
        swapOutBytes: 0,
        majorFaults: this.majorFaults,
        minorFaults: 0,
        swapInBytesPerSecond: 0,
        swapOutBytesPerSecond: 0,
        majorFaultsPerSecond: 0,
        minorFaultsPerSecond: 0,
        lastUpdateUnixSeconds: Math.floor(nowMs / 1000),
      },
      stale: false,
      balloonActualBytes: this.actualBytes,
      balloonTargetBytes: this.targetBytes,
      balloonGoalBytes: this.targetBytes,
      selfProtectionReason: '',
      unreachableReason: '',
      holding: false,
      unmanaged: undefined,
      migration: undefined,
      memory: undefined,
    });
  }

  private tick(): void {
    const now = Date.now();
    this.step(now);
    if (this.faults.muteStats || this.streams.size === 0) return;
    const sample = this.sample(now);
    for (const stream of this.streams) stream.write(sample);
  }
}
