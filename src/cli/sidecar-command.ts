/** `kubemom sidecar`: the per-VM virt-launcher hook sidecar, with the kubemom.v1 agent. */
import type { Command } from 'commander';
import { AgentService } from '../agent/service.js';
import { discoverPodUid } from '../agent/pod-uid.js';
import { DEFAULT_HOOKS_DIR, defaultQemuHooksDir, runSidecar } from '../hook-sidecar/sidecar.js';

function parseOwner(text: string): { uid: number; gid: number } {
  const match = /^([0-9]+):([0-9]+)$/.exec(text);
  if (!match) throw new Error(`--qmp-dir-owner: "${text}" is not accepted; use UID:GID, e.g. 107:107`);
  return { uid: Number(match[1]), gid: Number(match[2]) };
}

function parsePodUid(text: string): string {
  if (!/^[0-9a-fA-F-]{8,64}$/.test(text)) throw new Error(`--pod-uid: "${text}" is not accepted; use a pod UID such as 0d6c5a3e-8c1b-4e8a-9a41-3f1b2c3d4e5f`);
  return text;
}

interface SidecarFlags {
  hooksDir: string;
  qemuHooksDir?: string;
  qmpDirOwner?: { uid: number; gid: number };
  podUid?: string;
  migrationPhase: boolean;
  migrationHold: boolean;
  migrationMetrics: boolean;
}

export function registerSidecarCommand(program: Command): void {
  program
    .command('sidecar')
    .description('serve the KubeVirt hook API (and the kubemom.v1 agent) for one VM')
    .option('--hooks-dir <dir>', 'directory for kubemom.sock (env KUBEMOM_HOOKS_DIR)', process.env.KUBEMOM_HOOKS_DIR ?? DEFAULT_HOOKS_DIR)
    .option('--qemu-hooks-dir <dir>', "the hooks dir as QEMU sees it (default /var/run/kubevirt-hooks/$CONTAINER_NAME)")
    .option('--qmp-dir-owner <uid:gid>', "owner for the QMP directory when QEMU runs as another user", parseOwner)
    .option(
      '--pod-uid <uid>',
      "the virt-launcher pod's UID reported by Describe (env KUBEMOM_POD_UID; default: read from the hook dir's mount in /proc/self/mountinfo)",
      parsePodUid,
    )
    .option('--no-migration-phase', 'do not report phase "migrating" while a live migration runs')
    .option('--no-migration-hold', 'keep moving the balloon during live migrations (default: hold it still unless the guest is in distress)')
    .option('--no-migration-metrics', "do not read query-migrate for the migration's numbers")
    .action(async (opts: SidecarFlags) => {
      const envPodUid = process.env.KUBEMOM_POD_UID;
      const podUid = opts.podUid ?? (envPodUid ? parsePodUid(envPodUid) : discoverPodUid(opts.hooksDir));
      const agent = new AgentService({ podUid, migration: { phase: opts.migrationPhase, hold: opts.migrationHold, metrics: opts.migrationMetrics } });
      const sidecar = await runSidecar({
        hooksDir: opts.hooksDir,
        qemuHooksDir: opts.qemuHooksDir ?? defaultQemuHooksDir(opts.hooksDir, process.env.CONTAINER_NAME),
        ...(opts.qmpDirOwner ? { qmpDirOwner: opts.qmpDirOwner } : {}),
        services: [agent.service],
        onVmConfig: (config) => agent.onVmConfig(config),
        onStop: () => agent.stop(),
      });
      await sidecar.stopped;
      process.exit(0);
    });
}
