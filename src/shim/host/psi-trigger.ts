/**
 * Wakes the shim when memory pressure crosses a threshold, through the kernel's PSI
 * trigger: a descriptor of /proc/pressure/memory opened O_RDWR, armed by writing
 * "<some|full> <stall µs> <window µs>", then polled for POLLPRI. The kernel signals
 * within its own accounting (about 2 ms granularity), so the loop wakes within a
 * few milliseconds of the threshold being crossed, far inside 100 ms.
 *
 * Node has no way to wait for POLLPRI, so native/psi-trigger (a small N-API addon,
 * built by node-gyp at install) hands the descriptor to libuv's uv_poll with
 * UV_PRIORITIZED on the main loop: no thread, no busy wait. When the addon is
 * missing or the kernel refuses the trigger (no PSI, no CAP_SYS_RESOURCE for a
 * window that is not a multiple of 2 s, an old kernel), the watcher falls back to
 * reading the PSI file every `pollMs` and applying the same rule to the cumulative
 * `total`; the mode is exported as a metric so nobody mistakes one for the other.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { packageRoot } from '../../common/paths.js';
import { parsePsi } from './meminfo.js';

export type PsiTriggerMode = 'kernel' | 'polling' | 'off';

export interface PsiTriggerOptions {
  /** /proc/pressure/memory, or a cgroup v2 memory.pressure. */
  file: string;
  kind: 'some' | 'full';
  /** Stall time within the window that fires the trigger, microseconds. */
  stallUs: number;
  /** Window, microseconds (the kernel accepts 500 ms to 10 s). */
  windowUs: number;
  /** Fallback polling period; default 50 ms. */
  pollMs?: number;
  /** Skip the kernel trigger (tests of the fallback, or a kernel known to misbehave). */
  forcePolling?: boolean;
}

interface Addon {
  open(file: string, trigger: string, callback: (event: string) => void): unknown;
  close(handle: unknown): void;
}

let addonCache: Addon | Error | undefined;

/** The native addon, or the error that kept it from loading. */
export function loadPsiAddon(): Addon | Error {
  if (addonCache) return addonCache;
  try {
    const require = createRequire(import.meta.url);
    addonCache = require(path.join(packageRoot, 'native', 'psi-trigger', 'build', 'Release', 'psi_trigger.node')) as Addon;
  } catch (error) {
    addonCache = error as Error;
  }
  return addonCache;
}

/** Validates the trigger parameters against what the kernel accepts. */
export function psiTriggerSpec(options: Pick<PsiTriggerOptions, 'kind' | 'stallUs' | 'windowUs'>): string {
  if (options.windowUs < 500_000 || options.windowUs > 10_000_000) throw new Error(`PSI window ${options.windowUs} µs: the kernel accepts 500000 to 10000000`);
  if (options.stallUs <= 0 || options.stallUs > options.windowUs) throw new Error(`PSI stall ${options.stallUs} µs: must be above 0 and at most the window`);
  return `${options.kind} ${Math.round(options.stallUs)} ${Math.round(options.windowUs)}`;
}

/**
 * Emits 'pressure' (with the time it was noticed, ms) when the threshold is
 * crossed; at most once per window, like the kernel. Emits 'mode' on changes.
 */
export class PsiTrigger extends EventEmitter {
  mode: PsiTriggerMode = 'off';
  /** Why the kernel trigger is not used, when it is not. */
  fallbackReason: string | undefined;
  events = 0;
  private handle: unknown;
  private addon: Addon | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private readonly totals: Array<{ atMs: number; totalUs: number }> = [];
  private lastFiredMs = -Infinity;

  constructor(private readonly options: PsiTriggerOptions) {
    super();
  }

  start(): PsiTriggerMode {
    const spec = psiTriggerSpec(this.options);
    if (!this.options.forcePolling) {
      const addon = loadPsiAddon();
      if (addon instanceof Error) {
        this.fallbackReason = `native addon not loaded: ${addon.message.split('\n')[0]}`;
      } else {
        try {
          this.handle = addon.open(this.options.file, spec, (event) => this.onKernelEvent(event));
          this.addon = addon;
          this.mode = 'kernel';
          return this.mode;
        } catch (error) {
          const message = (error as Error).message;
          // Without CAP_SYS_RESOURCE the kernel only takes windows that are multiples of 2 s
          // (and serves them from its 2 s averaging work, too late for the 100 ms goal).
          const hint = /Invalid argument/.test(message) && this.options.windowUs % 2_000_000 !== 0 ? ' (a window under 2 s needs CAP_SYS_RESOURCE)' : '';
          this.fallbackReason = `kernel refused the trigger: ${message}${hint}`;
        }
      }
    } else {
      this.fallbackReason = 'polling forced';
    }
    this.startPolling();
    return this.mode;
  }

  stop(): void {
    if (this.addon && this.handle !== undefined) this.addon.close(this.handle);
    this.handle = undefined;
    this.addon = undefined;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    this.mode = 'off';
  }

  private onKernelEvent(event: string): void {
    if (event === 'pressure') {
      this.fire(Date.now());
      return;
    }
    // The descriptor died (e.g. its cgroup was removed): keep watching by polling.
    this.handle = undefined;
    this.addon = undefined;
    this.fallbackReason = 'kernel trigger reported an error';
    this.startPolling();
    this.emit('mode', this.mode);
  }

  private startPolling(): void {
    this.mode = 'polling';
    const pollMs = this.options.pollMs ?? 50;
    this.pollTimer = setInterval(() => this.poll(Date.now()), pollMs);
    this.pollTimer.unref();
  }

  /** The polling rule: the stall time accumulated over the last window reaches the threshold. */
  private poll(nowMs: number): void {
    let totalUs: number;
    try {
      const psi = parsePsi(readFileSync(this.options.file, 'utf8'));
      totalUs = this.options.kind === 'some' ? psi.someTotalUs : psi.fullTotalUs;
    } catch {
      return;
    }
    const windowMs = this.options.windowUs / 1000;
    this.totals.push({ atMs: nowMs, totalUs });
    while (this.totals.length > 1 && this.totals[0]!.atMs < nowMs - windowMs) this.totals.shift();
    const oldest = this.totals[0]!;
    if (totalUs - oldest.totalUs >= this.options.stallUs && nowMs - this.lastFiredMs >= windowMs) this.fire(nowMs);
  }

  private fire(nowMs: number): void {
    this.lastFiredMs = nowMs;
    this.events++;
    this.emit('pressure', nowMs);
  }
}
