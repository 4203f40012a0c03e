/**
 * The policy engine's data model: what a policy sees (host and guest state) and what
 * it decides (balloon targets with reasons, KSM settings).
 *
 * Pure data. Sizes are bytes, times are Unix milliseconds passed in by the caller:
 * a policy never reads a clock or does I/O, so the same inputs always give the
 * same decisions (tests, replays and the simulator rely on this).
 */

/** A VM's lifecycle phase, as the sidecar's agent reports it. */
export type Phase = 'starting' | 'running' | 'paused' | 'migrating' | 'stopping' | 'gone';

/** One guest memory sample from the virtio balloon driver (fields absent when not reported). */
export interface GuestSample {
  atMs: number;
  totalBytes?: number;
  freeBytes?: number;
  availableBytes?: number;
  diskCachesBytes?: number;
  /** Cumulative since guest boot. */
  swapInBytes?: number;
  swapOutBytes?: number;
  majorFaults?: number;
  minorFaults?: number;
  /** Memory the guest had (balloon `actual`) when sampled. */
  balloonActualBytes?: number;
}

export interface GuestState {
  /** Stable key, `namespace/name`. */
  id: string;
  namespace: string;
  name: string;
  uid: string;
  /** What the guest sees (domain <memory>); the balloon's maximum. */
  guestMemoryBytes: number;
  /** kubemom.io/guaranteed-memory: the balloon's minimum. */
  guaranteedMemoryBytes: number;
  /** kubemom.io/memory-margin: free memory always left above current use. */
  marginBytes: number;
  /** kubemom.io/priority, 0..100: lower gives memory back first. */
  priority: number;
  /** kubemom.io/policy. */
  policy: string;
  phase: Phase;
  /** When the guest entered its current phase. */
  phaseSinceMs: number;
  /** Current balloon `actual`, when known. */
  balloonActualBytes?: number;
  /** The last target the agent applied, when any. */
  targetBytes?: number;
  /** Recent samples, oldest first; the caller bounds its length. */
  history: GuestSample[];
  /** kubemom.io/io-throttle: the VM lets the node policy throttle its disks. */
  ioThrottle?: boolean;
  /** The node policy's IO limits the VM's disks have now (the last accepted SetIoLimits; {} none). */
  ioLimits?: IoRates;
  /** The VM's disks and their owner's limits (kubemom.io/io-limits.<disk>). */
  disks?: Array<{ name: string; ownerLimits: Partial<Record<string, number>> }>;
  /** vCPUs (domain <vcpu>), when known. */
  vcpus?: number;
  /** The pod's CPU limit (spec.domain.resources.limits.cpu), millicores, when set. */
  cpuLimitMillicores?: number;
  /**
   * The most memory the guest may be given without its pod crossing its cgroup limit: pod limit minus the
   * pod's overhead (pod working set minus balloon actual) minus a margin, when the pod has a limit. No target
   * may exceed it.
   */
  ceilingBytes?: number;
}

/** The sustained IO rates a policy sets for every disk of a VM; an absent or 0 field is unlimited. */
export type IoRates = Partial<Record<IoRateName, number>>;
export type IoRateName = 'total_bytes_sec' | 'read_bytes_sec' | 'write_bytes_sec' | 'total_iops_sec' | 'read_iops_sec' | 'write_iops_sec';

/** A VM's IO limits as the policy wants them now: the complete set ({} lifts every limit). */
export interface IoDecision {
  guestId: string;
  limits: IoRates;
  reason: string;
}

/** Pressure stall information from /proc/pressure/memory. */
export interface Psi {
  someAvg10: number;
  someAvg60: number;
  fullAvg10: number;
  fullAvg60: number;
  /** Cumulative stall time, microseconds. */
  someTotalUs: number;
  fullTotalUs: number;
}

