/**
 * ksmd's CPU use, from the kernel thread's utime+stime in /proc/<pid>/stat.
 * ksmd is one kernel thread whose PID never changes while the kernel runs, so it
 * is found once by its comm name.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** USER_HZ: clock ticks per second in /proc/<pid>/stat, fixed at 100 on Linux's user ABI. */
const USER_HZ = 100;

/** utime+stime in seconds from a /proc/<pid>/stat line (the comm may contain spaces and parentheses). */
export function cpuSecondsFromStat(stat: string): number {
  const close = stat.lastIndexOf(')');
  if (close < 0) throw new Error('stat line has no ")"');
  const fields = stat.slice(close + 2).trim().split(/\s+/);
  // Fields after the comm start at field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('stat line has no numeric utime/stime');
  return (utime + stime) / USER_HZ;
}

/** The PID of the kernel thread named `comm` (e.g. "ksmd"), or undefined. */
export function findKernelThread(procRoot: string, comm: string): number | undefined {
  for (const entry of readdirSync(procRoot)) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      if (readFileSync(path.join(procRoot, entry, 'comm'), 'utf8').trim() === comm) return Number(entry);
    } catch {
      // The process ended while we looked.
    }
  }
  return undefined;
}

/** Measures ksmd's CPU use as a fraction of one core between successive calls. */
export class KsmdCpuMeter {
  private pid: number | undefined;
  private last: { cpuSeconds: number; atMs: number } | undefined;

  constructor(private readonly procRoot = '/proc') {}

  /** Fraction of one core since the previous call (undefined on the first call or without ksmd). */
  sample(nowMs: number): number | undefined {
    this.pid ??= findKernelThread(this.procRoot, 'ksmd');
    if (this.pid === undefined) return undefined;
    let cpuSeconds: number;
    try {
      cpuSeconds = cpuSecondsFromStat(readFileSync(path.join(this.procRoot, String(this.pid), 'stat'), 'utf8'));
    } catch {
      this.pid = undefined;
      return undefined;
    }
    const previous = this.last;
    this.last = { cpuSeconds, atMs: nowMs };
    if (!previous || nowMs <= previous.atMs) return undefined;
    return Math.max(0, cpuSeconds - previous.cpuSeconds) / ((nowMs - previous.atMs) / 1000);
  }

  /** Total CPU seconds ksmd has used, when found. */
  totalSeconds(): number | undefined {
    return this.last?.cpuSeconds;
  }
}
