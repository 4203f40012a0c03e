/**
 * The shim's Prometheus metrics (prom-client, own registry). Names follow the
 * Prometheus rules: `kubemom_` prefix (never clashing with KubeVirt's
 * `kubevirt_vmi_memory_*`), base units in the name (bytes, seconds, ratio),
 * `_total` only on counters. docs/shim.md lists every metric with its unit.
 *
 * Ephemeral values keep their last known value: a host gauge is only set from a
 * successful read, so when a source fails the gauge shows the last value the
 * policy used, and the `*_source` / `*_up` metrics say why it is not moving. A VM's
 * series are removed when its sidecar's socket vanishes (the VM is gone: a frozen
 * last value would lie).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

const VM = ['namespace', 'name'] as const;

export class ShimMetrics {
  readonly registry = new Registry();

  // Per VM. Gauges are computed from the sessions when scraped (see bindVms), and
  // counters are kept in plain maps between scrapes: with 1,000 VMs, setting labelled
  // prom-client series every loop cycle would cost more than the loop itself.
  readonly vmGuestMemory = this.gauge('kubemom_vm_guest_memory_bytes', 'Memory the guest sees (domain <memory>), the balloon maximum.', VM);
  readonly vmGuaranteed = this.gauge('kubemom_vm_guaranteed_memory_bytes', 'Memory the balloon never takes away (kubemom.io/guaranteed-memory).', VM);
  readonly vmTarget = this.gauge('kubemom_vm_balloon_target_bytes', 'The balloon target the sidecar last applied (after its own clamps).', VM);
  readonly vmActual = this.gauge('kubemom_vm_balloon_actual_bytes', 'Memory the guest has now (QEMU balloon actual).', VM);
  readonly vmReclaimed = this.gauge('kubemom_vm_reclaimed_bytes', 'Guest memory minus balloon actual: memory taken back from the guest.', VM);
  readonly vmGuestTotal = this.gauge('kubemom_vm_guest_total_bytes', 'Guest MemTotal as the balloon driver reports it.', VM);
  readonly vmGuestFree = this.gauge('kubemom_vm_guest_free_bytes', 'Guest MemFree.', VM);
  readonly vmGuestAvailable = this.gauge('kubemom_vm_guest_available_bytes', 'Guest MemAvailable.', VM);
  readonly vmGuestCaches = this.gauge('kubemom_vm_guest_disk_caches_bytes', 'Guest page cache.', VM);
  readonly vmGuestSwapIn = this.gauge('kubemom_vm_guest_swap_in_bytes', 'Bytes the guest swapped in since it booted (cumulative, resets with the guest).', VM);
  readonly vmGuestSwapOut = this.gauge('kubemom_vm_guest_swap_out_bytes', 'Bytes the guest swapped out since it booted (cumulative, resets with the guest).', VM);
  readonly vmGuestMajorFaults = this.gauge('kubemom_vm_guest_major_faults', 'Guest major page faults since it booted (cumulative, resets with the guest).', VM);
  readonly vmPriority = this.gauge('kubemom_vm_priority', 'kubemom.io/priority (0..100, lower gives memory back first).', VM);
  readonly vmCpuLimit = this.gauge('kubemom_vm_cpu_limit_cores', "The VM's CPU limit in cores: source=kubernetes is the pod limit Kubernetes applies (spec.domain.resources.limits.cpu), source=mom what MOM's CPU tune would give its vCPUs (vcpus x quota / period). No series: unlimited.", [...VM, 'source']);
  readonly vmMomVcpuQuota = this.gauge('kubemom_vm_mom_vcpu_quota_seconds', "MOM's per-vCPU CFS quota for this VM's CPU limit, seconds per period (-1: unlimited); never written, reported only.", VM);
  readonly vmMomVcpuPeriod = this.gauge('kubemom_vm_mom_vcpu_period_seconds', "MOM's CFS period for this VM's vCPUs, seconds.", VM);
  readonly vmIoLimit = this.gauge('kubemom_vm_io_limit', 'IO limits QEMU applies now, per disk and limit (libvirt iotune names: bytes or operations per second); no series: unlimited.', [...VM, 'disk', 'limit']);
  readonly vmUnmanaged = this.gauge('kubemom_vm_unmanaged', "1 when KubeMom does not balloon the VM, by reason: passthrough (VFIO devices, observed only), side-monitor-lost (the QMP side monitor never appeared). No series: managed.", [...VM, 'reason']);
  readonly vmMigrationTotal = this.gauge('kubemom_vm_migration_memory_total_bytes', "Guest RAM to migrate in the VM's current or last live migration (query-migrate ram.total); 0 before the first.", VM);
  readonly vmMigrationProcessed = this.gauge('kubemom_vm_migration_memory_processed_bytes', 'Guest RAM sent so far in the current or last migration (ram.transferred).', VM);
  readonly vmMigrationRemaining = this.gauge('kubemom_vm_migration_memory_remaining_bytes', 'Guest RAM left to send in the current or last migration (ram.remaining).', VM);
  readonly vmMigrationDirtyRate = this.gauge('kubemom_vm_migration_dirty_rate_bytes_per_second', 'How fast the guest dirtied RAM during the current or last migration (dirty-pages-rate x page-size).', VM);
  readonly vmMigrationIteration = this.gauge('kubemom_vm_migration_iteration', 'Pre-copy iterations (dirty-sync-count) of the current or last migration.', VM);
  readonly vmMigrationDowntime = this.gauge('kubemom_vm_migration_downtime_seconds', 'Switch-over downtime of the last migration (QEMU\'s expected downtime while one runs).', VM);
  readonly vmSessionState = this.gauge('kubemom_vm_session_state', '1 for the current state of the shim session with the VM sidecar.', [...VM, 'state']);
  readonly vmPodLimit = this.gauge('kubemom_vm_pod_memory_limit_bytes', "The VM pod's cgroup memory limit (memory.max / memory.limit_in_bytes). No series: no limit, or the pod cgroup was not found.", VM);
  readonly vmPodOverhead = this.gauge('kubemom_vm_pod_overhead_bytes', "The VM pod's memory beyond the guest's: pod working set minus balloon actual, the largest seen.", VM);
  readonly vmPodCeiling = this.gauge('kubemom_vm_pod_ceiling_bytes', 'The most the guest may be given: pod limit minus overhead minus the margin. No series: no ceiling.', VM);
  readonly vmNodeFloor = this.gauge('kubemom_vm_node_floor_bytes', "The node's floor for a VM without a guarantee of its own, by source (pod-request: the virt-launcher pod's memory request; memory-overcommit: guest x 100 / --memory-overcommit).", [...VM, 'source']);
  readonly vmAutodeflatePastCeiling = this.gauge('kubemom_vm_autodeflate_past_ceiling', '1 when the guest may deflate its balloon itself (autodeflate) past its pod ceiling: an OOM in the guest can then get QEMU OOM-killed.', VM);
  readonly vmCeilingCrossings = new VmCounter(this.registry, 'kubemom_vm_pod_ceiling_crossings_total', 'Times the guest was seen holding more than its pod ceiling, by cause (autodeflate: it deflated its balloon itself).', 'cause');
  readonly vmBounded = new VmCounter(this.registry, 'kubemom_vm_bounded_decisions_total', "Policy targets the shim moved into the pod's bounds, by bound (pod-ceiling, floor).", 'bound');
  readonly vmDecisions = new VmCounter(this.registry, 'kubemom_vm_decisions_total', 'Balloon decisions the policy made, by reason.', 'reason');
  readonly vmSetTargets = new VmCounter(this.registry, 'kubemom_vm_set_target_total', 'SetTarget calls by outcome (applied, deadline, error, skipped-in-flight, skipped-not-live).', 'outcome');
  readonly vmClamps = new VmCounter(this.registry, 'kubemom_vm_clamps_total', 'Targets the sidecar clamped, by clamp reason.', 'clamp');

  // Per node: host memory as the policy saw it.
  readonly hostMemTotal = this.gauge('kubemom_host_memory_total_bytes', 'Host MemTotal as the policy last saw it.');
  readonly hostMemAvailable = this.gauge('kubemom_host_memory_available_bytes', 'Host MemAvailable as the policy last saw it.');
  readonly hostMemFree = this.gauge('kubemom_host_memory_free_bytes', 'Host MemFree as the policy last saw it.');
  readonly hostCached = this.gauge('kubemom_host_memory_cached_bytes', 'Host Cached + Buffers as the policy last saw it.');
  readonly hostAnon = this.gauge('kubemom_host_memory_anon_bytes', 'Host AnonPages as the policy last saw it.');
  readonly hostSwapUsed = this.gauge('kubemom_host_swap_used_bytes', 'Host SwapTotal - SwapFree as the policy last saw it.');
  readonly hostSource = this.gauge('kubemom_host_memory_source', '1 for the source of the host memory values the policy last used (node-exporter or proc).', ['source']);
  readonly psiAvg10 = this.gauge('kubemom_host_memory_pressure_avg10_ratio', 'Memory PSI over 10 s (0..1 of wall time stalled), some and full.', ['kind']);
  readonly psiAvg60 = this.gauge('kubemom_host_memory_pressure_avg60_ratio', 'Memory PSI over 60 s (0..1), some and full.', ['kind']);
  readonly psiStall = this.gauge('kubemom_host_memory_pressure_stall_seconds', 'Cumulative memory stall time since boot (the kernel total), some and full.', ['kind']);
  readonly evictionHard = this.gauge('kubemom_host_eviction_hard_threshold_bytes', 'The kubelet hard eviction threshold on memory.available (the reserve the node must keep).');
  readonly evictionSoft = this.gauge('kubemom_host_eviction_soft_threshold_bytes', 'The kubelet soft eviction threshold on memory.available (0 when not set).');
  readonly evictionSignal = this.gauge('kubemom_host_eviction_signal_available_bytes', "The kubelet's memory eviction signals computed from the cgroup files as the kubelet does: memory.available (MemTotal - root working set) and allocatableMemory.available (pods cgroup limit - pods working set). No series: not readable.", ['signal']);
  readonly evictionSignalErrors = this.counter('kubemom_host_eviction_signal_read_errors_total', "Reads of a kubelet eviction signal that failed, by signal and reason (missing, unparsable, no-memory-controller, no-limit).", ['signal', 'reason']);
  readonly evictionHeadroom = this.gauge('kubemom_host_eviction_headroom_bytes', 'MemAvailable minus the hard eviction threshold.');
  readonly overcommit = this.gauge('kubemom_node_overcommit_ratio', 'Sum of the guest memory of the live VMs divided by host MemTotal.');
  readonly nodeReclaimed = this.gauge('kubemom_node_reclaimed_bytes', 'Sum over live VMs of guest memory minus balloon actual.');
  readonly nodeCommitted = this.gauge('kubemom_node_committed_memory_bytes', "Memory the node has committed: the non-VM working set plus, over its VMs, max(floor, need + margin) by the default policy's floor (what the VMs would take back).");
  readonly nodeCommittedHeadroom = this.gauge('kubemom_node_committed_headroom_bytes', "MemTotal minus committed memory minus the kubelet's eviction threshold: negative when the VMs could take back more than the node can give.");

  // KSM.
  readonly ksmValue = this.gauge('kubemom_ksm_value', 'Numeric /sys/kernel/mm/ksm files by name (run, pages_to_scan, pages_shared, pages_sharing, ...).', ['file']);
  readonly ksmSaved = this.gauge('kubemom_ksm_saved_bytes', 'Memory KSM saves: pages_sharing times the page size.');
  readonly ksmdCpu = this.gauge('kubemom_ksmd_cpu_ratio', 'ksmd CPU use over the last loop period, fraction of one core.');
  readonly ksmWrites = this.counter('kubemom_ksm_writes_total', 'Values the shim wrote to KSM sysfs, by file.', ['file']);
  readonly ksmWriteErrors = this.counter('kubemom_ksm_write_errors_total', 'KSM sysfs writes that failed, by file.', ['file']);
  readonly ksmForeign = this.counter('kubemom_ksm_foreign_writes_total', 'Times another writer changed a KSM control the shim had set.', ['file']);
  readonly ksmHandovers = this.counter('kubemom_ksm_handovers_total', "Times another writer set KSM run=0 once and alone (KubeVirt's handler letting the node go): not counted as a fight.");
  readonly ksmBackoff = this.gauge('kubemom_ksm_backoff', '1 while the shim leaves KSM alone because another writer is active.');

  // The loop.
  readonly loopDuration = new Histogram({
    name: 'kubemom_shim_loop_duration_seconds',
    help: 'Policy loop duration: host read, policy, dispatch of SetTarget calls (not their answers), by trigger.',
    labelNames: ['trigger'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly pressureToLastSend = new Histogram({
    name: 'kubemom_shim_pressure_to_last_set_target_seconds',
    help: 'From a pressure event to the last SetTarget of the cycle it caused being sent.',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2],
    registers: [this.registry],
  });
  readonly loopRuns = this.counter('kubemom_shim_loop_runs_total', 'Loop cycles run, by trigger (period, pressure).', ['trigger']);
  readonly lastLoop = this.gauge('kubemom_shim_last_loop_timestamp_seconds', 'When the loop last completed, Unix seconds.');
  readonly pressureEvents = this.counter('kubemom_shim_pressure_events_total', 'Memory pressure events that woke the loop.');
  readonly lowMemoryWakes = this.counter('kubemom_shim_low_memory_wakes_total', 'Times MemAvailable fell under the reclaim line between loop periods and woke the loop.');
  readonly psiMode = this.gauge('kubemom_shim_psi_trigger_mode', '1 for how pressure is watched: kernel (PSI trigger, POLLPRI), polling (fallback) or off.', ['mode']);
  readonly policyErrors = this.counter('kubemom_shim_policy_errors_total', 'Policy evaluations that threw (no controller runs in that cycle).');
  readonly policyReloads = this.counter('kubemom_shim_policy_reloads_total', 'Policy reloads (SIGHUP) by result: ok, or error (the last good policy stays in force).', ['result']);
  readonly policyReloadOk = this.gauge('kubemom_shim_policy_last_reload_success', '1 when the last policy reload succeeded (or none was asked), 0 when it failed.');
  readonly policyInfo = this.gauge('kubemom_shim_policy_info', '1, labelled with the policy in force.', ['policy']);
  readonly nodeExporterUp = this.gauge('kubemom_shim_node_exporter_up', '1 when the last node-exporter scrape was usable.');
  readonly nodeExporterFallbacks = this.counter('kubemom_shim_node_exporter_fallbacks_total', 'Failed node-exporter scrapes (the loop used /proc), by reason.', ['reason']);
  readonly nodeExporterScrape = this.gauge('kubemom_shim_node_exporter_scrape_duration_seconds', 'Duration of the last node-exporter scrape.');
  readonly sidecars = this.gauge('kubemom_shim_sidecars', 'Sidecar sessions by state.', ['state']);
  readonly identityMismatches = this.counter('kubemom_shim_sidecar_identity_mismatches_total', 'Sidecars refused because Describe named another pod than the socket path.');
  readonly identityConflicts = this.counter('kubemom_shim_sidecar_identity_conflicts_total', 'Sidecars ignored because another sidecar already serves the VM they name.');
  readonly floorSource = this.gauge('kubemom_shim_floor_source', "1 for where floors of VMs without a guarantee of their own come from: kubernetes-api (the virt-launcher pod's memory request), memory-overcommit (guest x 100 / --memory-overcommit), none (the guest memory: nothing reclaimed from them).", ['source']);
  readonly kubeApiSynced = this.gauge('kubemom_shim_kubernetes_api_synced', "1 once the list of this node's pods succeeded (the watch keeps it current).");
  readonly kubeApiLists = this.counter('kubemom_shim_kubernetes_api_lists_total', "Lists of this node's pods: the first, and one after each 410 Gone or failed list.");
  readonly kubeApiErrors = this.counter('kubemom_shim_kubernetes_api_errors_total', 'Kubernetes API problems, by problem: list-error, watch-error, dropped (connection lost), gone (410, relisted), bad-event.', ['problem']);
  readonly kubePods = this.gauge('kubemom_shim_kubernetes_pods', "This node's pods the watch knows.");
  readonly impostors = this.counter('kubemom_shim_sidecar_impostors_total', "Sidecars the Kubernetes API contradicts (their pod runs another namespace or VMI than they claim): no target.");
  readonly vmPodInfo = this.gauge('kubemom_vm_pod_info', "1 per VM with its virt-launcher pod from the Kubernetes API: pod name and the VMI's UID (label kubevirt.io/created-by).", [...VM, 'pod', 'vmi_uid']);
  readonly podCgroupErrors = this.counter('kubemom_shim_pod_cgroup_read_errors_total', "VM pod cgroups that could not be read (no pod ceiling that cycle), by reason (no-pod-cgroup, missing, unparsable).", ['reason']);
  readonly deadlineMisses = this.counter('kubemom_shim_sidecar_deadline_misses_total', 'Sidecar calls that missed their deadline, by call.', ['call']);

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'kubemom_shim_' });
  }

  /** Forgets a VM's counters (its sidecar is gone); its gauges go with its session. */
  removeVm(namespace: string, name: string): void {
    for (const counter of [this.vmDecisions, this.vmSetTargets, this.vmClamps, this.vmCeilingCrossings, this.vmBounded]) counter.removeVm(namespace, name);
  }

  private fillVms: ((set: (gauge: Gauge<string>, labels: Record<string, string>, value: number) => void) => void) | undefined;

  /** Sets how the per-VM gauges are filled at scrape time (from the live sessions). */
  bindVms(fill: (set: (gauge: Gauge<string>, labels: Record<string, string>, value: number) => void) => void): void {
    this.fillVms = fill;
  }

  /** The Prometheus text, with the per-VM gauges filled afresh (a VM that is gone has no series). */
  async scrape(): Promise<string> {
    if (this.fillVms) {
      const gauges = [
        this.vmGuestMemory, this.vmGuaranteed, this.vmTarget, this.vmActual, this.vmReclaimed, this.vmGuestTotal, this.vmGuestFree,
        this.vmGuestAvailable, this.vmGuestCaches, this.vmGuestSwapIn, this.vmGuestSwapOut, this.vmGuestMajorFaults, this.vmPriority,
        this.vmSessionState, this.vmUnmanaged, this.vmMigrationTotal, this.vmMigrationProcessed, this.vmMigrationRemaining,
        this.vmMigrationDirtyRate, this.vmMigrationIteration, this.vmMigrationDowntime, this.vmPodLimit, this.vmPodOverhead, this.vmPodCeiling,
        this.vmNodeFloor, this.vmAutodeflatePastCeiling, this.vmPodInfo,
      ];
      for (const g of gauges) g.reset();
      this.fillVms((g, labels, value) => g.set(labels, value));
    }
    return this.registry.metrics();
  }

  /** Sets a one-hot gauge: 1 for `current`, 0 for the others. */
  static oneHot(gauge: Gauge<string>, label: string, values: readonly string[], current: string, extra: Record<string, string> = {}): void {
    for (const value of values) gauge.set({ ...extra, [label]: value }, value === current ? 1 : 0);
  }

  protected gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge<string> {
    return new Gauge({ name, help, labelNames: [...labelNames], registers: [this.registry] });
  }

  private counter(name: string, help: string, labelNames: readonly string[] = []): Counter<string> {
    return new Counter({ name, help, labelNames: [...labelNames], registers: [this.registry] });
  }
}

