/**
 * The node shim, assembled: discovery and sidecar sessions, host monitor, PSI
 * trigger, KSM controller, the policy loop, metrics and the HTTP endpoints.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { logger } from '../common/log.js';
import type { Policy } from '../policy/types.js';
import type { EvictionThreshold } from './host/eviction.js';
import type { CgroupDriver } from './host/cgroup-memory.js';
import { EVICTION_SIGNALS, EvictionSignalReader } from './host/eviction-signals.js';
import { HostMonitor } from './host/host-monitor.js';
import { KsmdCpuMeter } from './host/ksmd-cpu.js';
import { LowMemoryWatch } from './host/low-memory-watch.js';
import { readMeminfo } from './host/meminfo.js';
import { podsLimitMismatch } from './host/pods-limit.js';
import { PsiTrigger, type PsiTriggerMode } from './host/psi-trigger.js';
import { startHttpServer } from './http.js';
import { KsmController } from './ksm.js';
import { type CycleResult, ShimLoop } from './loop.js';
import { CLAMP_TO_WIRE } from '../api/kubemom-v1.js';
import { ShimMetrics } from './metrics.js';
import { bindVmGauges, updateCycleMetrics, vmLabels } from './cycle-metrics.js';
import { SidecarRegistry } from './registry.js';
import { PodBounds } from './pod-bounds.js';
import { KubeApiClient, type KubeApiConfig } from './kube/api-client.js';
import { PodWatch } from './kube/pod-watch.js';
import { FLOOR_MODES, NodeFloors } from './kube/pod-floors.js';
import { DEFAULT_SESSION_OPTIONS, SESSION_STATES, type SessionOptions } from './session.js';

export interface ShimOptions {
  kubeletRoot: string;
  nodeExporterUrl?: string;
  /** Default 1000 ms. */
  scrapeTimeoutMs?: number;
  /** KSM sysfs directory; none disables KSM control. */
  ksmDir?: string;
  ksmBackoffMs?: number;
  meminfoFile: string;
  psiFile: string;
  /** /proc/pressure/io for IO policies; absent: none. */
  ioPsiFile?: string;
  vmstatFile: string;
  procRoot: string;
  /** The PSI trigger: kind, stall and window (µs). */
  psiTrigger?: { kind: 'some' | 'full'; stallUs: number; windowUs: number; pollMs?: number; forcePolling?: boolean } | undefined;
  /** host:port for /metrics; none: no HTTP server. */
  listen?: { host: string; port: number };
  periodMs: number;
  /** An unchanged target is resent after this long, as the agent's sign of life (default 10 s). */
  heartbeatMs?: number;
  rescanMs?: number;
  evictionHard?: EvictionThreshold;
  evictionSoft?: EvictionThreshold;
  /** evictionSoftGracePeriod of memory.available, ms. */
  evictionSoftGracePeriodMs?: number;
  /** enforceNodeAllocatable contains pods (default true). */
  enforcePodsAllocatable?: boolean;
  /** Kept free under a VM pod's memory limit above its measured overhead (default 64 MiB). */
  podCeilingMarginBytes?: number;
  /** The Kubernetes API for this node's pods (floors from pod requests, sidecar identities); none: off. */
  kubernetes?: { api: KubeApiConfig; nodeName: string; watchTimeoutSeconds?: number; initialBackoffMs?: number };
  /** systemReserved + kubeReserved memory from the kubelet's config: the pods cgroup's limit is MemTotal less it. */
  kubeletReservedBytes?: number;
  /** Why the Kubernetes API is off, for the start log (set by the CLI). */
  kubernetesApiOff?: string;
  /** The KubeVirt CR's memoryOvercommit: floor = guest x 100 / PERCENT where the API gives none. */
  memoryOvercommitPercent?: number;
  /** The cgroup mount the kubelet's eviction signals are read from; none: MemAvailable only. */
  cgroupRoot?: string;
  /** The pods cgroup under the memory root; default by driver. */
  kubepodsCgroup?: string;
  cgroupDriver?: CgroupDriver | 'auto';
  session?: Partial<SessionOptions>;
  /** Parent directory of the private symlink directory. */
  linkParent?: string;
}

