/**
 * kubemom.v1, the contract between a hook sidecar's agent and the node shim (proto/kubemom/v1/agent.proto), in one
 * typed module: the socket name, the API revision and features, every message in its two shapes, and the maps
 * between them.
 *
 * - `Wire*`: a message exactly as @grpc/proto-loader delivers and takes it with the project's options
 *   (src/common/protos.ts: snake_case fields, 64-bit integers as numbers, enums as their names, proto3 defaults).
 * - The view (`Description`, `StatsSample`, `TargetReply`, ...): the same message in camelCase with absent values as
 *   `undefined`, which is what the agent builds and the shim reads.
 *
 * `encode*` turns a view into its wire message (the agent's service, the test bed's simulated agent), `decode*` a
 * wire message into its view (the shim). Only src/api/ spells a snake_case field of kubemom.v1.
 */
import type * as grpc from '@grpc/grpc-js';
import { AGENT_PROTO, MAX_GRPC_MESSAGE_BYTES, serviceClient } from '../common/protos.js';
import { IO_LIMIT_FIELDS, type IoLimits } from '../common/io-limits.js';
import type { Phase } from '../policy/types.js';

/** The socket a sidecar serves KubeVirt's hook API and kubemom.v1 on, in its hook directory. */
export const SOCKET_NAME = 'kubemom.sock';

/** The kubemom.v1 revision this build implements, on both ends. */
export const API_REVISION = 1;

/** Optional capabilities a sidecar lists in Describe; a shim relies on one only when it is listed. */
export const FEATURES = ['stats-stream', 'set-target', 'goal-bytes', 'self-protection', 'io-limits', 'cpu-limits', 'unmanaged', 'migration', 'memory-hotplug', 'pod-bounds'] as const;
export type Feature = (typeof FEATURES)[number];

/** Why the agent changed a requested target (src/agent/guard.ts decides). */
export type ClampReason =
  | 'none'
  | 'guaranteed'
  | 'guest-need'
  | 'guest-memory'
  | 'rate-limit'
  | 'guest-pressure'
  | 'no-fresh-stats'
  | 'not-running'
  | 'observe-only'
  | 'migrating'
  | 'pod-ceiling';

// ---- The wire shapes ----

export type WirePhase = 'PHASE_UNSPECIFIED' | 'PHASE_STARTING' | 'PHASE_RUNNING' | 'PHASE_PAUSED' | 'PHASE_STOPPING' | 'PHASE_GONE' | 'PHASE_MIGRATING';

export type WireClampReason =
  | 'CLAMP_NONE'
  | 'CLAMP_GUARANTEED'
  | 'CLAMP_GUEST_NEED'
  | 'CLAMP_GUEST_MEMORY'
  | 'CLAMP_RATE_LIMIT'
  | 'CLAMP_GUEST_PRESSURE'
  | 'CLAMP_NO_FRESH_STATS'
  | 'CLAMP_NOT_RUNNING'
  | 'CLAMP_OBSERVE_ONLY'
  | 'CLAMP_MIGRATING'
  | 'CLAMP_POD_CEILING';

export interface WireDescribeRequest {
  client_api_revision?: number;
  client_version?: string;
}

export interface WireVmIdentity {
  namespace: string;
  name: string;
  uid: string;
  pod_uid: string;
}

export interface WireDescribeResponse {
  api_revision: number;
  agent_version: string;
  features: string[];
  /** Absent (null) until the sidecar knows its VM; then only pod_uid may be set. */
  vm: Partial<WireVmIdentity> | null;
  guest_memory_bytes: number;
  guaranteed_memory_bytes: number;
  priority: number;
  policy: string;
  phase: WirePhase;
  stats_period_seconds: number;
  /** 0 from sidecars before it was added. */
  memory_margin_bytes: number;
  autodeflate: boolean;
  /** Revision-1 additions: absent from older sidecars (empty, false, 0). */
  disks?: WireDiskIoState[];
  io_throttle?: boolean;
  vcpus?: number;
  cpu_limit_millicores?: number;
  cpu_request_millicores?: number;
  phase_since_unix_ms?: number;
  phase_began_earlier?: boolean;
  unmanaged_kind?: string;
  unmanaged_reason?: string;
  /** annotation, vmi-request or guest-memory; empty or absent from older sidecars. */
  guaranteed_memory_source?: string;
}

/** IoLimits: libvirt's iotune names, 0 unlimited. */
export type WireIoLimits = Record<string, number>;

