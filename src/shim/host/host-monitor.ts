/**
 * The node's memory as the policy sees it, from two sources:
 *
 * - node-exporter (the seeds ask for it), scraped in the background every period
 *   with a timeout, so a slow exporter never lengthens a loop cycle;
 * - /proc/meminfo read directly: when node-exporter is not configured, down, slow,
 *   or answers garbage (a metric and a log line say so), and on a pressure wake-up,
 *   where a scrape's age or latency would defeat the point.
 *
 * PSI (/proc/pressure/memory) and swap activity (/proc/vmstat) are always read
 * directly: they are cheap and must be current.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { Logger } from '../../common/log.js';
import type { HostSample, HostState } from '../../policy/types.js';
import { type EvictionThreshold, thresholdBytes } from './eviction.js';
import type { EvictionSignalReader, EvictionSignals } from './eviction-signals.js';
import { allocatableThresholdBytes } from './kubelet-thresholds.js';
import { parseVmstatSwap, readMeminfo, readPsi } from './meminfo.js';
import { type NodeExporterSnapshot, ScrapeError, type ScrapeFailure, scrapeNodeExporter } from './node-exporter.js';

export type HostSource = 'node-exporter' | 'proc';

export interface HostMonitorOptions {
  meminfoFile: string;
  psiFile: string;
  /** IO PSI (/proc/pressure/io); none: no IO pressure signal. */
  ioPsiFile?: string;
  vmstatFile: string;
  /** node-exporter's /metrics URL; none means /proc only. */
  nodeExporterUrl?: string;
  scrapePeriodMs: number;
  scrapeTimeoutMs: number;
  /** A scrape older than this is not used; default 2 scrape periods. */
  maxScrapeAgeMs?: number;
  evictionHard?: EvictionThreshold;
  evictionSoft?: EvictionThreshold;
  /** evictionSoftGracePeriod of memory.available, ms. */
  evictionSoftGracePeriodMs?: number;
  /** The kubelet's eviction signals from the cgroup files; none: MemAvailable only. */
  kubeletSignals?: EvictionSignalReader;
  /** Node allocatable is enforced on pods (default true, the kubelet's default): allocatableMemory.available counts. */
  enforcePodsAllocatable?: boolean;
  /** Host samples kept for the policy; default 10. */
  historyLength?: number;
}

export interface HostObserver {
  onScrape?(ok: boolean, durationMs: number, failure?: ScrapeFailure): void;
  onSource?(source: HostSource): void;
}

export class HostMonitor {
  readonly history: HostSample[] = [];
  /** The source of the latest sample. */
  source: HostSource = 'proc';
  /** Why node-exporter was not used for the latest sample, when it was not. */
  fallbackReason: string | undefined;
  private snapshot: NodeExporterSnapshot | undefined;
  private scrapeTimer: NodeJS.Timeout | undefined;
  private scraping = false;
  private lastFailure: ScrapeFailure | undefined;
  private lastSwap: { pswpin: number; pswpout: number } | undefined;
  /** The kubelet's signals as last read (also when the policy input leaves allocatable out). */
  lastSignals: EvictionSignals | undefined;

  constructor(
    private readonly options: HostMonitorOptions,
    private readonly log: Logger,
    private readonly observer: HostObserver = {},
  ) {}

  /** Starts background scraping (one scrape right away). */
  async start(): Promise<void> {
    if (!this.options.nodeExporterUrl) return;
    await this.scrape();
    this.scrapeTimer = setInterval(() => void this.scrape(), this.options.scrapePeriodMs);
    this.scrapeTimer.unref();
  }

  stop(): void {
    if (this.scrapeTimer) clearInterval(this.scrapeTimer);
    this.scrapeTimer = undefined;
  }

  /** The latest node-exporter snapshot, if fresh enough. */
  freshSnapshot(nowMs: number): NodeExporterSnapshot | undefined {
    const maxAge = this.options.maxScrapeAgeMs ?? 2 * this.options.scrapePeriodMs;
    const s = this.snapshot;
    // A failed scrape means the exporter is down or lying now: do not lean on its last answer.
    if (this.lastFailure !== undefined) return undefined;
    return s && nowMs - s.memory.atMs <= maxAge ? s : undefined;
  }

