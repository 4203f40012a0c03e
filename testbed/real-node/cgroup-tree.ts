/**
 * A kubelet-shaped memory cgroup tree on this machine, for the real-node runs: a parent
 * cgroup of the run's own, `kubepods` under it with a memory limit (the node's allocatable
 * plus the eviction threshold, as the kubelet sizes it), `kubepods/burstable`, and one
 * `pod<uid>` cgroup per pod with the pod's memory limit (the cgroupfs driver's names).
 *
 * cgroup v1 (the memory controller mounted at `<mount>/memory`) and v2 (`memory` listed in
 * `<mount>/cgroup.controllers`) are both handled; the parent goes under the memory cgroup of
 * this process, where it may make children (a run never touches cgroups it did not make).
 *
 * Processes go in by writing their pid to `cgroup.procs`. The kernel no longer moves a
 * task's existing charges with it (v1's move_charge_at_immigrate was removed in Linux 6.13,
 * v2 never had it), so a process must enter its pod cgroup before it allocates: QEMU is
 * started paused and moved before its guest runs, other processes start inside (a shell
 * that writes its own pid, then execs).
 *
 * remove() takes every cgroup away again, deepest first; a task still inside (something
 * that outlived its run) is moved back to this process's cgroup first, never killed.
 * An exit hook does the same when the run dies without calling remove().
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export type CgroupVersion = 'v1' | 'v2';

export interface CgroupMount {
  version: CgroupVersion;
  /** Where memory cgroups live: `<mount>/memory` on v1, the mount itself on v2. */
  memoryRoot: string;
}

