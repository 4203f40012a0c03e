/**
 * Shared pieces of the benches: the inputs (the bundled KubeVirt fixtures and a
 * 10x larger domain), a sidecar started as its own process, /proc memory readings,
 * percentiles and a compact table printer.
 *
 * Benches measure and print; they never assert (figures depend on the machine).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../../src/common/paths.js';
import { SOCKET_NAME } from '../../src/api/kubemom-v1.js';

/** The bundled KubeVirt domain XML and VMI JSON, as virt-launcher would send them. */
export function loadFixtures(): { domainXml: string; vmiJson: string } {
  return {
    domainXml: readFileSync(path.join(packageRoot, 'fixtures', 'kubevirt-domain.xml'), 'utf8'),
    vmiJson: readFileSync(path.join(packageRoot, 'fixtures', 'kubevirt-vmi.json'), 'utf8'),
  };
}

/**
 * The fixture with `factor` times its devices: every child of `<devices>` repeated,
 * aliases suffixed per copy so the copies stay distinguishable (as a VM with many
 * disks and NICs would have). Everything outside `<devices>` is unchanged.
 */
export function multiplyDevices(domainXml: string, factor: number): string {
  const open = domainXml.indexOf('<devices>');
  const close = domainXml.indexOf('</devices>');
  if (open < 0 || close < open) throw new Error('the domain has no <devices> element to multiply');
  const inner = domainXml.slice(open + '<devices>'.length, close);
  const copies = [inner];
  for (let copy = 1; copy < factor; copy++) copies.push(inner.replace(/<alias name="([^"]*)"/g, `<alias name="$1-${copy}"`));
  return domainXml.slice(0, open + '<devices>'.length) + copies.join('') + domainXml.slice(close);
}

/** Number of direct children of `<devices>` (a rough count: one per line at that indent). */
export function countDevices(domainXml: string): number {
  const inner = domainXml.slice(domainXml.indexOf('<devices>'), domainXml.indexOf('</devices>'));
  return (inner.match(/^ {4}<[a-z]/gm) ?? []).length;
}

export interface SidecarProcess {
  pid: number;
  /** The hook socket, `<hooksDir>/kubemom.sock`. */
  socketPath: string;
  hooksDir: string;
  /** The last few KiB the sidecar wrote to stderr (its logs), to explain failures. */
  stderrTail(): string;
  /** Resolves with the exit code, or the signal's name, once the process has ended. */
  exited: Promise<number | string>;
  /** SIGTERM (if still running), wait for exit, remove the temporary directory. */
  stop(): Promise<void>;
}

/** Where and how startSidecarProcess runs the sidecar, beyond the launch command. */
export interface SidecarProcessOptions {
  /** Default 15 s. */
  timeoutMs?: number;
  /** Arguments after `sidecar --hooks-dir DIR` (e.g. `--qmp-dir-owner`, `--pod-uid`). */
  extraArgs?: string[];
  /**
   * A directory the caller made; the hook dir is `<root>/hook-sidecar-0` and stop() removes
   * root. Default: a fresh private directory under the OS temp dir.
   */
  dir?: { root: string; hooksDir: string };
  /** Pass the sidecar's stdout through to ours (e.g. V8's --trace-gc lines); default: discarded. */
  inheritStdout?: boolean;
}

/** The command line that starts a sidecar: node flags, then the entry script and its arguments. */
export interface SidecarLaunch {
  /** Executable, `process.execPath` (node) unless a launcher script is measured. */
  command?: string;
  /** Arguments before `sidecar --hooks-dir DIR` (node flags and the entry script). */
  args: string[];
  env?: NodeJS.ProcessEnv;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Starts `kubemom sidecar` as a separate process on a fresh hook directory and waits
 * until its socket exists (the server registers every service before binding).
 * Its logs go nowhere: they are part of the cost measured, not of the output.
 */
export async function startSidecarProcess(launch: SidecarLaunch, timeoutOrOptions: number | SidecarProcessOptions = {}): Promise<SidecarProcess> {
  const options = typeof timeoutOrOptions === 'number' ? { timeoutMs: timeoutOrOptions } : timeoutOrOptions;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const root = options.dir?.root ?? mkdtempSync(path.join(os.tmpdir(), 'kubemom-bench-'));
  const hooksDir = options.dir?.hooksDir ?? path.join(root, 'hook-sidecar-0');
  const socketPath = path.join(hooksDir, SOCKET_NAME);
  const child = spawn(launch.command ?? process.execPath, [...launch.args, 'sidecar', '--hooks-dir', hooksDir, ...(options.extraArgs ?? [])], {
    stdio: ['ignore', options.inheritStdout ? 'inherit' : 'ignore', 'pipe'],
    env: { ...process.env, ...launch.env },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    // Keep only the tail, to explain a failed start without growing without bound.
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await waitForExit(child);
    rmSync(root, { recursive: true, force: true });
  };
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(socketPath)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`sidecar (${[launch.command ?? 'node', ...launch.args].join(' ')}) did not create ${SOCKET_NAME}: ${stderr.trim()}`);
    }
    await sleep(10);
  }
  if (child.pid === undefined) throw new Error('sidecar process has no pid');
  return { pid: child.pid, socketPath, hooksDir, stderrTail: () => stderr, exited, stop };
}

export interface ProcMemory {
  /** VmRSS, KiB. */
  rssKiB: number;
  /** RssAnon, KiB: heap, stacks, JIT code — what the process itself allocated. */
  rssAnonKiB: number;
  /** RssFile, KiB: mapped file pages (mostly the node binary). */
  rssFileKiB: number;
}

/** Reads VmRSS, RssAnon and RssFile from /proc/PID/status. */
export function readProcMemory(pid: number): ProcMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!match) throw new Error(`/proc/${pid}/status has no ${name}`);
    return Number(match[1]);
  };
  return { rssKiB: field('VmRSS'), rssAnonKiB: field('RssAnon'), rssFileKiB: field('RssFile') };
}

/** Nearest-rank percentile of already sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export interface LatencySummary {
  p50: number;
  p99: number;
  max: number;
  n: number;
}

export function summarize(samplesMs: number[]): LatencySummary {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN, n: sorted.length };
}

export function mib(kib: number): string {
  return (kib / 1024).toFixed(1);
}

export function ms(value: number): string {
  return value < 1 ? value.toFixed(3) : value.toFixed(2);
}

export function ratio(value: number, baseline: number): string {
  return `${(value / baseline).toFixed(2)}x`;
}

/** Prints rows as a left-aligned table with a header rule. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

/** True when this module's file is the script node was started with (a bench run alone). */
export function isMain(importMetaUrl: string): boolean {
  const script = process.argv[1];
  return script !== undefined && path.resolve(script) === fileURLToPath(importMetaUrl);
}