export interface WireDiskIoState {
  name: string;
  qdev: string;
  owner_limits: WireIoLimits | null;
  applied: WireIoLimits | null;
  error: string;
}

export interface WireSetIoLimitsRequest {
  limits?: WireIoLimits | null;
  reason?: string;
}

export interface WireSetIoLimitsResponse {
  disks: WireDiskIoState[];
}

export interface WireGuestMemoryStats {
  total_bytes: number;
  free_bytes: number;
  available_bytes: number;
  disk_caches_bytes: number;
  swap_in_bytes: number;
  swap_out_bytes: number;
  major_faults: number;
  minor_faults: number;
  swap_in_bytes_per_second: number;
  swap_out_bytes_per_second: number;
  major_faults_per_second: number;
  minor_faults_per_second: number;
  last_update_unix_seconds: number;
}

export interface WireMigrationStats {
  status: string;
  memory_total_bytes: number;
  memory_processed_bytes: number;
  memory_remaining_bytes: number;
  dirty_rate_bytes_per_second: number;
  iteration: number;
  downtime_seconds: number;
}

export interface WireMemoryLayout {
  boot_memory_bytes: number;
  plugged_memory_bytes: number;
  guest_memory_bytes: number;
  virtio_mem: Array<{ id: string; size_bytes: number; requested_size_bytes: number; max_size_bytes: number }>;
}

export interface WireStatsSample {
  sampled_at_unix_ms: number;
  phase: WirePhase;
  guest: WireGuestMemoryStats | null;
  stale: boolean;
  balloon_actual_bytes: number;
  balloon_target_bytes: number;
  self_protection_reason: string;
  balloon_goal_bytes: number;
  unreachable_reason: string;
  holding: boolean;
  /** Absent from older sidecars. */
  phase_since_unix_ms?: number;
  phase_began_earlier?: boolean;
  unmanaged_kind?: string;
  unmanaged_reason?: string;
  migration?: WireMigrationStats | null;
  memory?: WireMemoryLayout | null;
}

export interface WireSetTargetRequest {
  target_bytes: number;
  reason: string;
  /** The pod ceiling, bytes (0: none; absent from older shims). */
  ceiling_bytes?: number;
  /** The node's floor for a VM without a guarantee of its own, bytes (0: none). */
  floor_bytes?: number;
}

export interface WireSetTargetResponse {
  applied_bytes: number;
  clamp: WireClampReason;
  clamp_detail: string;
  actual_bytes: number;
  phase: WirePhase;
  goal_bytes: number;
}

// ---- The views ----

export interface VmIdentity {
  namespace: string;
  name: string;
  /** The VirtualMachineInstance's uid; "" while the sidecar does not know its VM. */
  uid: string;
  /** The virt-launcher pod's UID as the sidecar sees it. */
  podUid: string;
}

/** Why KubeMom does not balloon a VM ("passthrough", "side-monitor-lost"). */
export interface UnmanagedView {
  kind: string;
  reason: string;
}

export interface DiskIo {
  name: string;
  qdev: string;
  ownerLimits: IoLimits;
  applied: IoLimits;
  error: string;
}

/** Describe's answer. */
export interface Description {
  apiRevision: number;
  agentVersion: string;
  features: string[];
  /** Undefined before OnDefineDomain told the sidecar its VM (the pod UID may still be known). */
  vm: VmIdentity | undefined;
  guestMemoryBytes: number;
  guaranteedMemoryBytes: number;
  priority: number;
  policy: string;
  phase: Phase;
  statsPeriodSeconds: number;
  memoryMarginBytes: number;
  autodeflate: boolean;
  disks: DiskIo[];
  ioThrottle: boolean;
  vcpus: number;
  cpuLimitMillicores: number;
  cpuRequestMillicores: number;
  /** When the VM entered `phase`, Unix ms; 0: unknown. */
  phaseSinceMs: number;
  phaseBeganEarlier: boolean;
  unmanaged: UnmanagedView | undefined;
  /**
   * Where guaranteedMemoryBytes comes from: the annotation, the VMI's requests.memory, or neither ("guest-memory":
   * the node's floor stands in). "" from older sidecars (treated as explicit).
   */
  guaranteedMemorySource: string;
}

