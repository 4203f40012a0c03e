/**
 * One real-node run: the script (script.ts) on real TCG guests inside a kubelet-shaped
 * memory cgroup tree (cgroup-tree.ts), under one policy.
 *
 * - Each VM pod: a `pod<uid>` cgroup limited to guest memory + overhead, holding the real
 *   sidecar (`bin/kubemom-sidecar`, started inside) and QEMU (started paused by libvirt and
 *   moved in before its guest runs). The shim finds the sidecar through a kubelet tree
 *   (`pods/<uid>/volumes/.../hook-sidecar-0`), as on a node.
 * - The noisy pod: a plain process in its own pod cgroup (noisy-pod.ts).
 * - The shim: `kubemom shim` as its own process, reading the played node's meminfo
 *   (node-view.ts), the machine's real PSI, and the cgroup tree when `cgroupFlags` says how.
 *   It is not in the pods cgroup: it plays a DaemonSet counted in the kubelet's reservation.
 *   Policy `static` runs no shim: the node without KubeMom (the sidecars still rewrite the
 *   domain, nothing moves a balloon).
 * - The run samples the pods cgroup every 500 ms and computes allocatableMemory.available
 *   itself (cgroup-sample.ts), reads the balloons from libvirt (not from KubeMom) every 2 s,
 *   and at the end the OOM counters of the cgroups and what the guests' consoles and
 *   /proc/vmstat say.
 *
 * Everything it makes (cgroups, processes, VMs, files) is gone when it returns or throws.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { reserveBytes } from '../../src/balloon/default-policy.js';
import { logger } from '../../src/common/log.js';
import { packageRoot } from '../../src/common/paths.js';
import { HOOK_SOCKETS_VOLUME } from '../../src/shim/discovery.js';
import { run } from '../exec.js';
import { freeLoopbackPort } from '../prometheus-server.js';
import { SIDECAR_CONTAINER } from '../../src/kubevirt-sim/launcher.js';
import { sidecarHooksDir, type ExternalSidecarTestVm } from '../test-vm.js';
import type { Testbed } from '../testbed.js';
import { qemuUser } from '../users.js';
import { LIBVIRT_URI } from '../virsh.js';
import { allocatableAvailable, readSample, workingSetOf, type CgroupSample } from './cgroup-sample.js';
import { CgroupTree, type Cgroup } from './cgroup-tree.js';
import { runFigures, type BalloonPoint, type NodePoint, type RunFigures } from './figures.js';
import { NodeView, nodeSample } from './node-view.js';
import { NoisyPod } from './noisy-pod.js';
import { diskMiB, guestSteps, type RealNodeScript } from './script.js';

const MiB = 2 ** 20;
const SAMPLE_MS = 500;
const BALLOON_SAMPLE_MS = 2000;

export type RealNodePolicy = 'static' | 'mom' | 'default';

export interface RealNodeOptions {
  policy: RealNodePolicy;
  /**
   * Extra shim flags that point it at the run's cgroup tree (`--cgroup-root` and friends),
   * built from the tree by the caller when the shim has them; omitted, the shim sees only
   * the played node's meminfo.
   */
  cgroupFlags?: (tree: { cgroupRoot: string; kubepods: string; driver: 'cgroupfs' }) => string[];
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface GuestOutcome {
  name: string;
  /** Still running at the end (libvirt's view). */
  running: boolean;
  /** OOM kills in the pod cgroup (QEMU or the sidecar killed by the host kernel). */
  podOomKills: number;
  /** `oom_kill` of the guest's /proc/vmstat at the end (undefined: the guest did not answer). */
  guestOomKills: number | undefined;
  /** "Out of memory" and "Kernel panic" lines on its serial console. */
  consoleOomLines: number;
}

export interface RealNodeResult {
  policy: RealNodePolicy;
  figures: RunFigures;
  /** OOM kills anywhere under the pods cgroup: its own counter, or the pods' sum where that is larger (v1). */
  kubepodsOomKills: number;
  noisyOomKills: number;
  guests: GuestOutcome[];
  node: NodePoint[];
  balloons: BalloonPoint[];
  /** Every pod cgroup (VM pods by guest name, and `noisy`) with each balloon reading. */
  pods: PodPoint[];
  reserveBytes: number;
  /** Guest workload commands that failed (a guest that died or ran out of memory). */
  failedSteps: number;
  /** The shim's log, when it ran and the run failed or asked for it. */
  shimLogTail?: string;
}

export interface PodPoint {
  tSeconds: number;
  /** Working set and page cache of each pod cgroup, bytes. */
  workingSetBytes: Record<string, number>;
  fileBytes: Record<string, number>;
}

