/**
 * Plays virt-launcher for one test guest: builds the domain of a KubeVirt-style VMI,
 * starts the KubeMom sidecar on a KubeVirt-style hook directory, asks it for
 * OnDefineDomain over gRPC exactly as virt-launcher does, defines and starts the
 * result in libvirt, and undoes all of it in destroy().
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { logger } from '../src/common/log.js';
import { runSidecar, type RunningSidecar, type SidecarOptions } from '../src/hook-sidecar/sidecar.js';
import { SIDECAR_CONTAINER } from '../src/kubevirt-sim/launcher.js';
import { SOCKET_NAME } from '../src/api/kubemom-v1.js';
import { loadVmConfig } from '../src/hook-sidecar/vm-config.js';
import { parseVmi } from '../src/hook-sidecar/vmi.js';
import type { GuestImage } from './guest-image.js';
import { GuestConsole } from './guest-console.js';
import { discoverHooks, onDefineDomain, shutdownHooks, type DiscoveredHook } from '../src/kubevirt-sim/hook-manager.js';
import { hookLayoutOf, type KubevirtRelease } from './kubevirt-release.js';
import { startRemarshallingSidecar, type RemarshallingSidecar } from './remarshalling-sidecar.js';
import { definableHere, launcherDomainName, launcherDomainXml, testVmi, vmiMaxGuestBytes } from './launcher-domain.js';
import { qemuUser } from './users.js';
import * as virsh from './virsh.js';

/** VM directories are made here: short, so `<dir>/hooks/hook-sidecar-0/kubemom/qmp/<uid>.sock` stays far below 108 bytes. */
export const VM_DIR_PREFIX = '/tmp/km-';

export interface StartTestVmOptions {
  /** VMI name; a random suffix is added so runs and processes never collide. */
  name: string;
  namespace?: string;
  /** Guest memory (spec.domain.memory.guest), MiB. Default 512. */
  memoryMiB?: number;
  /** resources.requests.memory, MiB; default: none (a VM that sets only its guest memory; see testVmi). */
  requestMiB?: number;
  /** The cluster's memoryOvercommit percent (default 100): v1.5 writes guest x 100 / it into the VMI's request. */
  memoryOvercommitPercent?: number;
  /** VMI annotations, such as kubemom.io/*. */
  annotations?: Record<string, string>;
  /**
   * Disks: each a sparse raw image file of `sizeMiB`, attached as a virtio disk (vda, vdb, ...
   * in this order) with KubeVirt's alias `ua-<name>`, and listed in the VMI.
   */
  disks?: ReadonlyArray<{ name: string; sizeMiB: number }>;
  /** spec.domain.resources.limits.cpu of the VMI, e.g. "500m". */
  cpuLimit?: string;
  /** A whole VMI to use instead of one made from the options above (its uid must be unique). */
  vmi?: Record<string, unknown>;
  /** Passed to runSidecar (for example the kubemom.v1 agent's services). */
  sidecar?: Pick<SidecarOptions, 'services' | 'onVmConfig' | 'onStop'>;
  /** Wait until the guest agent answers (default true). False returns right after `virsh start`. */
  waitForAgent?: boolean;
  /**
   * Called with QEMU's pid after QEMU has started but before the guest runs its first instruction
   * (the domain is started paused and resumed after the hook). A real-node test moves QEMU into a
   * pod's memory cgroup here: the kernel no longer moves charges with a task (cgroup v1's
   * move_charge_at_immigrate is gone since Linux 6.13), so QEMU must be there before the guest
   * touches its memory for the cgroup to be charged with it.
   */
  beforeResume?: (qemuPid: number) => Promise<void> | void;
  /**
   * The virt-launcher to play: `v1.9` (default; the per-sidecar hook layout of v1.6 and later, and the VMI and
   * domain of a hotplug-eligible guest of 1 GiB or more: memory.maxGuest, `<maxMemory>`) or `v1.5` (the shared
   * layout: the sidecar serves in the whole hook directory, no CONTAINER_NAME; no hotplug defaults).
   */
  kubevirt?: KubevirtRelease;
  /**
   * Chain a second sidecar after KubeMom that re-marshals the domain as KubeVirt's
   * network-binding sidecars do (drops qemu:commandline and autodeflate).
   */
  chainRemarshallingSidecar?: boolean;
}

export { hookLayoutOf, type KubevirtRelease } from './kubevirt-release.js';

/** startVm with a sidecar the caller runs as its own process. */
export interface StartExternalSidecarVmOptions extends Omit<StartTestVmOptions, 'sidecar'> {
  /**
   * A sidecar already running as its own process (a real pod's situation; benches measure
   * its memory this way). The test bed then starts no sidecar of its own: it discovers this
   * one, calls its OnDefineDomain, and in destroy() sends it Shutdown as virt-launcher does,
   * which ends it; starting and reaping the process stay with the caller.
   */
  externalSidecar: ExternalSidecar;
}