/** One guest report, in bytes and event counts (cumulative counters since guest boot). */
export interface GuestStats {
  totalBytes: number;
  freeBytes: number;
  availableBytes: number;
  diskCachesBytes: number;
  swapInBytes: number;
  swapOutBytes: number;
  majorFaults: number;
  minorFaults: number;
  /** Rates against the previous report (src/common/counter-rate.ts); 0 for the first one. */
  swapInBytesPerSecond: number;
  swapOutBytesPerSecond: number;
  majorFaultsPerSecond: number;
  minorFaultsPerSecond: number;
  /** When QEMU received this report from the guest, Unix seconds. */
  lastUpdateUnixSeconds: number;
}

/** The numbers of the current (or last) migration; all zero before the first. */
export interface MigrationView {
  /** qapi MigrationStatus, "none" before any migration. */
  status: string;
  /** RAM to migrate (`ram.total`), bytes. */
  memoryTotalBytes: number;
  /** RAM sent so far (`ram.transferred`), bytes. */
  memoryProcessedBytes: number;
  /** RAM left to send (`ram.remaining`), bytes. */
  memoryRemainingBytes: number;
  /** How fast the guest dirties RAM (`ram.dirty-pages-rate` x `ram.page-size`), bytes per second. */
  dirtyRateBytesPerSecond: number;
  /** Dirty-bitmap synchronisations so far (`ram.dirty-sync-count`): the pre-copy iteration. */
  iteration: number;
  /** The switch-over downtime: measured (`downtime`) once completed, else QEMU's estimate (`expected-downtime`), seconds. */
  downtimeSeconds: number;
}

export interface MemoryView {
  bootBytes: number;
  pluggedBytes: number;
  guestBytes: number;
  virtioMem: Array<{ id: string; sizeBytes: number; requestedSizeBytes: number; maxSizeBytes: number }>;
}

/** One WatchStats sample. */
export interface StatsSample {
  sampledAtMs: number;
  phase: Phase;
  /** When the VM entered `phase` (Unix ms), as the agent saw it; 0: unknown (older sidecars). */
  phaseSinceMs: number;
  /** The VM was already in `phase` when the agent first looked: it entered it at or before phaseSinceMs. */
  phaseBeganEarlier: boolean;
  guest: GuestStats | undefined;
  stale: boolean;
  balloonActualBytes: number | undefined;
  balloonTargetBytes: number | undefined;
  balloonGoalBytes: number | undefined;
  selfProtectionReason: string;
  unreachableReason: string;
  holding: boolean;
  /** Why KubeMom does not balloon this VM (passthrough devices, lost side monitor); undefined when it does. */
  unmanaged: UnmanagedView | undefined;
  /** The current or last migration's numbers (zero before the first); undefined when migration metrics are off. */
  migration: MigrationView | undefined;
  /** Boot, plugged and virtio-mem memory as QEMU reports it; undefined before QEMU answered. */
  memory: MemoryView | undefined;
}

/** SetTarget's answer. */
export interface TargetReply {
  appliedBytes: number;
  goalBytes: number;
  clamp: ClampReason;
  detail: string;
  actualBytes: number | undefined;
  phase: Phase;
}

// ---- Enum maps, both ways ----

export const PHASE_TO_WIRE: Readonly<Record<Phase, WirePhase>> = {
  starting: 'PHASE_STARTING',
  running: 'PHASE_RUNNING',
  paused: 'PHASE_PAUSED',
  stopping: 'PHASE_STOPPING',
  gone: 'PHASE_GONE',
  migrating: 'PHASE_MIGRATING',
};

/** UNSPECIFIED (a sidecar that has not looked at QEMU yet) reads as starting. */
export const PHASE_FROM_WIRE: Readonly<Record<WirePhase, Phase>> = {
  PHASE_UNSPECIFIED: 'starting',
  PHASE_STARTING: 'starting',
  PHASE_RUNNING: 'running',
  PHASE_PAUSED: 'paused',
  PHASE_STOPPING: 'stopping',
  PHASE_GONE: 'gone',
  PHASE_MIGRATING: 'migrating',
};

