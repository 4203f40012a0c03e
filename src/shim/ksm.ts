/**
 * The KSM controller: applies the policy's KSM settings to /sys/kernel/mm/ksm.
 *
 * - It writes only values that differ from the live ones (read just before).
 * - It notices another writer (KubeVirt's own KSM handler, an admin, tuned): the
 *   controls it writes (run, pages_to_scan, sleep_millisecs, merge_across_nodes)
 *   change only when someone writes them, unlike the counters the kernel updates
 *   (pages_shared, full_scans, ...), which are never compared. Two kernel-made
 *   changes are allowed for: pages_to_scan while the kernel's scan advisor is on
 *   (advisor_mode other than "none"), and run falling from 2 to 0 when an unmerge
 *   fails. When a control it set has changed under it, it stops writing for a
 *   back-off (doubling each time), counts it and logs it, and hands that control
 *   to the other writer: it will not restore it on exit.
 * - KubeVirt's KSM handler hands a node back once: when the node stops matching
 *   its `ksmConfiguration.nodeLabelSelector`, virt-handler writes `run=0` a single
 *   time, up to 3 minutes later (pkg/virt-handler/ksm/ksm.go). A change of `run` alone
 *   to 0, with every other control as the shim left it, is taken as that handover, not
 *   a fight: counted apart, logged, and the shim carries on. A second one within the
 *   handover window is a fight again (a writer that keeps switching KSM off).
 * - On stop it restores each control it changed to the value it found, unless
 *   someone else changed it since.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { ksmValueProblem } from '../policy/ksm-ranges.js';
import path from 'node:path';
import type { Logger } from '../common/log.js';
import type { KsmControl } from '../policy/types.js';

/** Controls in the order they are written (merge_across_nodes only takes effect with nothing merged). */
export const KSM_CONTROLS: readonly KsmControl[] = ['merge_across_nodes', 'sleep_millisecs', 'pages_to_scan', 'advisor_max_cpu', 'run'];

export interface KsmControllerOptions {
  /** Default /sys/kernel/mm/ksm. */
  dir: string;
  /** First back-off after another writer is seen; default 60 s. */
  initialBackoffMs?: number;
  /** Default 30 min. */
  maxBackoffMs?: number;
  /** A lone run=0 counts as a handover at most once per this window; default 30 min. */
  handoverWindowMs?: number;
}

export interface KsmObserver {
  onWrite?(file: KsmControl, value: number): void;
  onWriteError?(file: KsmControl, error: Error): void;
  onForeignWrite?(file: KsmControl, ours: number, found: number): void;
  /** Another writer set run=0 once, alone: KubeVirt's handler letting the node go. */
  onHandover?(ours: number): void;
}

export interface KsmApplyResult {
  written: Partial<Record<KsmControl, number>>;
  /** Controls found changed by another writer in this call. */
  foreign: KsmControl[];
  /** True when this call found a handover (a lone run=0) and carried on. */
  handover?: boolean;
  /** True when nothing was written because of the back-off. */
  backingOff: boolean;
}

export class KsmController {
  /** The values found at start, for restore. */
  private initial: Partial<Record<KsmControl, number>> = {};
  /** What we last wrote and read back, per control: what must still be there. */
  private expected: Partial<Record<KsmControl, number>> = {};
  /** Controls we changed and still own (restored on stop). */
  private readonly owned = new Set<KsmControl>();
  private backoffUntilMs = 0;
  private initialAdvisorMode: string | undefined;
  private expectedAdvisorMode: string | undefined;
  private backoffMs: number;
  foreignWrites = 0;
  handovers = 0;
  private lastHandoverMs: number | undefined;

  constructor(
    private readonly options: KsmControllerOptions,
    private readonly log: Logger,
    private readonly observer: KsmObserver = {},
  ) {
    this.backoffMs = options.initialBackoffMs ?? 60_000;
  }

