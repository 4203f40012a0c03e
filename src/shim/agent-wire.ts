/**
 * kubemom.v1 messages as @grpc/proto-loader delivers them with the project's
 * options (snake_case fields, 64-bit integers as numbers, enums as names,
 * proto3 defaults filled in). Shared by the shim (client) and the simulated agent.
 */
import * as grpc from '@grpc/grpc-js';
import { AGENT_PROTO, MAX_GRPC_MESSAGE_BYTES, serviceClient } from '../common/protos.js';

export type WirePhase =
  | 'PHASE_UNSPECIFIED'
  | 'PHASE_STARTING'
  | 'PHASE_RUNNING'
  | 'PHASE_PAUSED'
  | 'PHASE_STOPPING'
  | 'PHASE_GONE'
  | 'PHASE_MIGRATING';

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
  client_api_revision: number;
  client_version: string;
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
  /** Absent (null) until the sidecar knows its VM. */
  vm: WireVmIdentity | null;
  guest_memory_bytes: number;
  guaranteed_memory_bytes: number;
  priority: number;
  policy: string;
  phase: WirePhase;
  stats_period_seconds: number;
  /** kubemom.io/memory-margin, bytes (0 from sidecars before it was added). */
  memory_margin_bytes: number;
  autodeflate: boolean;
  /** Revision-1 additions (absent from older sidecars: empty / false / 0). */
  disks?: WireDiskIoState[];
  io_throttle?: boolean;
  vcpus?: number;
  cpu_limit_millicores?: number;
  cpu_request_millicores?: number;
  /** When the VM entered `phase`, Unix ms; 0 or absent: unknown (older sidecars). */
  phase_since_unix_ms?: number;
  /** The VM entered `phase` at or before phase_since_unix_ms (the agent did not see the change). */
  phase_began_earlier?: boolean;
  /** Why KubeMom does not balloon this VM ("passthrough", "side-monitor-lost"); empty or absent: it does. */
  unmanaged_kind?: string;
  unmanaged_reason?: string;
  /** annotation, vmi-request or guest-memory; empty or absent from older sidecars. */
  guaranteed_memory_source?: string;
}

/** IoLimits: libvirt iotune names, 0 unlimited. */
export type WireIoLimits = Record<string, number>;

export interface WireDiskIoState {
  name: string;
  qdev: string;
  owner_limits: WireIoLimits | null;
  applied: WireIoLimits | null;
  error: string;
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

export interface WireStatsSample {
  sampled_at_unix_ms: number;
  phase: WirePhase;
  guest: WireGuestMemoryStats | null;
  stale: boolean;
  balloon_actual_bytes: number;
  balloon_target_bytes: number;
  self_protection_reason: string;
  /** Where the agent is heading in steps (the clamped request), bytes. */
  balloon_goal_bytes: number;
  unreachable_reason: string;
  /** The agent holds its target on its own because the shim has been silent. */
  holding: boolean;
  /** When the VM entered `phase`, Unix ms; 0 or absent: unknown (older sidecars). */
  phase_since_unix_ms?: number;
  /** The VM entered `phase` at or before phase_since_unix_ms (the agent did not see the change). */
  phase_began_earlier?: boolean;
  /** As in Describe; absent from older sidecars. */
  unmanaged_kind?: string;
  unmanaged_reason?: string;
  /** The current or last migration (feature "migration"); null or absent: not reported. */
  migration?: WireMigrationStats | null;
  /** Boot, plugged and virtio-mem memory (feature "memory-hotplug"); null or absent: not reported. */
  memory?: { boot_memory_bytes: number; plugged_memory_bytes: number; guest_memory_bytes: number; virtio_mem: Array<{ id: string; size_bytes: number; requested_size_bytes: number; max_size_bytes: number }> } | null;
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

export interface WireSetTargetRequest {
  target_bytes: number;
  reason: string;
  /** The pod ceiling, bytes (0: none). */
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

/** The kubemom.v1 API revision this shim implements. */
export const AGENT_API_REVISION = 1;

/** The kubemom.v1.Agent client constructor. */
export function agentClientConstructor(): grpc.ServiceClientConstructor {
  return serviceClient(AGENT_PROTO.file, AGENT_PROTO.service);
}

/** The kubemom.v1.Agent service definition, for servers. */
export function agentServiceDefinition(): grpc.ServiceDefinition {
  return agentClientConstructor().service;
}

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