/** One host memory sample (/proc/meminfo or node-exporter's node_memory_*). */
export interface HostSample {
  atMs: number;
  memTotalBytes: number;
  memFreeBytes: number;
  memAvailableBytes: number;
  buffersBytes: number;
  cachedBytes: number;
  anonPagesBytes: number;
  swapTotalBytes: number;
  swapFreeBytes: number;
  /** Pages swapped in/out since the previous sample. */
  swapInPages?: number;
  swapOutPages?: number;
  psi?: Psi;
  /** /proc/pressure/io, when the kernel has it. */
  ioPsi?: Psi;
  /**
   * The kubelet's `memory.available` eviction signal: MemTotal minus the root cgroup's working set
   * (usage minus inactive file pages), when the shim (or the simulator) computes it. Active page cache
   * counts as used here, unlike MemAvailable, so this is the number the kubelet evicts on.
   */
  kubeletMemoryAvailableBytes?: number;
  /** The kubelet's `allocatableMemory.available`: the pods cgroup's limit minus its working set, when known. */
  kubeletAllocatableAvailableBytes?: number;
}

/**
 * KSM sysfs controls a policy may write. `advisor_max_cpu` only matters with the
 * kernel's KSM advisor (Linux 6.9+, `advisor_mode` = scan-time, see PolicyDecisions).
 */
export type KsmControl = 'run' | 'pages_to_scan' | 'sleep_millisecs' | 'merge_across_nodes' | 'advisor_max_cpu';

export interface HostState {
  /** Recent samples, oldest first; the last is the current one. */
  history: HostSample[];
  cpuCount: number;
  /** The kubelet's hard eviction threshold on memory.available, bytes. */
  evictionHardBytes: number;
  /** The kubelet's soft eviction threshold, bytes, when configured. */
  evictionSoftBytes?: number;
  /** How long memory.available may stay under the soft threshold before the kubelet evicts, ms. */
  evictionSoftGracePeriodMs?: number;
  /**
   * The kubelet's hard threshold on allocatableMemory.available (its memory.available ones, copied when node
   * allocatable is enforced on pods; a percentage is of the pods cgroup's limit), bytes. Absent: evictionHardBytes.
   */
  evictionAllocatableHardBytes?: number;
  /** Every readable file of /sys/kernel/mm/ksm by name (run, pages_shared, ...), when KSM exists. */
  ksm?: Record<string, number>;
  /** /sys/kernel/mm/ksm/advisor_mode when the kernel has the KSM advisor ("none" or "scan-time"). */
  ksmAdvisorMode?: string;
  /** Summed virtual size of the VMs' memory that KSM could merge, bytes. */
  ksmShareableBytes?: number;
  /** ksmd's CPU use, percent of one core. */
  ksmdCpuPercent?: number;
}

export interface PolicyInput {
  nowMs: number;
  host: HostState;
  guests: GuestState[];
}

export interface BalloonDecision {
  guestId: string;
  targetBytes: number;
  /** Short machine-friendly reason, e.g. "host-pressure", "guest-pressure", "grow". */
  reason: string;
}

export interface PolicyDecisions {
  balloons: BalloonDecision[];
  /** Only the KSM controls to write (values that differ from the live ones). */
  ksm: Partial<Record<KsmControl, number>>;
  /** The KSM advisor mode to write, when it differs from the live one (kernels with the advisor). */
  ksmAdvisorMode?: 'none' | 'scan-time';
  /**
   * Set when the policy could not run this cycle (why, e.g. a mandatory host field is
   * missing); then `balloons` and `ksm` are empty and no controller acts, as in MOM.
   */
  notRun?: string;
  /** IO limits for VMs that opted in (kubemom.io/io-throttle); absent when the policy sets none. */
  io?: IoDecision[];
  /** Guests the policy left out this cycle and why (e.g. no balloon data yet). */
  skipped?: Array<{ guestId: string; reason: string }>;
}

/**
 * A policy: a pure function of its input and its own state from the previous
 * evaluation (averages, hysteresis, rate limits). `S` is opaque to callers.
 */
export interface Policy<S = unknown> {
  readonly name: string;
  /** Never moves a balloon by design (static, observe): the shim then sends no target of its own either. */
  readonly passive?: boolean;
  initialState(): S;
  evaluate(input: PolicyInput, state: S): { decisions: PolicyDecisions; state: S };
}