export const CLAMP_TO_WIRE: Readonly<Record<ClampReason, WireClampReason>> = {
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

export const CLAMP_FROM_WIRE: Readonly<Record<WireClampReason, ClampReason>> = Object.fromEntries(
  Object.entries(CLAMP_TO_WIRE).map(([reason, wire]) => [wire, reason]),
) as Record<WireClampReason, ClampReason>;

// ---- Encoding (agent side) ----

/** The IoLimits message: every field present, 0 unlimited. */
export function encodeIoLimits(limits: IoLimits): WireIoLimits {
  return Object.fromEntries(IO_LIMIT_FIELDS.map((f) => [f, limits[f] ?? 0]));
}

export function encodeDisk(d: DiskIo): WireDiskIoState {
  return { name: d.name, qdev: d.qdev, owner_limits: encodeIoLimits(d.ownerLimits), applied: encodeIoLimits(d.applied), error: d.error };
}

/** What the agent knows for Describe: before OnDefineDomain only its pod UID, and no phase before it looked at QEMU. */
export type DescriptionInput = Omit<Description, 'vm' | 'phase'> & { vm: VmIdentity | { podUid: string }; phase: Phase | undefined };

export function encodeDescription(d: DescriptionInput): WireDescribeResponse {
  const vm = d.vm;
  return {
    api_revision: d.apiRevision,
    agent_version: d.agentVersion,
    features: [...d.features],
    vm: 'uid' in vm ? { namespace: vm.namespace, name: vm.name, uid: vm.uid, pod_uid: vm.podUid } : { pod_uid: vm.podUid },
    guest_memory_bytes: d.guestMemoryBytes,
    guaranteed_memory_bytes: d.guaranteedMemoryBytes,
    priority: d.priority,
    policy: d.policy,
    phase: d.phase === undefined ? 'PHASE_UNSPECIFIED' : PHASE_TO_WIRE[d.phase],
    stats_period_seconds: d.statsPeriodSeconds,
    memory_margin_bytes: d.memoryMarginBytes,
    autodeflate: d.autodeflate,
    disks: d.disks.map(encodeDisk),
    io_throttle: d.ioThrottle,
    vcpus: d.vcpus,
    cpu_limit_millicores: d.cpuLimitMillicores,
    cpu_request_millicores: d.cpuRequestMillicores,
    phase_since_unix_ms: d.phaseSinceMs,
    phase_began_earlier: d.phaseBeganEarlier,
    ...encodeUnmanaged(d.unmanaged),
    guaranteed_memory_source: d.guaranteedMemorySource,
  };
}

function encodeUnmanaged(u: UnmanagedView | undefined): { unmanaged_kind: string; unmanaged_reason: string } {
  return { unmanaged_kind: u?.kind ?? '', unmanaged_reason: u?.reason ?? '' };
}

export function encodeSample(s: StatsSample): WireStatsSample {
  const g = s.guest;
  const m = s.migration;
  return {
    sampled_at_unix_ms: s.sampledAtMs,
    phase: PHASE_TO_WIRE[s.phase],
    phase_since_unix_ms: s.phaseSinceMs,
    phase_began_earlier: s.phaseBeganEarlier,
    guest: g
      ? {
          total_bytes: g.totalBytes,
          free_bytes: g.freeBytes,
          available_bytes: g.availableBytes,
          disk_caches_bytes: g.diskCachesBytes,
          swap_in_bytes: g.swapInBytes,
          swap_out_bytes: g.swapOutBytes,
          major_faults: g.majorFaults,
          minor_faults: g.minorFaults,
          swap_in_bytes_per_second: g.swapInBytesPerSecond,
          swap_out_bytes_per_second: g.swapOutBytesPerSecond,
          major_faults_per_second: g.majorFaultsPerSecond,
          minor_faults_per_second: g.minorFaultsPerSecond,
          last_update_unix_seconds: g.lastUpdateUnixSeconds,
        }
      : null,
    stale: s.stale,
    balloon_actual_bytes: s.balloonActualBytes ?? 0,
    balloon_target_bytes: s.balloonTargetBytes ?? 0,
    balloon_goal_bytes: s.balloonGoalBytes ?? 0,
    self_protection_reason: s.selfProtectionReason,
    unreachable_reason: s.unreachableReason,
    holding: s.holding,
    ...encodeUnmanaged(s.unmanaged),
    migration: m
      ? {
          status: m.status,
          memory_total_bytes: m.memoryTotalBytes,
          memory_processed_bytes: m.memoryProcessedBytes,
          memory_remaining_bytes: m.memoryRemainingBytes,
          dirty_rate_bytes_per_second: m.dirtyRateBytesPerSecond,
          iteration: m.iteration,
          downtime_seconds: m.downtimeSeconds,
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

export function encodeTargetReply(r: TargetReply): WireSetTargetResponse {
  return {
    applied_bytes: r.appliedBytes,
    goal_bytes: r.goalBytes,
    clamp: CLAMP_TO_WIRE[r.clamp],
    clamp_detail: r.detail,
    actual_bytes: r.actualBytes ?? 0,
    phase: PHASE_TO_WIRE[r.phase],
  };
}

// ---- Decoding (shim side) ----

/** The non-zero fields of an IoLimits message. */
export function decodeIoLimits(limits: WireIoLimits | null | undefined): IoLimits {
  return Object.fromEntries(Object.entries(limits ?? {}).filter(([, v]) => typeof v === 'number' && v > 0)) as IoLimits;
}

export function decodeDisk(d: WireDiskIoState): DiskIo {
  return { name: d.name, qdev: d.qdev, ownerLimits: decodeIoLimits(d.owner_limits), applied: decodeIoLimits(d.applied), error: d.error };
}

function decodeUnmanaged(kind: string | undefined, reason: string | undefined): UnmanagedView | undefined {
  return kind ? { kind, reason: reason ?? '' } : undefined;
}

export function decodeDescription(w: WireDescribeResponse): Description {
  const vm = w.vm;
  return {
    apiRevision: w.api_revision,
    agentVersion: w.agent_version,
    features: w.features ?? [],
    vm: vm ? { namespace: vm.namespace ?? '', name: vm.name ?? '', uid: vm.uid ?? '', podUid: vm.pod_uid ?? '' } : undefined,
    guestMemoryBytes: w.guest_memory_bytes,
    guaranteedMemoryBytes: w.guaranteed_memory_bytes,
    priority: w.priority,
    policy: w.policy,
    phase: PHASE_FROM_WIRE[w.phase] ?? 'starting',
    statsPeriodSeconds: w.stats_period_seconds,
    memoryMarginBytes: w.memory_margin_bytes ?? 0,
    autodeflate: w.autodeflate,
    disks: (w.disks ?? []).map(decodeDisk),
    ioThrottle: w.io_throttle === true,
    vcpus: w.vcpus ?? 0,
    cpuLimitMillicores: w.cpu_limit_millicores ?? 0,
    cpuRequestMillicores: w.cpu_request_millicores ?? 0,
    phaseSinceMs: w.phase_since_unix_ms ?? 0,
    phaseBeganEarlier: w.phase_began_earlier === true,
    unmanaged: decodeUnmanaged(w.unmanaged_kind, w.unmanaged_reason),
    guaranteedMemorySource: w.guaranteed_memory_source ?? '',
  };
}

/** A positive byte count, else undefined (proto3's 0 is "not set"). */
const positive = (v: number | undefined): number | undefined => (v !== undefined && v > 0 ? v : undefined);

export function decodeSample(w: WireStatsSample): StatsSample {
  const g = w.guest;
  const m = w.migration;
  return {
    sampledAtMs: w.sampled_at_unix_ms,
    phase: PHASE_FROM_WIRE[w.phase] ?? 'starting',
    phaseSinceMs: w.phase_since_unix_ms ?? 0,
    phaseBeganEarlier: w.phase_began_earlier === true,
    guest: g
      ? {
          totalBytes: g.total_bytes,
          freeBytes: g.free_bytes,
          availableBytes: g.available_bytes,
          diskCachesBytes: g.disk_caches_bytes,
          swapInBytes: g.swap_in_bytes,
          swapOutBytes: g.swap_out_bytes,
          majorFaults: g.major_faults,
          minorFaults: g.minor_faults,
          swapInBytesPerSecond: g.swap_in_bytes_per_second,
          swapOutBytesPerSecond: g.swap_out_bytes_per_second,
          majorFaultsPerSecond: g.major_faults_per_second,
          minorFaultsPerSecond: g.minor_faults_per_second,
          lastUpdateUnixSeconds: g.last_update_unix_seconds,
        }
      : undefined,
    stale: w.stale,
    balloonActualBytes: positive(w.balloon_actual_bytes),
    balloonTargetBytes: positive(w.balloon_target_bytes),
    balloonGoalBytes: positive(w.balloon_goal_bytes),
    selfProtectionReason: w.self_protection_reason,
    unreachableReason: w.unreachable_reason,
    holding: w.holding,
    unmanaged: decodeUnmanaged(w.unmanaged_kind, w.unmanaged_reason),
    migration: m
      ? {
          status: m.status,
          memoryTotalBytes: m.memory_total_bytes,
          memoryProcessedBytes: m.memory_processed_bytes,
          memoryRemainingBytes: m.memory_remaining_bytes,
          dirtyRateBytesPerSecond: m.dirty_rate_bytes_per_second,
          iteration: m.iteration,
          downtimeSeconds: m.downtime_seconds,
        }
      : undefined,
    memory: w.memory
      ? {
          bootBytes: w.memory.boot_memory_bytes,
          pluggedBytes: w.memory.plugged_memory_bytes,
          guestBytes: w.memory.guest_memory_bytes,
          virtioMem: (w.memory.virtio_mem ?? []).map((v) => ({ id: v.id, sizeBytes: v.size_bytes, requestedSizeBytes: v.requested_size_bytes, maxSizeBytes: v.max_size_bytes })),
        }
      : undefined,
  };
}

export function decodeTargetReply(w: WireSetTargetResponse): TargetReply {
  return {
    appliedBytes: w.applied_bytes,
    goalBytes: w.goal_bytes,
    clamp: CLAMP_FROM_WIRE[w.clamp] ?? 'none',
    detail: w.clamp_detail,
    actualBytes: positive(w.actual_bytes),
    phase: PHASE_FROM_WIRE[w.phase] ?? 'starting',
  };
}

// ---- gRPC plumbing ----

/** The kubemom.v1.Agent service definition, for servers. */
export function agentServiceDefinition(): grpc.ServiceDefinition {
  return serviceClient(AGENT_PROTO.file, AGENT_PROTO.service).service;
}

/** A typed kubemom.v1.Agent server implementation. */
export type AgentImplementation = {
  Describe: grpc.handleUnaryCall<WireDescribeRequest, WireDescribeResponse>;
  WatchStats: grpc.handleServerStreamingCall<Record<string, never>, WireStatsSample>;
  SetTarget: grpc.handleUnaryCall<WireSetTargetRequest, WireSetTargetResponse>;
  SetIoLimits: grpc.handleUnaryCall<WireSetIoLimitsRequest, WireSetIoLimitsResponse>;
};

/** Channel options for one sidecar connection. */
export const AGENT_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': MAX_GRPC_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_GRPC_MESSAGE_BYTES,
  // Reconnect quickly after a sidecar restart; the session layer adds its own back-off.
  'grpc.initial_reconnect_backoff_ms': 200,
  'grpc.max_reconnect_backoff_ms': 5000,
  // Unix sockets: the authority is meaningless, keep it fixed and short.
  'grpc.default_authority': 'localhost',
  // SetTarget is not retried by grpc-js (the loop decides again next cycle); skipping the retry layer makes calls cheaper.
  'grpc.enable_retries': 0,
};

/** SetTarget's request as the agent reads it (the bounds unchecked: the agent checks them). */
export function decodeTargetRequest(w: Partial<WireSetTargetRequest>): { targetBytes: unknown; reason: string; ceilingBytes: unknown; floorBytes: unknown } {
  return { targetBytes: w.target_bytes, reason: String(w.reason ?? ''), ceilingBytes: w.ceiling_bytes ?? 0, floorBytes: w.floor_bytes ?? 0 };
}

/** A SetTarget request; the pod bounds travel with it (0: none). */
export function encodeTargetRequest(targetBytes: number, reason: string, bounds: { ceilingBytes?: number | undefined; floorBytes?: number | undefined } = {}): WireSetTargetRequest {
  return {
    target_bytes: targetBytes,
    reason,
    ceiling_bytes: Math.max(0, Math.floor(bounds.ceilingBytes ?? 0)),
    floor_bytes: Math.max(0, Math.ceil(bounds.floorBytes ?? 0)),
  };
}

/** SetIoLimits' request as the agent reads it: the limits are checked by the agent (libvirt's iotune names). */
export function decodeIoLimitsRequest(w: Partial<WireSetIoLimitsRequest>): { limits: Record<string, unknown> | null | undefined; reason: string } {
  return { limits: w.limits, reason: String(w.reason ?? '') };
}

export function encodeDescribeRequest(clientVersion: string): WireDescribeRequest {
  return { client_api_revision: API_REVISION, client_version: clientVersion };
}

export function decodeDescribeRequest(w: WireDescribeRequest): { clientRevision: number | undefined; clientVersion: string | undefined } {
  return { clientRevision: w.client_api_revision, clientVersion: w.client_version };
}
