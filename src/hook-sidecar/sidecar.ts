/**
 * The sidecar process: the hook server plus, once it knows its VM, the agent.
 * Ends cleanly on virt-launcher's Shutdown, SIGTERM or SIGINT.
 */
import { logger } from '../common/log.js';
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

export interface RunningSidecar {
  server: SidecarServer;
  /** Resolves when the sidecar has stopped (Shutdown or a signal). */
  stopped: Promise<void>;
  stop(reason: string): Promise<void>;
}

export async function runSidecar(options: SidecarOptions): Promise<RunningSidecar> {
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
