/**
 * kubemom.v1.Agent served on the sidecar's socket: Describe, WatchStats, SetTarget.
 *
 * The service exists from the sidecar's first moment (every service must be
 * registered before the socket is bound); the VM agent behind it starts when the
 * sidecar learns its VM (OnDefineDomain, or the config saved by an earlier run).
 */
import * as grpc from '@grpc/grpc-js';
import { logger, type Logger } from '../common/log.js';
import { AGENT_PROTO, serviceClient } from '../common/protos.js';
import { KUBEMOM_VERSION } from '../common/version.js';
import type { VmConfig } from '../hook-sidecar/vm-config.js';
import type { ExtraService } from '../hook-sidecar/server.js';
import { Broadcast } from './broadcast.js';
import type { ClampReason, GuardConfig } from './guard.js';
import { PHASE_ENUM } from './lifecycle.js';
import { VmAgent, type AgentSample, type VmAgentOptions } from './vm-agent.js';
import type { DiskIoState } from './io-tune.js';
import type { Unmanaged } from './unmanaged.js';
import type { MigrationBehaviour } from './migration.js';
import { IO_LIMIT_FIELDS, IO_RATE_FIELDS, isUnlimited, type IoLimits } from '../common/io-limits.js';

/** The IoLimits message (every field present, 0 unlimited). */
export function ioLimitsMessage(limits: IoLimits): Record<string, number> {
  return Object.fromEntries(IO_LIMIT_FIELDS.map((f) => [f, limits[f] ?? 0]));
}

/** The DiskIoState message. */
export function diskIoMessage(d: DiskIoState): Record<string, unknown> {
  return { name: d.name, qdev: d.qdev, owner_limits: ioLimitsMessage(d.ownerLimits), applied: ioLimitsMessage(d.applied), error: d.error };
}

/** SetIoLimits' `limits`, checked: only the six sustained rates, whole numbers. */
export function policyIoLimits(message: Record<string, unknown> | null | undefined): IoLimits | string {
  const out: IoLimits = {};
  for (const f of IO_LIMIT_FIELDS) {
    const v = message?.[f] ?? 0;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return `limits.${f}: ${String(v)} is not accepted; use a whole number >= 0`;
    if (v === 0) continue;
    if (!(IO_RATE_FIELDS as readonly string[]).includes(f)) return `limits.${f}: is not accepted from a policy; accepted: ${IO_RATE_FIELDS.join(', ')} (bursts are the owner's, kubemom.io/io-limits.<disk>)`;
    out[f] = v;
  }
  for (const kind of ['bytes', 'iops']) {
    if (out[`total_${kind}_sec` as keyof IoLimits] && (out[`read_${kind}_sec` as keyof IoLimits] || out[`write_${kind}_sec` as keyof IoLimits])) {
      return `limits.total_${kind}_sec: cannot be combined with read_${kind}_sec or write_${kind}_sec`;
    }
  }
  return out;
}

/** Describe's and StatsSample's unmanaged fields (empty strings when KubeMom manages the VM). */
function unmanagedFields(u: Unmanaged | undefined): { unmanaged_kind: string; unmanaged_reason: string } {
  return { unmanaged_kind: u?.kind ?? '', unmanaged_reason: u?.reason ?? '' };
}

/** The kubemom.v1 revision this sidecar implements. */
export const API_REVISION = 1;
/** Optional capabilities a shim may rely on when listed. */
export const FEATURES = ['stats-stream', 'set-target', 'goal-bytes', 'self-protection', 'io-limits', 'cpu-limits', 'unmanaged', 'migration', 'memory-hotplug', 'pod-bounds'] as const;

const CLAMP_ENUM: Record<ClampReason, string> = {
  none: 'CLAMP_NONE',
  guaranteed: 'CLAMP_GUARANTEED',
  'guest-need': 'CLAMP_GUEST_NEED',
  'guest-memory': 'CLAMP_GUEST_MEMORY',
  'rate-limit': 'CLAMP_RATE_LIMIT',
  'guest-pressure': 'CLAMP_GUEST_PRESSURE',
  'no-fresh-stats': 'CLAMP_NO_FRESH_STATS',
  'not-running': 'CLAMP_NOT_RUNNING',
  'observe-only': 'CLAMP_OBSERVE_ONLY',
  migrating: 'CLAMP_MIGRATING',
  'pod-ceiling': 'CLAMP_POD_CEILING',
};

