/**
 * Real memory pressure for tests: a shell in a small memory cgroup re-reading a file
 * larger than the cgroup's limit. Its page cache thrashes, and the reclaim stalls
 * are real memory stalls that the kernel counts in /proc/pressure/memory.
 * Works with cgroup v1 (memory.limit_in_bytes) and v2 (memory.max).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, rmdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';

function memoryCgroupRoot(): { dir: string; limitFile: string } {
  if (existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes') || existsSync('/sys/fs/cgroup/memory/cgroup.procs')) {
    return { dir: '/sys/fs/cgroup/memory', limitFile: 'memory.limit_in_bytes' };
  }
  return { dir: '/sys/fs/cgroup', limitFile: 'memory.max' };
}

export class MemoryPressure {
  private readonly file = path.join(os.tmpdir(), `kubemom-thrash-${process.pid}.bin`);
  private readonly cgroup: string;
  private readonly limitFile: string;
  private child: ChildProcess | undefined;

  constructor(
    private readonly fileBytes = 96 * 2 ** 20,
    private readonly limitBytes = 8 * 2 ** 20,
  ) {
    const root = memoryCgroupRoot();
    this.cgroup = path.join(root.dir, `kubemom-test-${process.pid}`);
    this.limitFile = root.limitFile;
  }

  /** Writes the file and creates the cgroup (not yet any pressure). */
  prepare(): void {
    const fd = openSync(this.file, 'w');
    const chunk = randomBytes(2 ** 20);
    for (let written = 0; written < this.fileBytes; written += chunk.length) writeSync(fd, chunk);
    // Clean pages only: the reader drops them from the page cache before it starts.
    fsyncSync(fd);
    closeSync(fd);
    mkdirSync(this.cgroup, { recursive: true });
    writeFileSync(path.join(this.cgroup, this.limitFile), String(this.limitBytes));
  }

  /** Starts thrashing for `seconds`; resolves when the reader runs inside the cgroup. */
  start(seconds: number): void {
    // The file's pages were cached (and charged) when the test wrote it: drop them
    // (posix_fadvise DONTNEED through dd) so every read inside the cgroup misses.
    const script = `echo $$ > ${this.cgroup}/cgroup.procs; dd if=${this.file} iflag=nocache count=0 status=none; end=$((SECONDS+${seconds})); while [ $SECONDS -lt $end ]; do cat ${this.file} > /dev/null; done`;
    this.child = spawn('bash', ['-c', script], { stdio: 'ignore' });
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
    }
  }

  async finished(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => child.once('exit', () => resolve()));
  }

  /** Removes the cgroup and the file. */
  async cleanup(): Promise<void> {
    await this.stop();
    for (let i = 0; i < 20 && existsSync(this.cgroup); i++) {
      try {
        rmdirSync(this.cgroup);
      } catch {
        await new Promise((r) => setTimeout(r, 100)); // the killed shell is still leaving
      }
    }
    rmSync(this.file, { force: true });
  }
}

/** Cumulative "some" memory stall from the PSI file, microseconds. */
export function someStallUs(file = '/proc/pressure/memory'): number {
  return Number(/^some .*total=([0-9]+)/m.exec(readFileSync(file, 'utf8'))![1]);
}
