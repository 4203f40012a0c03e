/**
 * The sidecar process: the hook server plus, once it knows its VM, the agent.
 * Ends cleanly on virt-launcher's Shutdown, SIGTERM or SIGINT.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../common/errors.js';
import { logger } from '../common/log.js';
import { qmpSocketName } from './callbacks.js';
import { QMP_SUBDIR } from './vm-config.js';
import { UNIX_SOCKET_PATH_MAX } from '../common/units.js';
import { SOCKET_NAME } from '../api/kubemom-v1.js';
import type { VmConfig } from './vm-config.js';
import { loadVmConfig } from './vm-config.js';
import { startSidecarServer, type ExtraService, type SidecarServer } from './server.js';

export const DEFAULT_HOOKS_DIR = '/var/run/kubevirt-hooks';

export interface SidecarOptions {
  hooksDir: string;
  /** QEMU's view of hooksDir; KubeVirt mounts the parent of ours in compute. */
  qemuHooksDir: string;
  qmpDirOwner?: { uid: number; gid: number };
  /** Extra gRPC services served on the same socket (the kubemom.v1 agent). */
  services?: ExtraService[];
  /** Told about the VM when OnDefineDomain runs or a saved config is found at start. */
  onVmConfig?(config: VmConfig): void;
  /** Called before the process exits, to stop what onVmConfig started. */
  onStop?(): Promise<void> | void;
}

/** QEMU's view of the hook directory: `/var/run/kubevirt-hooks/<CONTAINER_NAME>`. */
export function defaultQemuHooksDir(hooksDir: string, containerName: string | undefined): string {
  // Outside KubeVirt (tests, the demo) both processes see the same directory.
  return containerName ? `${DEFAULT_HOOKS_DIR}/${containerName}` : hooksDir;
}

/** A VMI UID as KubeVirt writes it: the longest name a QMP socket gets. */
const LONGEST_VMI_UID = '00000000-0000-0000-0000-000000000000';

/**
 * Refuses at start what can never work, instead of binding a truncated socket path or
 * promising QEMU a monitor it cannot create: a hooks directory that is a file, socket
 * paths over the unix limit, a QEMU view that is not an absolute, safe path.
 */
export function checkSidecarDirs(hooksDir: string, qemuHooksDir: string): void {
  let isDirectory = true;
  try {
    isDirectory = statSync(hooksDir).isDirectory();
  } catch {
    // Missing: the sidecar creates it.
  }
  if (!isDirectory) throw new InputError('--hooks-dir', `"${hooksDir}" exists and is not a directory; accepted: a directory (created if missing)`);
  const socketPath = path.join(hooksDir, SOCKET_NAME);
  if (Buffer.byteLength(socketPath) > UNIX_SOCKET_PATH_MAX) {
    throw new InputError('--hooks-dir', `"${hooksDir}" makes the socket path ${Buffer.byteLength(socketPath)} bytes long; unix sockets allow at most ${UNIX_SOCKET_PATH_MAX} (choose a shorter directory)`);
  }
  if (!path.posix.isAbsolute(qemuHooksDir)) throw new InputError('--qemu-hooks-dir', `"${qemuHooksDir}" is not accepted; use an absolute path (QEMU resolves relative paths from its own working directory)`);
  if (/[,\s"'<>&]/.test(qemuHooksDir)) throw new InputError('--qemu-hooks-dir', `"${qemuHooksDir}" contains a comma, quote, "<", ">", "&" or whitespace, which QEMU's -chardev option cannot carry`);
  const qmpPath = path.posix.join(qemuHooksDir, QMP_SUBDIR, qmpSocketName(LONGEST_VMI_UID));
  if (Buffer.byteLength(qmpPath) > UNIX_SOCKET_PATH_MAX) {
    throw new InputError('--qemu-hooks-dir', `"${qemuHooksDir}" makes QEMU's monitor socket path ${Buffer.byteLength(qmpPath)} bytes long; unix sockets allow at most ${UNIX_SOCKET_PATH_MAX}`);
  }
}

export interface RunningSidecar {
  server: SidecarServer;
  /** Resolves when the sidecar has stopped (Shutdown or a signal). */
  stopped: Promise<void>;
  stop(reason: string): Promise<void>;
}

export async function runSidecar(options: SidecarOptions): Promise<RunningSidecar> {
  checkSidecarDirs(options.hooksDir, options.qemuHooksDir);
  const log = logger('sidecar');
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  let stopping: Promise<void> | undefined;
  let server: SidecarServer | undefined;

  const stop = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      log.info({ reason }, 'sidecar stopping');
      await options.onStop?.();
      await server?.close();
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      resolveStopped();
    })();
    return stopping;
  };
  const onTerm = (): void => void stop('SIGTERM');
  const onInt = (): void => void stop('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);

  const saved = loadVmConfig(options.hooksDir);
  if (saved) {
    log.info({ vmi: `${saved.identity.namespace}/${saved.identity.name}` }, 'resuming with the VM config saved by an earlier run');
    options.onVmConfig?.(saved);
  }

  server = await startSidecarServer(
    {
      hooksDir: options.hooksDir,
      qemuHooksDir: options.qemuHooksDir,
      ...(options.qmpDirOwner ? { qmpDirOwner: options.qmpDirOwner } : {}),
      log,
      onVmDefined: (config) => options.onVmConfig?.(config),
      onShutdown: () => void stop('Shutdown'),
    },
    options.services ?? [],
  );
  log.info({ socket: server.socketPath, qemuHooksDir: options.qemuHooksDir }, 'sidecar serving the KubeVirt hook API');
  return { server, stopped, stop };
}