interface Pod {
  uid: string;
  name: string;
  memoryBytes: number;
  cgroup: Cgroup;
  hooksRoot: string;
  sidecar: ChildProcess;
  vm?: ExternalSidecarTestVm;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Stops a child: SIGTERM, then SIGKILL after `graceMs`. */
async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited(child);
  clearTimeout(timer);
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`${what}: the process ended (${child.signalCode ?? child.exitCode})`);
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** libvirt's balloon.current (KiB) of every running domain, by domain name. */
async function balloonsByDomain(): Promise<Map<string, number>> {
  const { stdout } = await run('virsh', ['-q', '-c', LIBVIRT_URI, 'domstats', '--balloon', '--list-active'], { timeoutMs: 20_000 });
  const out = new Map<string, number>();
  let domain: string | undefined;
  for (const line of stdout.split('\n')) {
    const head = /^Domain: '(.*)'$/.exec(line.trim());
    if (head) domain = head[1];
    const current = /^balloon\.current=([0-9]+)$/.exec(line.trim());
    if (current && domain) out.set(domain, Number(current[1]) * 1024);
  }
  return out;
}

async function domainRunning(name: string): Promise<boolean> {
  try {
    return (await run('virsh', ['-q', '-c', LIBVIRT_URI, 'domstate', name], { timeoutMs: 20_000 })).stdout.trim() === 'running';
  } catch {
    return false;
  }
}

function consoleOomLines(file: string): number {
  try {
    return readFileSync(file, 'utf8').match(/Out of memory|Kernel panic/g)?.length ?? 0;
  } catch {
    return 0;
  }
}