/**
 * A per-VM counter with one extra label, counted in plain maps and turned into
 * prom-client series only when scraped.
 */
export class VmCounter {
  private readonly byVm = new Map<string, { namespace: string; name: string; counts: Map<string, number> }>();
  readonly counter: Counter<string>;

  constructor(registry: Registry, name: string, help: string, private readonly extraLabel: string) {
    const byVm = this.byVm;
    this.counter = new Counter({
      name,
      help,
      labelNames: ['namespace', 'name', extraLabel],
      registers: [registry],
      collect() {
        this.reset();
        for (const vm of byVm.values()) {
          for (const [extra, count] of vm.counts) this.inc({ namespace: vm.namespace, name: vm.name, [extraLabel]: extra }, count);
        }
      },
    });
  }

  inc(namespace: string, name: string, extra: string, by = 1): void {
    const key = `${namespace}/${name}`;
    let vm = this.byVm.get(key);
    if (!vm) {
      vm = { namespace, name, counts: new Map() };
      this.byVm.set(key, vm);
    }
    vm.counts.set(extra, (vm.counts.get(extra) ?? 0) + by);
  }

  get(namespace: string, name: string, extra: string): number {
    return this.byVm.get(`${namespace}/${name}`)?.counts.get(extra) ?? 0;
  }

  removeVm(namespace: string, name: string): void {
    this.byVm.delete(`${namespace}/${name}`);
  }
}