  /** Whether KSM exists here (the directory has a run file). */
  available(): boolean {
    try {
      readFileSync(path.join(this.options.dir, 'run'), 'utf8');
      return true;
    } catch {
      return false;
    }
  }

  /** Every numeric KSM file by name (advisor_mode and the like are skipped). */
  read(): Record<string, number> {
    const values: Record<string, number> = {};
    let names: string[];
    try {
      names = readdirSync(this.options.dir);
    } catch {
      return values;
    }
    for (const name of names) {
      try {
        const text = readFileSync(path.join(this.options.dir, name), 'utf8').trim();
        if (/^-?[0-9]+$/.test(text)) values[name] = Number(text);
      } catch {
        // Write-only or vanished file.
      }
    }
    return values;
  }

  /** The KSM advisor mode in force ("none", "scan-time"), or undefined on kernels without the advisor. */
  advisorMode(): string | undefined {
    try {
      // "[none] scan-time": the bracketed word is the mode in force.
      return /\[([^\]]+)\]/.exec(readFileSync(path.join(this.options.dir, 'advisor_mode'), 'utf8'))?.[1];
    } catch {
      return undefined;
    }
  }

  /**
   * Switches the kernel's KSM advisor (Linux 6.9+) when the policy asks for another
   * mode; the mode found at start is restored on stop() if it is still ours.
   */
  setAdvisorMode(mode: 'none' | 'scan-time', nowMs: number): boolean {
    const live = this.advisorMode();
    if (live === undefined || live === mode || this.backingOff(nowMs)) return false;
    try {
      writeFileSync(path.join(this.options.dir, 'advisor_mode'), mode);
    } catch (error) {
      this.log.warn({ file: 'advisor_mode', value: mode, err: (error as Error).message }, 'KSM write failed');
      return false;
    }
    this.initialAdvisorMode ??= live;
    this.expectedAdvisorMode = mode;
    return true;
  }

  /** Remembers the current settings so that stop() can restore them. */
  start(): void {
    const live = this.read();
    for (const control of KSM_CONTROLS) if (live[control] !== undefined) this.initial[control] = live[control];
  }

  /** Whether the shim is leaving KSM to another writer now. */
  backingOff(nowMs: number): boolean {
    return nowMs < this.backoffUntilMs;
  }

  /**
   * Applies the desired controls: checks for another writer, then writes the values
   * that differ from the live ones.
   */
  apply(desired: Partial<Record<KsmControl, number>>, nowMs: number): KsmApplyResult {
    const live = this.read();
    const handover = this.detectHandover(live, nowMs);
    const foreign = handover ? [] : this.detectForeign(live, nowMs);
    const result: KsmApplyResult = { written: {}, foreign, backingOff: false, ...(handover ? { handover } : {}) };
    if (this.backingOff(nowMs)) {
      result.backingOff = true;
      return result;
    }
    const advisorOn = this.advisorOn();
    for (const control of KSM_CONTROLS) {
      const want = desired[control];
      if (want === undefined) continue;
      const problem = ksmValueProblem(control, want);
      if (problem !== undefined) {
        // The last line of defence: the engine already drops such values.
        this.log.warn({ file: control, value: want }, `KSM value refused: ${problem}`);
        continue;
      }
      if (control === 'pages_to_scan' && advisorOn) continue; // the kernel's advisor owns it
      const value = Math.trunc(want);
      if (live[control] === value) {
        if (this.expected[control] !== undefined) this.expected[control] = value;
        continue;
      }
      if (live[control] === undefined) continue; // this kernel has no such file
      try {
        writeFileSync(path.join(this.options.dir, control), String(value));
      } catch (error) {
        this.log.warn({ file: control, value, err: (error as Error).message }, 'KSM write failed');
        this.observer.onWriteError?.(control, error as Error);
        continue;
      }
      const readBack = this.readControl(control) ?? value;
      this.expected[control] = readBack;
      this.owned.add(control);
      result.written[control] = value;
      this.observer.onWrite?.(control, value);
    }
    return result;
  }

  /** Restores the controls the shim changed and still owns. */
  stop(): Partial<Record<KsmControl, number>> {
    const restored: Partial<Record<KsmControl, number>> = {};
    const live = this.read();
    for (const control of [...KSM_CONTROLS].reverse()) {
      const initial = this.initial[control];
      if (!this.owned.has(control) || initial === undefined) continue;
      if (live[control] !== this.expected[control]) continue; // someone else set it since: theirs now
      if (live[control] === initial) continue;
      try {
        writeFileSync(path.join(this.options.dir, control), String(initial));
        restored[control] = initial;
      } catch (error) {
        this.log.warn({ file: control, value: initial, err: (error as Error).message }, 'KSM restore failed');
      }
    }
    if (this.initialAdvisorMode !== undefined && this.advisorMode() === this.expectedAdvisorMode) {
      try {
        writeFileSync(path.join(this.options.dir, 'advisor_mode'), this.initialAdvisorMode);
      } catch (error) {
        this.log.warn({ file: 'advisor_mode', err: (error as Error).message }, 'KSM restore failed');
      }
    }
    this.initialAdvisorMode = undefined;
    this.expectedAdvisorMode = undefined;
    this.owned.clear();
    this.expected = {};
    if (Object.keys(restored).length > 0) this.log.info({ restored }, 'KSM restored as found');
    return restored;
  }

  /**
   * A lone run=0 over the shim's run, everything else untouched, and none in the
   * window: the handover. The shim keeps its controls and writes its run again.
   */
  private detectHandover(live: Record<string, number>, nowMs: number): boolean {
    const ours = this.expected.run;
    if (ours === undefined || ours === 0 || live['run'] !== 0) return false;
    for (const control of KSM_CONTROLS) {
      if (control === 'run' || this.expected[control] === undefined || live[control] === undefined) continue;
      if (control === 'pages_to_scan' && this.advisorOn()) continue;
      if (live[control] !== this.expected[control]) return false;
    }
    if (this.lastHandoverMs !== undefined && nowMs - this.lastHandoverMs < (this.options.handoverWindowMs ?? 30 * 60_000)) return false;
    this.lastHandoverMs = nowMs;
    this.handovers++;
    this.expected.run = 0;
    this.observer.onHandover?.(ours);
    this.log.info({ ours }, "another writer set KSM run=0 once (KubeVirt's handler letting the node go): not a fight, the shim carries on");
    return true;
  }

  private detectForeign(live: Record<string, number>, nowMs: number): KsmControl[] {
    const foreign: KsmControl[] = [];
    const advisorOn = this.advisorOn();
    for (const control of KSM_CONTROLS) {
      const ours = this.expected[control];
      const found = live[control];
      if (ours === undefined || found === undefined || ours === found) continue;
      if (control === 'pages_to_scan' && advisorOn) continue;
      if (control === 'run' && ours === 2 && found === 0) continue; // the kernel gave up an unmerge
      foreign.push(control);
      this.foreignWrites++;
      this.observer.onForeignWrite?.(control, ours, found);
      delete this.expected[control];
      this.owned.delete(control);
    }
    if (foreign.length > 0) {
      this.backoffUntilMs = nowMs + this.backoffMs;
      this.log.warn(
        { files: foreign, backoffMs: this.backoffMs },
        'another writer changed KSM settings the shim had made; leaving KSM alone for the back-off',
      );
      this.backoffMs = Math.min(this.options.maxBackoffMs ?? 30 * 60_000, this.backoffMs * 2);
    }
    return foreign;
  }

  private readControl(control: KsmControl): number | undefined {
    try {
      const text = readFileSync(path.join(this.options.dir, control), 'utf8').trim();
      return /^-?[0-9]+$/.test(text) ? Number(text) : undefined;
    } catch {
      return undefined;
    }
  }

  private advisorOn(): boolean {
    const mode = this.advisorMode(); // undefined on kernels before the advisor
    return mode !== undefined && mode !== 'none';
  }
}