/**
 * Where an externally started sidecar serves. It must have been started with
 * `--hooks-dir <hooksDir> --qemu-hooks-dir <hooksDir>` (QEMU runs on this machine, not in a
 * compute container) and `--qmp-dir-owner` set to QEMU's user (`qemuUser()`), so QEMU can
 * create the QMP socket. The parent of hooksDir plays virt-launcher's hooks root: it must
 * hold only sidecar directories, and QEMU must be able to traverse it (mode 0711 or wider).
 * `sidecarHooksDir()` makes such a directory.
 */
export interface ExternalSidecar {
  hooksDir: string;
}

/** A fresh `<root>/hook-sidecar-0` for an external sidecar; the caller removes `root` when done. */
export function sidecarHooksDir(): { root: string; hooksDir: string } {
  const root = mkdtempSync(VM_DIR_PREFIX);
  chmodSync(root, 0o711);
  return { root, hooksDir: path.join(root, SIDECAR_CONTAINER) };
}

export interface TestVm {
  domainName: string;
  vmi: { namespace: string; name: string; uid: string; json: string };
  /** The VM's scratch directory (removed by destroy). */
  dir: string;
  /** The sidecar's hook directory (`<dir>/hooks/hook-sidecar-0`; v1.5: `<dir>/hooks`). */
  hooksDir: string;
  /** virt-launcher's hook directory, the emptyDir `hook-sidecar-sockets` (`<dir>/hooks`). */
  hooksRoot: string;
  /** The release whose virt-launcher was played. */
  kubevirt: KubevirtRelease;
  /** The re-marshalling sidecar chained after KubeMom, when asked for. */
  chained?: RemarshallingSidecar;
  /** Where QEMU opens the QMP side monitor the sidecar injected. */
  qmpSocketPath: string;
  /** The domain XML as the sidecar returned it and libvirt received it. */
  domainXml: string;
  /** Everything the guest printed on its serial console (written by virtlogd). */
  consoleLogPath: string;
  console: GuestConsole;
  /** The sidecar's hook socket (`<hooksDir>/kubemom.sock`), where kubemom.v1 is served too. */
  sidecarSocketPath: string;
  /** The in-process sidecar the test bed started. */
  sidecar: RunningSidecar;
  hooks: DiscoveredHook[];
  /** Destroys and undefines the domain, stops the sidecar (Shutdown, as virt-launcher), removes the directory. Idempotent. */
  destroy(): Promise<void>;
}

function randomSuffix(): string {
  return randomUUID().slice(0, 6);
}

/** A test guest whose sidecar runs as its own process (`externalSidecar`): there is no in-process sidecar. */
export type ExternalSidecarTestVm = Omit<TestVm, 'sidecar'>;