export class Shim<S = unknown> {
  readonly log = logger('shim');
  readonly metrics = new ShimMetrics();
  readonly registry: SidecarRegistry;
  readonly host: HostMonitor;
  readonly ksm: KsmController | undefined;
  readonly loop: ShimLoop<S>;
  readonly psi: PsiTrigger | undefined;
  readonly lowMemory: LowMemoryWatch;
  /** The kubelet's eviction signals from the cgroup files, when --cgroup-root is set. */
  readonly kubeletSignals: EvictionSignalReader | undefined;
  /** Each VM pod's ceiling and floor. */
  readonly podBounds: PodBounds;
  /** This node's pods from the Kubernetes API, when it is on. */
  readonly pods: PodWatch | undefined;
  readonly floors: NodeFloors;
  httpPort: number | undefined;
  private closeHttp: (() => Promise<void>) | undefined;
  private startedAtMs = Date.now();
  private stopping = false;
  lastCycle: CycleResult | undefined;
  /** Called after every cycle (benchmarks, tests). */
  onCycleHook: ((result: CycleResult) => void) | undefined;

  constructor(
    readonly options: ShimOptions,
    policy: Policy<S>,
  ) {
    const m = this.metrics;
    const log = this.log;
    m.policyInfo.set({ policy: policy.name }, 1);
    m.policyReloadOk.set(1);
    this.registry = new SidecarRegistry(
      {
        kubeletRoot: options.kubeletRoot,
        session: { ...DEFAULT_SESSION_OPTIONS, ...options.session },
        ...(options.rescanMs !== undefined ? { rescanMs: options.rescanMs } : {}),
        ...(options.linkParent !== undefined ? { linkParent: options.linkParent } : {}),
      },
      log,
      {
        onIdentityMismatch: () => m.identityMismatches.inc(),
        onDeadlineMiss: (_s, call) => m.deadlineMisses.inc({ call }),
        onRemoved: (s) => {
          const vm = s.describe?.vm;
          // At shutdown the whole registry goes away: no need to prune series one VM at a time.
          if (vm && !this.stopping) m.removeVm(vm.namespace, vm.name);
        },
      },
    );
    const cgroups = options.cgroupRoot
      ? { cgroupRoot: options.cgroupRoot, cgroupDriver: options.cgroupDriver ?? ('auto' as const), ...(options.kubepodsCgroup ? { kubepodsCgroup: options.kubepodsCgroup } : {}) }
      : undefined;
    this.kubeletSignals = cgroups ? new EvictionSignalReader(cgroups, log, { onProblem: (signal, reason) => m.evictionSignalErrors.inc({ signal, reason }) }) : undefined;
    this.host = new HostMonitor(
      {
        meminfoFile: options.meminfoFile,
        psiFile: options.psiFile,
        ...(options.ioPsiFile ? { ioPsiFile: options.ioPsiFile } : {}),
        vmstatFile: options.vmstatFile,
        ...(options.nodeExporterUrl ? { nodeExporterUrl: options.nodeExporterUrl } : {}),
        scrapePeriodMs: options.periodMs,
        scrapeTimeoutMs: options.scrapeTimeoutMs ?? 1000,
        maxScrapeAgeMs: Math.max(2000, 2 * options.periodMs),
        ...(options.evictionHard ? { evictionHard: options.evictionHard } : {}),
        ...(options.evictionSoft ? { evictionSoft: options.evictionSoft } : {}),
        ...(options.evictionSoftGracePeriodMs !== undefined ? { evictionSoftGracePeriodMs: options.evictionSoftGracePeriodMs } : {}),
        ...(this.kubeletSignals ? { kubeletSignals: this.kubeletSignals } : {}),
        enforcePodsAllocatable: options.enforcePodsAllocatable ?? true,
      },
      log,
      {
        onScrape: (ok, durationMs, failure) => {
          m.nodeExporterUp.set(ok ? 1 : 0);
          m.nodeExporterScrape.set(durationMs / 1000);
          if (!ok && failure) m.nodeExporterFallbacks.inc({ reason: failure });
        },
      },
    );
    if (options.ksmDir) {
      this.ksm = new KsmController({ dir: options.ksmDir, ...(options.ksmBackoffMs ? { initialBackoffMs: options.ksmBackoffMs } : {}) }, log, {
        onWrite: (file) => m.ksmWrites.inc({ file }),
        onWriteError: (file) => m.ksmWriteErrors.inc({ file }),
        onForeignWrite: (file) => m.ksmForeign.inc({ file }),
        onHandover: () => m.ksmHandovers.inc(),
      });
    }
    if (options.psiTrigger) this.psi = new PsiTrigger({ file: options.psiFile, ...options.psiTrigger });
    // The watch reads the signals ten times a second: its own reader, silent (the loop's reader logs and counts).
    const watchSignals = cgroups ? new EvictionSignalReader(cgroups, log.child({}, { level: 'silent' })) : undefined;
    this.lowMemory = new LowMemoryWatch({
      meminfoFile: options.meminfoFile,
      ...(options.evictionHard ? { evictionHard: options.evictionHard } : {}),
      ...(options.evictionSoft ? { evictionSoft: options.evictionSoft } : {}),
      ...(watchSignals ? { kubeletSignals: (memTotal: number) => watchSignals.read(memTotal) } : {}),
      enforcePodsAllocatable: options.enforcePodsAllocatable ?? true,
    });
    if (options.kubernetes) {
      const k = options.kubernetes;
      this.pods = new PodWatch(
        new KubeApiClient(k.api),
        { nodeName: k.nodeName, ...(k.watchTimeoutSeconds !== undefined ? { watchTimeoutSeconds: k.watchTimeoutSeconds } : {}), ...(k.initialBackoffMs !== undefined ? { initialBackoffMs: k.initialBackoffMs } : {}) },
        log,
        {
          onProblem: (problem) => m.kubeApiErrors.inc({ problem }),
          onList: (pods) => {
            m.kubeApiLists.inc();
            m.kubePods.set(pods);
          },
        },
      );
      this.pods.on('synced', () => m.kubeApiSynced.set(1));
      this.pods.on('change', () => m.kubePods.set(this.pods!.pods.size));
    }
    this.floors = new NodeFloors(this.pods, options.memoryOvercommitPercent);
    for (const source of FLOOR_MODES) m.floorSource.set({ source }, source === this.floors.mode ? 1 : 0);
    this.podBounds = new PodBounds(this.kubeletSignals, this.floors, { ...(options.podCeilingMarginBytes !== undefined ? { ceilingMarginBytes: options.podCeilingMarginBytes } : {}) }, log, {
      onCgroupProblem: (reason) => m.podCgroupErrors.inc({ reason }),
      onCrossing: (session, cause) => {
        const labels = vmLabels(session);
        if (labels) m.vmCeilingCrossings.inc(labels.namespace, labels.name, cause);
      },
    });
    bindVmGauges(m, () => this.registry.all(), (uid) => this.podBounds.get(uid), (uid) => this.pods?.get(uid));
    this.loop = new ShimLoop<S>(
      {
        policy,
        host: this.host,
        sessions: () => this.registry.all(),
        ...(this.ksm ? { ksm: this.ksm } : {}),
        ksmdCpu: new KsmdCpuMeter(options.procRoot),
        bounds: this.podBounds,
        ...(this.pods ? { vouch: (session: Parameters<NodeFloors['vouch']>[0]) => this.floors.vouch(session) } : {}),
        log,
        observer: {
          onCycle: (result, sessions, extra) => {
            this.lastCycle = result;
            this.onCycleHook?.(result);
            m.loopDuration.observe({ trigger: result.trigger }, result.durationMs / 1000);
            m.loopRuns.inc({ trigger: result.trigger });
            m.lastLoop.set(result.nowMs / 1000);
            m.ksmBackoff.set(this.ksm?.backingOff(result.nowMs) ? 1 : 0);
            updateCycleMetrics(m, result.input, sessions, this.host.source, extra);
            const signals = this.host.lastSignals;
            if (signals) {
              const values = { 'memory.available': signals.memoryAvailableBytes, 'allocatableMemory.available': signals.allocatableAvailableBytes };
              for (const signal of EVICTION_SIGNALS) {
                const value = values[signal];
                if (value === undefined) m.evictionSignal.remove({ signal });
                else m.evictionSignal.set({ signal }, value);
              }
            }
          },
          onDecisionOutcome: (record, outcome, session) => {
            const labels = session ? vmLabels(session) : undefined;
            if (!labels) return;
            m.vmDecisions.inc(labels.namespace, labels.name, record.reason);
            if (outcome?.kind === 'applied') {
              m.vmSetTargets.inc(labels.namespace, labels.name, 'applied');
              if (outcome.response.clamp !== 'none') m.vmClamps.inc(labels.namespace, labels.name, CLAMP_TO_WIRE[outcome.response.clamp]);
            } else if (outcome) {
              m.vmSetTargets.inc(labels.namespace, labels.name, outcome.kind === 'skipped' ? `skipped-${outcome.why}` : outcome.why);
            }
          },
          onPolicyError: () => m.policyErrors.inc(),
          onImpostor: () => m.impostors.inc(),
          onBound: (bounded) => {
            const [namespace, name] = bounded.guestId.split('/', 2);
            if (namespace !== undefined && name !== undefined) m.vmBounded.inc(namespace, name, bounded.bound);
          },
          onIdentityConflict: () => m.identityConflicts.inc(),
          onPressure: (_at, latencyMs) => {
            if (latencyMs !== undefined) m.pressureToLastSend.observe(latencyMs / 1000);
          },
        },
      },
      { periodMs: options.periodMs, ...(options.heartbeatMs !== undefined ? { heartbeatMs: options.heartbeatMs } : {}) },
    );
  }