/** Runs the script once under `options.policy`. */
export async function runRealNode(bed: Testbed, script: RealNodeScript, options: RealNodeOptions): Promise<RealNodeResult> {
  const log = options.log ?? (() => undefined);
  const quiet = logger('real-node');
  const scratch = mkdtempSync('/tmp/kmnode-');
  const kubeletRoot = path.join(scratch, 'kubelet');
  const nodeView = new NodeView(path.join(scratch, 'node'));
  const shimLog = path.join(scratch, 'shim.log');
  const tree = CgroupTree.create(script.kubepodsLimitMiB * MiB);
  const pods: Pod[] = [];
  let noisy: NoisyPod | undefined;
  let shim: ChildProcess | undefined;
  let sampler: NodeJS.Timeout | undefined;
  let failed = true;
  const evictionHard = script.evictionHardMiB * MiB;
  const reserve = reserveBytes((script.kubepodsLimitMiB + script.reservedMiB) * MiB, evictionHard);
  try {
    // The node exists before anything reads it.
    const writeView = (s: CgroupSample): void => nodeView.write(nodeSample(s, script.reservedMiB * MiB, Date.now()));
    writeView(readSample(tree.mount.version, tree.kubepods.files));
    const qemu = qemuUser();
    for (const g of script.guests) {
      const uid = randomUUID();
      const cgroup = tree.pod(uid, (g.memoryMiB + script.podOverheadMiB) * MiB);
      const dir = sidecarHooksDir();
      const sidecar = tree.spawnIn(
        cgroup,
        path.join(packageRoot, 'bin', 'kubemom-sidecar'),
        ['--hooks-dir', dir.hooksDir, '--qemu-hooks-dir', dir.hooksDir, '--qmp-dir-owner', `${qemu.uid}:${qemu.gid}`, '--pod-uid', uid],
        { stdio: ['ignore', 'ignore', 'ignore'], env: { ...process.env, KUBEMOM_LOG_LEVEL: 'warn' } },
      );
      const pod: Pod = { uid, name: g.name, memoryBytes: g.memoryMiB * MiB, cgroup, hooksRoot: dir.root, sidecar };
      pods.push(pod);
      await waitFor(`the sidecar of ${g.name}`, () => existsSync(path.join(dir.hooksDir, 'kubemom.sock')), 60_000, sidecar);
      const disk = diskMiB(g);
      pod.vm = await bed.startVm({
        name: g.name,
        memoryMiB: g.memoryMiB,
        requestMiB: g.requestMiB,
        annotations: { 'kubemom.io/stats-period': String(script.statsPeriodSeconds) },
        ...(disk > 0 ? { disks: [{ name: 'data', sizeMiB: disk }] } : {}),
        externalSidecar: { hooksDir: dir.hooksDir },
        beforeResume: (pid) => tree.enter(cgroup, pid),
      });
      const volume = path.join(kubeletRoot, 'pods', uid, HOOK_SOCKETS_VOLUME);
      mkdirSync(volume, { recursive: true });
      symlinkSync(dir.hooksDir, path.join(volume, SIDECAR_CONTAINER));
      log(`${g.name}: booted in pod ${uid.slice(0, 8)} (${(readSample(tree.mount.version, cgroup.files).usageBytes / MiB).toFixed(0)} MiB charged)`);
    }
    const noisyCgroup = tree.pod(randomUUID(), script.noisy.limitMiB * MiB);
    noisy = NoisyPod.start(tree, noisyCgroup);
    await noisy.hold(0);

    if (options.policy !== 'static') {
      const port = await freeLoopbackPort();
      const cgroupRoot = path.join(scratch, 'cgroup');
      mkdirSync(cgroupRoot);
      // The tree's parent plays the node's root cgroup: on v1 the shim looks for <root>/memory.
      symlinkSync(tree.parent.dir, tree.mount.version === 'v1' ? path.join(cgroupRoot, 'memory') : path.join(cgroupRoot, 'root'));
      const fd = openSync(shimLog, 'a');
      const args = [
        path.join(packageRoot, 'dist', 'src', 'cli', 'main.js'),
        'shim',
        '--kubelet-root', kubeletRoot,
        '--proc-root', nodeView.procRoot,
        '--psi-file', '/proc/pressure/memory',
        '--node-exporter-url', '',
        '--ksm-dir', '',
        '--metrics-address', `127.0.0.1:${port}`,
        '--policy', options.policy,
        '--rescan', '1s',
        '--eviction-hard', `memory.available<${script.evictionHardMiB}Mi`,
        ...(options.cgroupFlags?.({ cgroupRoot: tree.mount.version === 'v1' ? cgroupRoot : path.join(cgroupRoot, 'root'), kubepods: 'kubepods', driver: 'cgroupfs' }) ?? []),
      ];
      shim = spawn(process.execPath, args, { stdio: ['ignore', fd, fd], env: { ...process.env, KUBEMOM_LOG_LEVEL: 'info' } });
      closeSync(fd);
      const live = async (): Promise<boolean> => {
        try {
          const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
          return Number(/^kubemom_shim_sidecars\{state="live"\} ([0-9]+)/m.exec(text)?.[1] ?? 0) >= pods.length;
        } catch {
          return false;
        }
      };
      await waitFor('every sidecar live in the shim', live, 60_000, shim);
      log(`shim (${options.policy}): every sidecar live`);
    }

    // The script.
    const t0 = Date.now();
    const now = (): number => (Date.now() - t0) / 1000;
    const node: NodePoint[] = [];
    const balloons: BalloonPoint[] = [];
    const podPoints: PodPoint[] = [];
    const podCgroups: Array<[string, Cgroup]> = [...pods.map((p): [string, Cgroup] => [p.name, p.cgroup]), ['noisy', noisyCgroup]];
    const domainToGuest = new Map(pods.map((p) => [p.vm!.domainName, p.name]));
    let sampling = false;
    let lastBalloonMs = 0;
    sampler = setInterval(() => {
      if (sampling) return;
      sampling = true;
      void (async () => {
        const s = readSample(tree.mount.version, tree.kubepods.files);
        writeView(s);
        node.push({ tSeconds: now(), availableBytes: allocatableAvailable(s), workingSetBytes: workingSetOf(s) });
        if (Date.now() - lastBalloonMs >= BALLOON_SAMPLE_MS) {
          lastBalloonMs = Date.now();
          const t = now();
          const point: PodPoint = { tSeconds: t, workingSetBytes: {}, fileBytes: {} };
          for (const [name, cgroup] of podCgroups) {
            const p = readSample(tree.mount.version, cgroup.files);
            point.workingSetBytes[name] = workingSetOf(p);
            point.fileBytes[name] = p.fileBytes;
          }
          podPoints.push(point);
          const byDomain = await balloonsByDomain().catch(() => new Map<string, number>());
          const actualBytes: Record<string, number> = {};
          for (const [domain, bytes] of byDomain) {
            const guest = domainToGuest.get(domain);
            if (guest) actualBytes[guest] = bytes;
          }
          balloons.push({ tSeconds: t, actualBytes });
        }
      })()
        .catch((error: unknown) => quiet.warn({ err: error }, 'sample failed'))
        .finally(() => (sampling = false));
    }, SAMPLE_MS);

    let failedSteps = 0;
    const at = async (seconds: number): Promise<void> => {
      const wait = t0 + seconds * 1000 - Date.now();
      if (wait > 0) await sleep(wait);
    };
    const guestRuns = script.guests.map(async (g, i) => {
      const vm = pods[i]!.vm!;
      for (const step of guestSteps(g, script.durationSeconds)) {
        await at(step.atSeconds);
        if (now() >= script.durationSeconds) break;
        try {
          await vm.console.run(step.command, 120_000);
        } catch (error) {
          failedSteps++;
          quiet.warn({ guest: g.name, step: step.label, err: error }, 'guest step failed');
          if (!(await domainRunning(vm.domainName))) break;
        }
      }
    });
    const noisyRun = (async () => {
      const n = script.noisy;
      await at(n.atSeconds);
      for (let held = 0; held < n.mib; held = Math.min(n.mib, held + n.stepMiB)) {
        await noisy!.hold(Math.min(n.mib, held + n.stepMiB)).catch(() => undefined);
        await sleep(n.everySeconds * 1000);
      }
      log(`t=${now().toFixed(0)}s noisy pod holds ${noisy!.heldMiB} MiB`);
      await at(n.releaseSeconds);
      await noisy!.free().catch(() => undefined);
      log(`t=${now().toFixed(0)}s noisy pod let go`);
    })();
    await at(script.durationSeconds);
    clearInterval(sampler);
    sampler = undefined;
    // Steps still running are not waited for beyond a short while: the figures end here.
    await Promise.race([Promise.all([...guestRuns, noisyRun]), sleep(30_000)]);

    const guests: GuestOutcome[] = [];
    for (const p of pods) {
      const vm = p.vm!;
      const running = await domainRunning(vm.domainName);
      let guestOomKills: number | undefined;
      if (running) {
        const lines = await vm.console.run('grep oom_kill /proc/vmstat', 20_000).catch(() => undefined);
        const m = lines?.map((l) => /^oom_kill ([0-9]+)$/.exec(l)).find(Boolean);
        guestOomKills = m ? Number(m[1]) : undefined;
      }
      guests.push({ name: p.name, running, podOomKills: readSample(tree.mount.version, p.cgroup.files).oomKills, guestOomKills, consoleOomLines: consoleOomLines(vm.consoleLogPath) });
    }
    const figures = runFigures({
      node,
      balloons,
      guestMemoryBytes: Object.fromEntries(pods.map((p) => [p.name, p.memoryBytes])),
      evictionHardBytes: evictionHard,
      reserveBytes: reserve,
      squeeze: { startSeconds: script.noisy.atSeconds, endSeconds: script.noisy.releaseSeconds },
    });
    const result: RealNodeResult = {
      policy: options.policy,
      figures,
      // v1 counts a kill in the victim's own cgroup only (seen on Linux 6.18), v2's memory.events up the tree too.
      kubepodsOomKills: Math.max(
        readSample(tree.mount.version, tree.kubepods.files).oomKills,
        guests.reduce((s, g) => s + g.podOomKills, 0) + readSample(tree.mount.version, noisyCgroup.files).oomKills,
      ),
      noisyOomKills: readSample(tree.mount.version, noisyCgroup.files).oomKills,
      guests,
      node,
      balloons,
      pods: podPoints,
      reserveBytes: reserve,
      failedSteps,
    };
    failed = false;
    return result;
  } finally {
    if (sampler) clearInterval(sampler);
    if (failed && existsSync(shimLog)) {
      const tail = readFileSync(shimLog, 'utf8').split('\n').slice(-30).join('\n');
      log(`shim log (last lines):\n${tail}`);
    }
    const problems: unknown[] = [];
    const attempt = async (what: string, f: () => Promise<void> | void): Promise<void> => {
      try {
        await f();
      } catch (error) {
        problems.push(error);
        quiet.warn({ err: error }, `cleanup: ${what} failed`);
      }
    };
    if (shim) await attempt('stop the shim', () => stopChild(shim!));
    await attempt('stop the noisy pod', () => noisy?.stop());
    for (const p of pods) {
      await attempt(`destroy ${p.name}`, () => p.vm?.destroy());
      // destroy() sends Shutdown, which ends the sidecar; one that never got a VM is stopped here.
      await attempt(`stop the sidecar of ${p.name}`, () => stopChild(p.sidecar));
      rmSync(p.hooksRoot, { recursive: true, force: true });
    }
    // QEMU leaves its cgroup a moment after libvirt reports it stopped.
    await attempt('empty the cgroups', () => waitFor('QEMU out of the pod cgroups', () => pods.every((p) => tree.pids(p.cgroup).length === 0), 30_000));
    await attempt('remove the cgroups', () => tree.remove());
    rmSync(scratch, { recursive: true, force: true });
    if (problems.length > 0 && !failed) throw new Error(`real-node cleanup failed: ${problems.map((e) => (e as Error).message).join('; ')}`);
  }
}
