/** `kubemom sidecar`: the per-VM virt-launcher hook sidecar. */
import type { Command } from 'commander';
import { DEFAULT_HOOKS_DIR, defaultQemuHooksDir, runSidecar } from '../hook-sidecar/sidecar.js';

function parseOwner(text: string): { uid: number; gid: number } {
  const match = /^([0-9]+):([0-9]+)$/.exec(text);
  if (!match) throw new Error(`--qmp-dir-owner: "${text}" is not accepted; use UID:GID, e.g. 107:107`);
  return { uid: Number(match[1]), gid: Number(match[2]) };
}

export function registerSidecarCommand(program: Command): void {
  program
    .command('sidecar')
    .description('serve the KubeVirt hook API (and the kubemom.v1 agent) for one VM')
    .option('--hooks-dir <dir>', 'directory for kubemom.sock (env KUBEMOM_HOOKS_DIR)', process.env.KUBEMOM_HOOKS_DIR ?? DEFAULT_HOOKS_DIR)
    .option('--qemu-hooks-dir <dir>', "the hooks dir as QEMU sees it (default /var/run/kubevirt-hooks/$CONTAINER_NAME)")
    .option('--qmp-dir-owner <uid:gid>', "owner for the QMP directory when QEMU runs as another user", parseOwner)
    .action(async (opts: { hooksDir: string; qemuHooksDir?: string; qmpDirOwner?: { uid: number; gid: number } }) => {
      const sidecar = await runSidecar({
        hooksDir: opts.hooksDir,
        qemuHooksDir: opts.qemuHooksDir ?? defaultQemuHooksDir(opts.hooksDir, process.env.CONTAINER_NAME),
        ...(opts.qmpDirOwner ? { qmpDirOwner: opts.qmpDirOwner } : {}),
      });
      await sidecar.stopped;
      process.exit(0);
    });
}