/** Longest SetTarget reason kept (it goes to logs). */
const MAX_REASON = 256;

export interface AgentServiceOptions {
  podUid: string;
  /** Samples a slow WatchStats stream may have waiting before it is dropped. */
  maxQueuedSamples?: number;
  /** Overrides of the guard's defaults. */
  guard?: Partial<GuardConfig>;
  /** What the agent does about live migration (sidecar flags; each on by default). */
  migration?: Partial<MigrationBehaviour>;
  /** Overrides of the VM agent's timings (tests, benchmarks). */
  timings?: Pick<VmAgentOptions, 'followIntervalMs' | 'commandTimeoutMs' | 'greetingTimeoutMs' | 'sideMonitorGraceMs'>;
  log?: Logger;
}

/** The StatsSample message for a sample. */
export function sampleMessage(s: AgentSample): Record<string, unknown> {
  return {
    sampled_at_unix_ms: s.sampledAtMs,
    phase: PHASE_ENUM[s.phase],
    phase_since_unix_ms: s.phaseSinceMs,
    phase_began_earlier: s.phaseBeganEarlier,
    guest: s.guest
      ? {
          total_bytes: s.guest.totalBytes,
          free_bytes: s.guest.freeBytes,
          available_bytes: s.guest.availableBytes,
          disk_caches_bytes: s.guest.diskCachesBytes,
          swap_in_bytes: s.guest.swapInBytes,
          swap_out_bytes: s.guest.swapOutBytes,
          major_faults: s.guest.majorFaults,
          minor_faults: s.guest.minorFaults,
          swap_in_bytes_per_second: s.guest.swapInBytesPerSecond,
          swap_out_bytes_per_second: s.guest.swapOutBytesPerSecond,
          major_faults_per_second: s.guest.majorFaultsPerSecond,
          minor_faults_per_second: s.guest.minorFaultsPerSecond,
          last_update_unix_seconds: s.guest.lastUpdateUnixSeconds,
        }
      : null,
    stale: s.stale,
    balloon_actual_bytes: s.balloonActualBytes ?? 0,
    balloon_target_bytes: s.balloonTargetBytes ?? 0,
    balloon_goal_bytes: s.balloonGoalBytes ?? 0,
    self_protection_reason: s.selfProtectionReason,
    unreachable_reason: s.unreachableReason,
    holding: s.holding,
    ...unmanagedFields(s.unmanaged),
    migration: s.migration
      ? {
          status: s.migration.status,
          memory_total_bytes: s.migration.memoryTotalBytes,
          memory_processed_bytes: s.migration.memoryProcessedBytes,
          memory_remaining_bytes: s.migration.memoryRemainingBytes,
          dirty_rate_bytes_per_second: s.migration.dirtyRateBytesPerSecond,
          iteration: s.migration.iteration,
          downtime_seconds: s.migration.downtimeSeconds,
        }
      : null,
    memory: s.memory
      ? {
          boot_memory_bytes: s.memory.bootBytes,
          plugged_memory_bytes: s.memory.pluggedBytes,
          guest_memory_bytes: s.memory.guestBytes,
          virtio_mem: s.memory.virtioMem.map((v) => ({ id: v.id, size_bytes: v.sizeBytes, requested_size_bytes: v.requestedSizeBytes, max_size_bytes: v.maxSizeBytes })),
        }
      : null,
  };
}

/**
 * The kubemom.v1 service and the VM agent behind it. `onVmConfig` and `stop` are
 * the sidecar's hooks; `service` goes into runSidecar's `services`.
 */
export class AgentService {
  readonly broadcast: Broadcast<Record<string, unknown>>;
  private agent: VmAgent | undefined;
  private config: VmConfig | undefined;
  private readonly log: Logger;