  async start(): Promise<void> {
    this.startedAtMs = Date.now();
    // The HTTP endpoints first: a port in use fails the start before anything else runs.
    if (this.options.listen) {
      const http = await startHttpServer(this.options.listen, {
        metrics: () => this.metrics.scrape(),
        contentType: this.metrics.registry.contentType,
        healthy: () => this.healthy(),
        ready: () => this.ready(),
        decisions: () => this.loop.decisions.slice(-200),
      });
      this.httpPort = http.port;
      this.closeHttp = http.close;
    }
    for (const problem of this.pathProblems()) this.log.error({ problem }, `${problem}; /readyz reports not ready until it is fixed`);
    this.ksm?.start();
    this.registry.start();
    await this.host.start();
    if (this.psi) {
      const mode = this.psi.start();
      this.setPsiMode(mode);
      // Polling asked for (a PSI file that is not the kernel's, as in the demo) is no fault worth a warning.
      if (mode !== 'kernel' && this.options.psiTrigger?.forcePolling) this.log.info({ reason: this.psi.fallbackReason }, 'watching PSI by polling');
      else if (mode !== 'kernel') this.log.warn({ reason: this.psi.fallbackReason }, 'PSI trigger unavailable; watching PSI by polling');
      this.psi.on('pressure', () => {
        this.metrics.pressureEvents.inc();
        this.loop.wake(performance.now());
      });
      this.psi.on('mode', (next: PsiTriggerMode) => this.setPsiMode(next));
    } else {
      this.setPsiMode('off');
    }
    this.lowMemory.on('low', () => {
      this.metrics.lowMemoryWakes.inc();
      this.loop.wake(performance.now());
    });
    this.lowMemory.start();
    this.checkPodsLimit();
    this.pods?.start();
    this.loop.start();
    this.log.info(
      {
        policy: this.policy.name,
        kubeletRoot: this.options.kubeletRoot,
        nodeExporter: this.options.nodeExporterUrl ?? null,
        ksm: this.options.ksmDir ?? null,
        psiMode: this.psi?.mode ?? 'off',
        http: this.httpPort ?? null,
        symlinks: this.registry.symlinkDirectory,
        cgroups: this.kubeletSignalsSummary(),
        floors: this.floors.mode,
        kubernetesApi: this.options.kubernetes ? this.options.kubernetes.api.server.origin : `off: ${this.options.kubernetesApiOff ?? 'not configured'}`,
        memoryOvercommit: this.options.memoryOvercommitPercent ?? null,
      },
      'shim started',
    );
    if (!this.options.kubernetes && this.options.kubernetesApiOff !== undefined) {
      const floors = this.floors.mode === 'memory-overcommit'
        ? `floors of VMs without a memory request are guest x 100 / ${this.options.memoryOvercommitPercent} (--memory-overcommit)`
        : 'VMs without a memory request keep their whole guest memory (set --memory-overcommit to the KubeVirt CR\'s memoryOvercommit)';
      // In a pod without its service account token it is a deployment mistake; off on purpose or outside a cluster, a choice.
      const level = this.options.kubernetesApiOff.startsWith('no service account token') ? 'warn' : 'info';
      this.log[level]({ why: this.options.kubernetesApiOff, floors: this.floors.mode }, `no Kubernetes API: ${floors}; sidecar identities rest on their socket paths alone`);
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.loop.stop();
    this.psi?.stop();
    this.lowMemory.stop();
    this.pods?.stop();
    this.host.stop();
    this.registry.stop();
    this.ksm?.stop();
    await this.closeHttp?.();
    this.log.info('shim stopped');
  }

  /** The policy in force. */
  get policy(): Policy<S> {
    return this.loop.policy;
  }

  /**
   * Loads the policy again (SIGHUP). If `load` throws (a missing or broken file), the
   * policy in force stays, the error is logged and counted, and
   * `kubemom_shim_policy_last_reload_success` is 0 until a reload succeeds.
   */
  reloadPolicy(load: () => Policy<S>): { ok: true; policy: string } | { ok: false; error: string } {
    const m = this.metrics;
    let next: Policy<S>;
    try {
      next = load();
    } catch (error) {
      const message = (error as Error).message;
      m.policyReloads.inc({ result: 'error' });
      m.policyReloadOk.set(0);
      this.log.error({ err: message, policy: this.policy.name }, 'policy reload failed; the last good policy stays in force');
      return { ok: false, error: message };
    }
    const previous = this.policy.name;
    this.loop.setPolicy(next);
    m.policyInfo.remove({ policy: previous });
    m.policyInfo.set({ policy: next.name }, 1);
    m.policyReloads.inc({ result: 'ok' });
    m.policyReloadOk.set(1);
    this.log.info({ previous, policy: next.name }, 'policy reloaded');
    return { ok: true, policy: next.name };
  }

  healthy(): { ok: boolean; detail: string } {
    const now = Date.now();
    const last = this.loop.lastCycleAtMs;
    const limit = Math.max(3 * this.options.periodMs, 5000);
    if (last === undefined) return now - this.startedAtMs < limit ? { ok: true, detail: 'starting' } : { ok: false, detail: 'no loop cycle yet' };
    const age = now - last;
    return age <= limit ? { ok: true, detail: `last cycle ${age} ms ago` } : { ok: false, detail: `last cycle ${age} ms ago (limit ${limit} ms)` };
  }

  /**
   * Directories the shim needs but cannot use: a missing kubelet root finds no VM, a
   * missing KSM directory leaves KSM unmanaged. The shim still runs (the directory may
   * appear), but says so loudly and is not ready.
   */
  pathProblems(): string[] {
    const problems: string[] = [];
    const usableDirectory = (dir: string): boolean => {
      try {
        accessSync(dir, constants.R_OK | constants.X_OK);
        return statSync(dir).isDirectory();
      } catch {
        return false;
      }
    };
    if (!usableDirectory(this.options.kubeletRoot)) problems.push(`--kubelet-root "${this.options.kubeletRoot}" is missing or unreadable: no VM can be found`);
    if (this.options.ksmDir !== undefined && !usableDirectory(this.options.ksmDir)) problems.push(`--ksm-dir "${this.options.ksmDir}" is missing or unreadable: KSM is not managed`);
    return problems;
  }

  ready(): { ok: boolean; detail: string } {
    const problems = this.pathProblems();
    if (problems.length > 0) return { ok: false, detail: problems.join('; ') };
    if (this.loop.cycles === 0) return { ok: false, detail: 'no loop cycle yet' };
    const counts = new Map<string, number>();
    for (const s of this.registry.all()) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
    return { ok: true, detail: `ready; sidecars ${SESSION_STATES.map((s) => `${s}=${counts.get(s) ?? 0}`).join(' ')}` };
  }

  /** Warns when the cgroup read as the kubelet's pods cgroup does not carry the kubelet's limit (host/pods-limit.ts). */
  private checkPodsLimit(): void {
    const reserved = this.options.kubeletReservedBytes;
    if (reserved === undefined || !this.kubeletSignals) return;
    let memTotal: number;
    try {
      memTotal = readMeminfo(this.options.meminfoFile, Date.now()).memTotalBytes;
    } catch {
      return;
    }
    const mismatch = podsLimitMismatch(memTotal, reserved, this.kubeletSignals.read(memTotal).allocatableCapacityBytes);
    if (mismatch) {
      this.log.warn(
        { podsCgroup: this.kubeletSignals.kubepods()?.relative, ...mismatch },
        "the pods cgroup's memory limit is not MemTotal - systemReserved - kubeReserved from the kubelet's config: check --kubepods-cgroup and --cgroup-driver",
      );
    }
  }

  /** Where the kubelet's signals are read from, for the start log. */
  private kubeletSignalsSummary(): Record<string, unknown> | null {
    const reader = this.kubeletSignals;
    if (!reader) return null;
    const layout = reader.layout();
    if ('reason' in layout) return { root: reader.options.cgroupRoot, problem: layout.detail };
    const kubepods = reader.kubepods();
    return { root: reader.options.cgroupRoot, version: layout.version, kubepods: kubepods?.relative ?? null, driver: kubepods?.driver ?? null };
  }

  private setPsiMode(mode: PsiTriggerMode): void {
    for (const m of ['kernel', 'polling', 'off'] as const) this.metrics.psiMode.set({ mode: m }, m === mode ? 1 : 0);
  }
}