/** Which hierarchy holds the memory controller under `mount` (default /sys/fs/cgroup). */
export function memoryMount(mount = '/sys/fs/cgroup'): CgroupMount {
  try {
    if (readFileSync(path.join(mount, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('memory')) return { version: 'v2', memoryRoot: mount };
  } catch {
    // Not a v2 mount.
  }
  const v1 = path.join(mount, 'memory');
  if (existsSync(path.join(v1, 'memory.usage_in_bytes'))) return { version: 'v1', memoryRoot: v1 };
  throw new Error(`no memory cgroup controller under ${mount}: neither cgroup.controllers listing "memory" (v2) nor memory/memory.usage_in_bytes (v1)`);
}

/** This process's memory cgroup, relative to the memory root, from /proc/self/cgroup. */
export function ownMemoryCgroup(version: CgroupVersion, procSelfCgroup = readFileSync('/proc/self/cgroup', 'utf8')): string {
  for (const line of procSelfCgroup.split('\n')) {
    const [, controllers, where] = /^[0-9]+:([^:]*):(.*)$/.exec(line) ?? [];
    if (where === undefined) continue;
    if (version === 'v2' ? controllers === '' : controllers!.split(',').includes('memory')) return where;
  }
  throw new Error(`/proc/self/cgroup names no ${version === 'v2' ? 'unified (0::)' : 'memory'} cgroup`);
}

/** The files of one memory cgroup, by what they mean (the names differ between v1 and v2). */
export interface MemoryFiles {
  usage: string;
  limit: string;
  stat: string;
  /** v1: memory.oom_control (`oom_kill N`); v2: memory.events (`oom_kill N`). */
  oomEvents: string;
}

export function memoryFiles(version: CgroupVersion, dir: string): MemoryFiles {
  return version === 'v1'
    ? { usage: path.join(dir, 'memory.usage_in_bytes'), limit: path.join(dir, 'memory.limit_in_bytes'), stat: path.join(dir, 'memory.stat'), oomEvents: path.join(dir, 'memory.oom_control') }
    : { usage: path.join(dir, 'memory.current'), limit: path.join(dir, 'memory.max'), stat: path.join(dir, 'memory.stat'), oomEvents: path.join(dir, 'memory.events') };
}

/** One cgroup of the tree. */
export interface Cgroup {
  /** Absolute directory. */
  dir: string;
  /** Path below the tree's parent, e.g. `kubepods/burstable/pod<uid>`. */
  name: string;
  files: MemoryFiles;
}

const trees = new Set<CgroupTree>();
process.on('exit', () => {
  for (const tree of trees) tree.removeSync();
});

export class CgroupTree {
  /** The run's parent cgroup: plays the node's root cgroup. */
  readonly parent: Cgroup;
  readonly kubepods: Cgroup;
  readonly burstable: Cgroup;
  private readonly made: Cgroup[] = [];
  private readonly homeProcs: string;

  private constructor(
    readonly mount: CgroupMount,
    parentDir: string,
    kubepodsLimitBytes: number,
  ) {
    this.homeProcs = path.join(path.dirname(parentDir), 'cgroup.procs');
    this.parent = this.make(parentDir, '');
    trees.add(this);
    if (mount.version === 'v2') {
      // v2 hands the memory controller to children only when asked, level by level.
      writeFileSync(path.join(parentDir, 'cgroup.subtree_control'), '+memory');
    }
    this.kubepods = this.child('kubepods', kubepodsLimitBytes);
    if (mount.version === 'v2') writeFileSync(path.join(this.kubepods.dir, 'cgroup.subtree_control'), '+memory');
    this.burstable = this.child('kubepods/burstable');
    if (mount.version === 'v2') writeFileSync(path.join(this.burstable.dir, 'cgroup.subtree_control'), '+memory');
  }

  /**
   * Makes the tree under this process's memory cgroup (`<own>/kubemom-node-<random>`), with
   * `kubepods` limited to `kubepodsLimitBytes`.
   */
  static create(kubepodsLimitBytes: number, mount: CgroupMount = memoryMount()): CgroupTree {
    const own = path.join(mount.memoryRoot, ownMemoryCgroup(mount.version));
    const parentDir = path.join(own, `kubemom-node-${randomUUID().slice(0, 8)}`);
    try {
      mkdirSync(parentDir);
    } catch (error) {
      throw new Error(`cannot make a memory cgroup under ${own} (this process's own): ${(error as Error).message}`);
    }
    try {
      return new CgroupTree(mount, parentDir, kubepodsLimitBytes);
    } catch (error) {
      rmdirSync(parentDir);
      throw error;
    }
  }

  private make(dir: string, name: string): Cgroup {
    if (!existsSync(dir)) mkdirSync(dir);
    const cgroup = { dir, name, files: memoryFiles(this.mount.version, dir) };
    this.made.push(cgroup);
    return cgroup;
  }

  /** A child cgroup `name` (below the parent), with a memory limit when given. */
  child(name: string, limitBytes?: number): Cgroup {
    const cgroup = this.make(path.join(this.parent.dir, name), name);
    if (limitBytes !== undefined) writeFileSync(cgroup.files.limit, String(limitBytes));
    return cgroup;
  }

  /** A burstable pod's cgroup, as the kubelet's cgroupfs driver names it. */
  pod(uid: string, limitBytes: number): Cgroup {
    return this.child(`kubepods/burstable/pod${uid}`, limitBytes);
  }

  /** Puts a process (all its threads) into a cgroup. */
  enter(cgroup: Cgroup, pid: number): void {
    writeFileSync(path.join(cgroup.dir, 'cgroup.procs'), String(pid));
  }

  /**
   * Spawns `file args` inside `cgroup` from its first instruction: a shell writes its own
   * pid into the cgroup, then execs the program (same pid, so the child is the program).
   */
  spawnIn(cgroup: Cgroup, file: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const procs = path.join(cgroup.dir, 'cgroup.procs');
    return spawn('/bin/sh', ['-c', 'echo $$ > "$0" && exec "$@"', procs, file, ...args], options);
  }

  /** Pids in a cgroup (not its children). */
  pids(cgroup: Cgroup): number[] {
    try {
      return readFileSync(path.join(cgroup.dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** Removes every cgroup made, deepest first. Idempotent. */
  remove(): void {
    this.removeSync();
  }

  /** Synchronous, so the exit hook can run it too. */
  removeSync(): void {
    const all = [...this.made, ...this.unknownChildren()].sort((a, b) => b.dir.length - a.dir.length);
    const failures: string[] = [];
    for (const cgroup of all) {
      if (!existsSync(cgroup.dir)) continue;
      for (const pid of this.pids(cgroup)) {
        try {
          writeFileSync(this.homeProcs, String(pid));
        } catch {
          // Gone meanwhile.
        }
      }
      try {
        rmdirSync(cgroup.dir);
      } catch (error) {
        failures.push(`${cgroup.dir}: ${(error as Error).message}`);
      }
    }
    trees.delete(this);
    this.made.length = 0;
    if (failures.length > 0) throw new Error(`could not remove memory cgroups: ${failures.join('; ')}`);
  }

  /** Cgroups someone else made inside the tree (libvirt, a runtime): removed too. */
  private unknownChildren(): Cgroup[] {
    const known = new Set(this.made.map((c) => c.dir));
    const found: Cgroup[] = [];
    const walk = (dir: string): void => {
      let entries: string[];
      try {
        entries = readdirSync(dir);
      } catch {
        return;
      }
      for (const entry of entries) {
        const sub = path.join(dir, entry);
        try {
          if (!statSync(sub).isDirectory()) continue;
        } catch {
          continue;
        }
        if (!known.has(sub)) found.push({ dir: sub, name: path.relative(this.parent.dir, sub), files: memoryFiles(this.mount.version, sub) });
        walk(sub);
      }
    };
    if (existsSync(this.parent.dir)) walk(this.parent.dir);
    return found;
  }
}