  constructor(private readonly options: AgentServiceOptions) {
    this.broadcast = new Broadcast(options.maxQueuedSamples ?? 16);
    this.log = options.log ?? logger('agent');
  }

  /** The running VM agent, once the VM is known. */
  get vmAgent(): VmAgent | undefined {
    return this.agent;
  }

  /** Starts (or restarts, for another VM or QMP socket) the agent for this VM. */
  onVmConfig(config: VmConfig): void {
    const same =
      this.config &&
      this.config.identity.uid === config.identity.uid &&
      this.config.qmpSocketPath === config.qmpSocketPath &&
      JSON.stringify(this.config.settings) === JSON.stringify(config.settings) &&
      this.config.guestMemoryBytes === config.guestMemoryBytes &&
      this.config.observeOnlyReason === config.observeOnlyReason;
    this.config = config;
    if (same && this.agent) return;
    const previous = this.agent;
    this.agent = new VmAgent({
      qmpSocketPath: config.qmpSocketPath,
      guestMemoryBytes: config.guestMemoryBytes,
      guaranteedBytes: config.settings.guaranteedMemoryBytes,
      ...(config.settings.guaranteedSource === 'guest-memory' ? { acceptsNodeFloor: true } : {}),
      marginBytes: config.settings.memoryMarginBytes,
      statsPeriodSeconds: config.settings.statsPeriodSeconds,
      disks: config.disks ?? [],
      ioLimits: config.settings.ioLimits ?? {},
      ...(config.observeOnlyReason !== undefined ? { observeOnlyReason: config.observeOnlyReason } : {}),
      // Converted once, then fanned out to every stream.
      onSample: (sample) => this.broadcast.publish(sampleMessage(sample)),
      log: this.log,
      ...(this.options.guard ? { guard: this.options.guard } : {}),
      ...(this.options.migration ? { migration: this.options.migration } : {}),
      ...this.options.timings,
    });
    void previous?.stop();
    this.agent.start();
    this.log.info({ vmi: `${config.identity.namespace}/${config.identity.name}`, qmp: config.qmpSocketPath }, 'agent started');
  }

  /** Stops the agent and ends every stream. */
  async stop(): Promise<void> {
    this.broadcast.clear();
    await this.agent?.stop();
  }

  describe(): Record<string, unknown> {
    const c = this.config;
    const since = this.agent?.phaseSince();
    return {
      api_revision: API_REVISION,
      agent_version: KUBEMOM_VERSION,
      features: [...FEATURES],
      vm: c ? { namespace: c.identity.namespace, name: c.identity.name, uid: c.identity.uid, pod_uid: this.options.podUid } : { pod_uid: this.options.podUid },
      // After a memory hotplug: boot + plugged, as QEMU reports it.
      guest_memory_bytes: this.agent?.memory?.guestBytes ?? c?.guestMemoryBytes ?? 0,
      guaranteed_memory_bytes: c?.settings.guaranteedMemoryBytes ?? 0,
      guaranteed_memory_source: c?.settings.guaranteedSource ?? '',
      priority: c?.settings.priority ?? 0,
      policy: c?.settings.policy ?? '',
      phase: since ? PHASE_ENUM[since.phase] : 'PHASE_UNSPECIFIED',
      stats_period_seconds: c?.settings.statsPeriodSeconds ?? 0,
      memory_margin_bytes: c?.settings.memoryMarginBytes ?? 0,
      autodeflate: c?.settings.autodeflate ?? false,
      disks: (this.agent?.disks ?? []).map(diskIoMessage),
      io_throttle: c?.settings.ioThrottle ?? false,
      vcpus: c?.cpu?.vcpus ?? 0,
      cpu_limit_millicores: c?.cpu?.limitMillicores ?? 0,
      cpu_request_millicores: c?.cpu?.requestMillicores ?? 0,
      phase_since_unix_ms: since?.sinceMs ?? 0,
      phase_began_earlier: since?.beganEarlier ?? false,
      ...unmanagedFields(this.agent?.unmanaged ?? (c?.observeOnlyReason !== undefined ? { kind: 'passthrough', reason: c.observeOnlyReason } : undefined)),
    };
  }

