/**
 * kubemom.v1.Agent served on the sidecar's socket: Describe, WatchStats, SetTarget.
 *
 * The service exists from the sidecar's first moment (every service must be
 * registered before the socket is bound); the VM agent behind it starts when the
 * sidecar learns its VM (OnDefineDomain, or the config saved by an earlier run).
 */
import * as grpc from '@grpc/grpc-js';
import {
  agentServiceDefinition,
  API_REVISION,
  decodeDescribeRequest,
  decodeIoLimitsRequest,
  decodeTargetRequest,
  encodeDescription,
  encodeDisk,
  encodeSample,
  encodeTargetReply,
  FEATURES,
  type AgentImplementation,
  type WireDescribeResponse,
  type WireStatsSample,
} from '../api/kubemom-v1.js';
import type { Parsed } from '../common/errors.js';
import { logger, type Logger } from '../common/log.js';
import { KUBEMOM_VERSION } from '../common/version.js';
import type { VmConfig } from '../hook-sidecar/vm-config.js';
import type { ExtraService } from '../hook-sidecar/server.js';
import { Broadcast } from './broadcast.js';
import type { GuardConfig } from './guard.js';
import { VmAgent, type AgentSample, type VmAgentOptions } from './vm-agent.js';
import type { MigrationBehaviour } from './migration.js';
import { IO_LIMIT_FIELDS, IO_RATE_FIELDS, isUnlimited, type IoLimits } from '../common/io-limits.js';

/** SetIoLimits' `limits`, checked: only the six sustained rates, whole numbers. */
export function policyIoLimits(message: Record<string, unknown> | null | undefined): Parsed<IoLimits> {
  const out: IoLimits = {};
  for (const f of IO_LIMIT_FIELDS) {
    const v = message?.[f] ?? 0;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return { error: `limits.${f}: ${String(v)} is not accepted; use a whole number >= 0` };
    if (v === 0) continue;
    if (!(IO_RATE_FIELDS as readonly string[]).includes(f)) return { error: `limits.${f}: is not accepted from a policy; accepted: ${IO_RATE_FIELDS.join(', ')} (bursts are the owner's, kubemom.io/io-limits.<disk>)` };
    out[f] = v;
  }
  for (const kind of ['bytes', 'iops']) {
    if (out[`total_${kind}_sec` as keyof IoLimits] && (out[`read_${kind}_sec` as keyof IoLimits] || out[`write_${kind}_sec` as keyof IoLimits])) {
      return { error: `limits.total_${kind}_sec: cannot be combined with read_${kind}_sec or write_${kind}_sec` };
    }
  }
  return { value: out };
}

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

/**
 * The kubemom.v1 service and the VM agent behind it. `onVmConfig` and `stop` are
 * the sidecar's hooks; `service` goes into runSidecar's `services`.
 */
export class AgentService {
  readonly broadcast: Broadcast<WireStatsSample>;
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
      onSample: (sample) => this.broadcast.publish(encodeSample(sample)),
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

  describe(): WireDescribeResponse {
    const c = this.config;
    const since = this.agent?.phaseSince();
    return encodeDescription({
      apiRevision: API_REVISION,
      agentVersion: KUBEMOM_VERSION,
      features: [...FEATURES],
      vm: c ? { namespace: c.identity.namespace, name: c.identity.name, uid: c.identity.uid, podUid: this.options.podUid } : { podUid: this.options.podUid },
      // After a memory hotplug: boot + plugged, as QEMU reports it.
      guestMemoryBytes: this.agent?.memory?.guestBytes ?? c?.guestMemoryBytes ?? 0,
      guaranteedMemoryBytes: c?.settings.guaranteedMemoryBytes ?? 0,
      guaranteedMemorySource: c?.settings.guaranteedSource ?? '',
      priority: c?.settings.priority ?? 0,
      policy: c?.settings.policy ?? '',
      phase: since?.phase,
      statsPeriodSeconds: c?.settings.statsPeriodSeconds ?? 0,
      memoryMarginBytes: c?.settings.memoryMarginBytes ?? 0,
      autodeflate: c?.settings.autodeflate ?? false,
      disks: this.agent?.disks ?? [],
      ioThrottle: c?.settings.ioThrottle ?? false,
      vcpus: c?.cpu?.vcpus ?? 0,
      cpuLimitMillicores: c?.cpu?.limitMillicores ?? 0,
      cpuRequestMillicores: c?.cpu?.requestMillicores ?? 0,
      phaseSinceMs: since?.sinceMs ?? 0,
      phaseBeganEarlier: since?.beganEarlier ?? false,
      unmanaged: this.agent?.unmanaged ?? (c?.observeOnlyReason !== undefined ? { kind: 'passthrough', reason: c.observeOnlyReason } : undefined),
    });
  }

  /** The gRPC service for runSidecar's `services`. */
  get service(): ExtraService {
    const definition = agentServiceDefinition();
    const implementation: AgentImplementation = {
      Describe: (call, callback) => {
        this.log.debug(decodeDescribeRequest(call.request), 'Describe');
        callback(null, this.describe());
      },
      WatchStats: (call) => {
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
      SetTarget: (call, callback) => {
        const agent = this.agent;
        const { targetBytes: target, reason, ceilingBytes: ceiling, floorBytes: floor } = decodeTargetRequest(call.request);
        if (!agent) {
          callback({ code: grpc.status.FAILED_PRECONDITION, details: 'the sidecar does not know its VM yet (OnDefineDomain has not run)' });
          return;
        }
        if (typeof target !== 'number' || !Number.isSafeInteger(target) || target <= 0) {
          callback({ code: grpc.status.INVALID_ARGUMENT, details: `target_bytes: ${String(target)} is not accepted; use a positive number of bytes` });
          return;
        }
        for (const [name, value] of [['ceiling_bytes', ceiling], ['floor_bytes', floor]] as const) {
          if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
            callback({ code: grpc.status.INVALID_ARGUMENT, details: `${name}: ${String(value)} is not accepted; use a number of bytes, 0 for none` });
            return;
          }
        }
        const bounds = { ...((ceiling as number) > 0 ? { ceilingBytes: ceiling as number } : {}), ...((floor as number) > 0 ? { floorBytes: floor as number } : {}) };
        agent.setTarget(target, reason.slice(0, MAX_REASON), bounds).then(
          (r) => callback(null, encodeTargetReply(r)),
          (err: unknown) => callback({ code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) }),
        );
      },
      SetIoLimits: (call, callback) => {
        const agent = this.agent;
        const request = decodeIoLimitsRequest(call.request);
        if (!agent || !this.config) {
          callback({ code: grpc.status.FAILED_PRECONDITION, details: 'the sidecar does not know its VM yet (OnDefineDomain has not run)' });
          return;
        }
        const parsed = policyIoLimits(request.limits);
        if ('error' in parsed) {
          callback({ code: grpc.status.INVALID_ARGUMENT, details: parsed.error });
          return;
        }
        const limits = parsed.value;
        // The VM owner decides whether a node policy may slow its disks; lifting is always allowed.
        if (!isUnlimited(limits) && !this.config.settings.ioThrottle) {
          callback({ code: grpc.status.FAILED_PRECONDITION, details: 'this VM did not opt in to node IO throttling (kubemom.io/io-throttle is not "true")' });
          return;
        }
        agent.setIoLimits(limits, request.reason.slice(0, MAX_REASON)).then(
          (disks) => callback(null, { disks: disks.map(encodeDisk) }),
          (err: unknown) => callback({ code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) }),
        );
      },
    };
    return { definition, implementation };
  }
}