  /**
   * Takes a host sample and appends it to the history. `fast` (a pressure wake-up)
   * reads /proc even when node-exporter is healthy.
   */
  sample(nowMs: number, fast: boolean): HostSample {
    const snapshot = fast ? undefined : this.freshSnapshot(nowMs);
    let sample: HostSample;
    let source: HostSource;
    if (snapshot) {
      sample = { ...snapshot.memory, atMs: nowMs };
      source = 'node-exporter';
      this.fallbackReason = undefined;
    } else {
      sample = readMeminfo(this.options.meminfoFile, nowMs);
      source = 'proc';
      this.fallbackReason = fast
        ? 'pressure-fast-path'
        : !this.options.nodeExporterUrl
          ? 'node-exporter-not-configured'
          : `node-exporter-${this.lastFailure ?? 'stale'}`;
    }
    try {
      sample.psi = readPsi(this.options.psiFile);
    } catch {
      // No PSI on this kernel: the policy works without it.
    }
    if (this.options.ioPsiFile) {
      try {
        sample.ioPsi = readPsi(this.options.ioPsiFile);
      } catch {
        // No IO PSI: IO rules that need it are skipped.
      }
    }
    this.addSwap(sample);
    this.addKubeletSignals(sample);
    if (source !== this.source) this.observer.onSource?.(source);
    this.source = source;
    this.history.push(sample);
    while (this.history.length > (this.options.historyLength ?? 10)) this.history.shift();
    return sample;
  }

  /** The policy's HostState around the current history. */
  state(extra: { ksm?: Record<string, number>; ksmAdvisorMode?: string; ksmShareableBytes?: number; ksmdCpuPercent?: number }): HostState {
    const current = this.history[this.history.length - 1];
    const total = current?.memTotalBytes ?? 0;
    const state: HostState = {
      history: this.history,
      cpuCount: os.availableParallelism(),
      evictionHardBytes: thresholdBytes(this.options.evictionHard, total),
    };
    if (this.options.evictionSoft) state.evictionSoftBytes = thresholdBytes(this.options.evictionSoft, total);
    if (this.options.evictionSoftGracePeriodMs !== undefined) state.evictionSoftGracePeriodMs = this.options.evictionSoftGracePeriodMs;
    if (current?.kubeletAllocatableAvailableBytes !== undefined) {
      const allocatable = allocatableThresholdBytes(
        { enforcePodsAllocatable: true, ...(this.options.evictionHard ? { evictionHard: this.options.evictionHard } : {}) },
        this.lastSignals?.allocatableCapacityBytes,
      );
      if (allocatable !== undefined) state.evictionAllocatableHardBytes = allocatable;
    }
    if (extra.ksm) state.ksm = extra.ksm;
    else if (this.snapshot && Object.keys(this.snapshot.ksm).length > 0) state.ksm = this.snapshot.ksm;
    if (extra.ksmAdvisorMode !== undefined) state.ksmAdvisorMode = extra.ksmAdvisorMode;
    if (extra.ksmShareableBytes !== undefined) state.ksmShareableBytes = extra.ksmShareableBytes;
    if (extra.ksmdCpuPercent !== undefined) state.ksmdCpuPercent = extra.ksmdCpuPercent;
    return state;
  }

  /** The kubelet's signals into the sample; allocatableMemory.available only where the kubelet enforces it. */
  private addKubeletSignals(sample: HostSample): void {
    const reader = this.options.kubeletSignals;
    if (!reader) return;
    const signals = reader.read(sample.memTotalBytes);
    this.lastSignals = signals;
    if (signals.memoryAvailableBytes !== undefined) sample.kubeletMemoryAvailableBytes = signals.memoryAvailableBytes;
    if (signals.allocatableAvailableBytes !== undefined && (this.options.enforcePodsAllocatable ?? true)) {
      sample.kubeletAllocatableAvailableBytes = signals.allocatableAvailableBytes;
    }
  }

  private addSwap(sample: HostSample): void {
    let swap: { pswpin: number; pswpout: number } | undefined;
    try {
      swap = parseVmstatSwap(readFileSync(this.options.vmstatFile, 'utf8'));
    } catch {
      swap = undefined;
    }
    if (!swap) return;
    if (this.lastSwap) {
      sample.swapInPages = Math.max(0, swap.pswpin - this.lastSwap.pswpin);
      sample.swapOutPages = Math.max(0, swap.pswpout - this.lastSwap.pswpout);
    }
    this.lastSwap = swap;
  }

  /** One scrape; failures are logged on change and counted, never thrown. */
  async scrape(): Promise<void> {
    const url = this.options.nodeExporterUrl;
    if (!url || this.scraping) return;
    this.scraping = true;
    const started = performance.now();
    try {
      this.snapshot = await scrapeNodeExporter({ url, timeoutMs: this.options.scrapeTimeoutMs });
      const duration = performance.now() - started;
      if (this.lastFailure !== undefined) this.log.info({ url, after: this.lastFailure }, 'node-exporter usable again; host memory from node-exporter');
      this.lastFailure = undefined;
      this.observer.onScrape?.(true, duration);
    } catch (error) {
      const failure = error instanceof ScrapeError ? error.reason : 'garbage';
      const duration = performance.now() - started;
      if (this.lastFailure !== failure) {
        this.log.warn({ url, reason: failure, err: (error as Error).message }, 'node-exporter unusable; host memory from /proc/meminfo');
      }
      this.lastFailure = failure;
      this.observer.onScrape?.(false, duration, failure);
    } finally {
      this.scraping = false;
    }
  }
}