/** Starts one test guest under libvirt through the sidecar's OnDefineDomain. */
export async function startTestVm(image: GuestImage, options: StartExternalSidecarVmOptions): Promise<ExternalSidecarTestVm>;
export async function startTestVm(image: GuestImage, options: StartTestVmOptions): Promise<TestVm>;
export async function startTestVm(
  image: GuestImage,
  options: StartTestVmOptions | StartExternalSidecarVmOptions,
): Promise<TestVm | ExternalSidecarTestVm> {
  const external = 'externalSidecar' in options ? options.externalSidecar : undefined;
  const inProcess = 'sidecar' in options ? options.sidecar : undefined;
  if (external && inProcess) {
    throw new Error('startVm: `sidecar` configures the in-process sidecar and cannot be combined with `externalSidecar`');
  }
  const log = logger('testbed');
  const release = options.kubevirt ?? 'v1.9';
  const vmiObject =
    options.vmi ??
    testVmi({
      name: `${options.name}-${randomSuffix()}`,
      uid: randomUUID(),
      memoryMiB: options.memoryMiB ?? 512,
      ...(options.namespace ? { namespace: options.namespace } : {}),
      ...(options.requestMiB !== undefined ? { requestMiB: options.requestMiB } : {}),
      ...(options.memoryOvercommitPercent !== undefined ? { memoryOvercommitPercent: options.memoryOvercommitPercent } : {}),
      ...(options.annotations ? { annotations: options.annotations } : {}),
      ...(options.disks ? { disks: options.disks.map((d) => d.name) } : {}),
      ...(options.cpuLimit !== undefined ? { cpuLimit: options.cpuLimit } : {}),
      kubevirt: release,
    });
  const vmiJson = JSON.stringify(vmiObject);
  const vmi = parseVmi(vmiJson);
  const qemu = qemuUser();

  const dir = mkdtempSync(VM_DIR_PREFIX);
  // QEMU (libvirt-qemu) must traverse it to reach the kernel, the console and the QMP directory.
  chmodSync(dir, 0o711);
  // virt-launcher treats every file one level below the hooks root as a hook socket: nothing else may live there.
  const layout = hookLayoutOf(release);
  const hooksDir = external?.hooksDir ?? (layout === 'shared' ? path.join(dir, 'hooks') : path.join(dir, 'hooks', SIDECAR_CONTAINER));
  const hooksRoot = layout === 'shared' && !external ? hooksDir : path.dirname(hooksDir);
  if (!external) mkdirSync(hooksRoot, { mode: 0o711 });
  const bootDir = path.join(dir, 'boot');
  const consoleDir = path.join(dir, 'console');
  mkdirSync(bootDir, { mode: 0o755 });
  mkdirSync(consoleDir, { mode: 0o770 });
  chownSync(consoleDir, qemu.uid, qemu.gid);
  // Private copies: libvirt relabels (chowns) kernel and initrd while the domain runs, and the cache is shared.
  const kernelPath = path.join(bootDir, 'vmlinuz');
  const initrdPath = path.join(bootDir, 'initrd');
  copyFileSync(image.kernelPath, kernelPath);
  copyFileSync(image.initrdPath, initrdPath);
  const diskDir = path.join(dir, 'disks');
  mkdirSync(diskDir, { mode: 0o755 });
  const disks = (options.disks ?? []).map((d) => {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(d.name)) throw new Error(`disks[].name "${d.name}" is not a DNS label`);
    const file = path.join(diskDir, `${d.name}.img`);
    // Sparse: costs no space until the guest writes. libvirt gives it to QEMU's user at start.
    writeFileSync(file, '');
    truncateSync(file, d.sizeMiB * 2 ** 20);
    return { name: d.name, path: file };
  });
  const serialSocketPath = path.join(consoleDir, 'serial0');
  const consoleLogPath = path.join(consoleDir, 'serial0.log');
  const domainName = launcherDomainName(vmi);

  let sidecar: RunningSidecar | undefined;
  let chained: RemarshallingSidecar | undefined;
  let hooks: DiscoveredHook[] = [];
  let defined = false;
  const console = new GuestConsole(serialSocketPath);
  let destroyed: Promise<void> | undefined;
  const destroy = (): Promise<void> => {
    destroyed ??= (async () => {
      console.close();
      if (defined) await virsh.removeDomain(domainName);
      // virt-launcher calls Shutdown after QEMU has exited.
      if (hooks.length > 0) await shutdownHooks(hooks);
      await sidecar?.stop('test VM destroyed');
      await chained?.close();
      rmSync(dir, { recursive: true, force: true });
      log.info({ domain: domainName }, 'test VM destroyed');
    })();
    return destroyed;
  };

  try {
    if (!external) sidecar = await runSidecar({ hooksDir, qemuHooksDir: hooksDir, qmpDirOwner: qemu, ...inProcess });
    if (options.chainRemarshallingSidecar) {
      // Binding sidecars come after the annotation sidecars: the next container index, or the same shared directory.
      chained = await startRemarshallingSidecar(layout === 'shared' ? hooksRoot : path.join(hooksRoot, 'hook-sidecar-1'));
    }
    hooks = await discoverHooks(hooksRoot, chained ? 2 : 1, 30_000, layout);
    const maxGuestMemoryBytes = vmiMaxGuestBytes(vmiObject);
    const launcherXml = launcherDomainXml({
      vmi,
      ...(maxGuestMemoryBytes !== undefined ? { maxGuestMemoryBytes } : {}),
      kernelPath,
      initrdPath,
      cmdline: image.cmdline,
      serialSocketPath,
      serialLogPath: consoleLogPath,
      disks,
    });
    const domainXml = await onDefineDomain(hooks, launcherXml, vmiJson);
    await virsh.defineDomain(definableHere(domainXml), path.join(dir, 'domain.xml'));
    defined = true;
    const started = Date.now();
    if (options.beforeResume) {
      await virsh.startDomain(domainName, { paused: true });
      await options.beforeResume(virsh.qemuPid(domainName));
      await virsh.resumeDomain(domainName);
    } else {
      await virsh.startDomain(domainName);
    }
    if (options.waitForAgent ?? true) {
      await console.connect();
      log.info({ domain: domainName, bootMs: Date.now() - started }, 'test VM answers');
    }
    const config = loadVmConfig(hooksDir);
    if (!config) throw new Error(`the sidecar saved no VM config in ${hooksDir} after OnDefineDomain`);
    const qmpSocketPath = config.qmpSocketPath;
    const vm = {
      domainName,
      vmi: { namespace: vmi.namespace, name: vmi.name, uid: vmi.uid, json: vmiJson },
      dir,
      hooksDir,
      hooksRoot,
      kubevirt: release,
      ...(chained ? { chained } : {}),
      qmpSocketPath,
      domainXml,
      consoleLogPath,
      console,
      sidecarSocketPath: path.join(hooksDir, SOCKET_NAME),
      hooks,
      destroy,
    };
    return sidecar ? { ...vm, sidecar } : vm;
  } catch (error) {
    await destroy().catch((cleanupError: unknown) => log.warn({ err: cleanupError }, 'cleanup after a failed VM start failed'));
    throw error;
  }
}
