/**
 * What the sidecar knows about its VM once OnDefineDomain has run, and where it is
 * kept so a restarted sidecar (virt-launcher calls OnDefineDomain only when the
 * domain is created) still knows whom it serves.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { VmSettings } from './annotations.js';
import type { DomainDisk } from './domain-facts.js';

export interface VmIdentity {
  namespace: string;
  name: string;
  /** VirtualMachineInstance metadata.uid. */
  uid: string;
}

export interface VmConfig {
  identity: VmIdentity;
  /** Domain <memory>: what the guest sees, bytes. */
  guestMemoryBytes: number;
  settings: VmSettings;
  /** The QMP side monitor's socket as this sidecar sees it. */
  qmpSocketPath: string;
  /** The VMI's disks as the domain names them (`ua-<name>` aliases); absent in configs saved by older sidecars. */
  disks?: DomainDisk[];
  /** vCPUs and the pod's CPU resources, for CPU-tune reporting; absent in older configs. */
  cpu?: VmCpu;
  /**
   * Why KubeMom only observes this VM and never inflates its balloon (for example
   * passthrough devices); absent when it manages it.
   */
  observeOnlyReason?: string;
}

/** What Kubernetes applies to the VM's CPU (KubeVirt copies these to the virt-launcher pod). */
export interface VmCpu {
  /** Domain `<vcpu>`. */
  vcpus: number;
  /** spec.domain.resources.limits.cpu, millicores. */
  limitMillicores?: number;
  /** spec.domain.resources.requests.cpu, millicores. */
  requestMillicores?: number;
}

/**
 * Subdirectories of the hook directory. virt-launcher treats every file directly in
 * the hook directory as a hook socket, so everything else lives one level down,
 * where it does not look, and under a directory named after KubeMom: up to KubeVirt
 * v1.5 every sidecar of the pod shares one hook directory (the whole emptyDir, no
 * subPath), so names like `qmp/` or `state/` could be another sidecar's too.
 */
export const NAMESPACE_SUBDIR = 'kubemom';
export const QMP_SUBDIR = `${NAMESPACE_SUBDIR}/qmp`;
export const STATE_SUBDIR = `${NAMESPACE_SUBDIR}/state`;
const STATE_FILE = 'vm.json';

/**
 * Creates `<hooksDir>/kubemom` (mode 0755: QEMU, which may run as another user
 * outside KubeVirt, must traverse it to reach its QMP directory).
 */
export function ensureNamespaceDir(hooksDir: string): void {
  mkdirSync(path.join(hooksDir, NAMESPACE_SUBDIR), { recursive: true, mode: 0o755 });
}

/** Saves the config atomically (write, then rename). */
export function saveVmConfig(hooksDir: string, config: VmConfig): void {
  ensureNamespaceDir(hooksDir);
  const dir = path.join(hooksDir, STATE_SUBDIR);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, STATE_FILE);
  writeFileSync(`${file}.tmp`, JSON.stringify(config), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/** The saved config, or undefined when there is none or it does not parse. */
export function loadVmConfig(hooksDir: string): VmConfig | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path.join(hooksDir, STATE_SUBDIR, STATE_FILE), 'utf8')) as VmConfig;
    if (typeof parsed?.identity?.uid !== 'string' || typeof parsed.guestMemoryBytes !== 'number') return undefined;
    return parsed;
  } catch {
    return undefined;
  }
}