  /** The gRPC service for runSidecar's `services`. */
  get service(): ExtraService {
    const definition = serviceClient(AGENT_PROTO.file, AGENT_PROTO.service).service;
    const implementation: grpc.UntypedServiceImplementation = {
      Describe: (call: grpc.ServerUnaryCall<{ client_api_revision?: number; client_version?: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        this.log.debug({ clientRevision: call.request.client_api_revision, clientVersion: call.request.client_version }, 'Describe');
        callback(null, this.describe());
      },
      WatchStats: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        const sub = this.broadcast.subscribe(call, (queued) => {
          this.log.warn({ queued }, 'WatchStats consumer too slow; stream dropped');
          // Ends the call with this status once what the transport already holds (a
          // bounded amount) is read; nothing more is queued for it.
          call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: `stream dropped: the consumer fell ${queued} samples behind` });
        });
        const end = (): void => sub.close();
        call.on('cancelled', end);
        call.on('close', end);
        call.on('error', end);
      },
      SetTarget: (call: grpc.ServerUnaryCall<{ target_bytes: number; reason: string; ceiling_bytes?: number; floor_bytes?: number }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const agent = this.agent;
        const { target_bytes: target, reason, ceiling_bytes: ceiling = 0, floor_bytes: floor = 0 } = call.request;
        if (!agent) {
          callback({ code: grpc.status.FAILED_PRECONDITION, details: 'the sidecar does not know its VM yet (OnDefineDomain has not run)' });
          return;
        }
        if (!Number.isSafeInteger(target) || target <= 0) {
          callback({ code: grpc.status.INVALID_ARGUMENT, details: `target_bytes: ${target} is not accepted; use a positive number of bytes` });
          return;
        }
        for (const [name, value] of [['ceiling_bytes', ceiling], ['floor_bytes', floor]] as const) {
          if (!Number.isSafeInteger(value) || value < 0) {
            callback({ code: grpc.status.INVALID_ARGUMENT, details: `${name}: ${value} is not accepted; use a number of bytes, 0 for none` });
            return;
          }
        }
        const bounds = { ...(ceiling > 0 ? { ceilingBytes: ceiling } : {}), ...(floor > 0 ? { floorBytes: floor } : {}) };
        agent.setTarget(target, String(reason ?? '').slice(0, MAX_REASON), bounds).then(
          (r) =>
            callback(null, {
              applied_bytes: r.appliedBytes,
              goal_bytes: r.goalBytes,
              clamp: CLAMP_ENUM[r.clamp],
              clamp_detail: r.detail,
              actual_bytes: r.actualBytes ?? 0,
              phase: PHASE_ENUM[r.phase],
            }),
          (err: unknown) => callback({ code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) }),
        );
      },
      SetIoLimits: (call: grpc.ServerUnaryCall<{ limits: Record<string, unknown> | null; reason: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const agent = this.agent;
        if (!agent || !this.config) {
          callback({ code: grpc.status.FAILED_PRECONDITION, details: 'the sidecar does not know its VM yet (OnDefineDomain has not run)' });
          return;
        }
        const limits = policyIoLimits(call.request.limits);
        if (typeof limits === 'string') {
          callback({ code: grpc.status.INVALID_ARGUMENT, details: limits });
          return;
        }
        // The VM owner decides whether a node policy may slow its disks; lifting is always allowed.
        if (!isUnlimited(limits) && !this.config.settings.ioThrottle) {
          callback({ code: grpc.status.FAILED_PRECONDITION, details: 'this VM did not opt in to node IO throttling (kubemom.io/io-throttle is not "true")' });
          return;
        }
        agent.setIoLimits(limits, String(call.request.reason ?? '').slice(0, MAX_REASON)).then(
          (disks) => callback(null, { disks: disks.map(diskIoMessage) }),
          (err: unknown) => callback({ code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) }),
        );
      },
    };
    return { definition, implementation };
  }
}
