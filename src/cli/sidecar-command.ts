/** `kubemom sidecar`: the per-VM virt-launcher hook sidecar, with the kubemom.v1 agent. */
import { InvalidArgumentError, type Command } from 'commander';
import path from 'node:path';
import { InputError } from '../common/errors.js';
import { AgentService } from '../agent/service.js';
import { discoverPodUid } from '../agent/pod-uid.js';
import { DEFAULT_HOOKS_DIR, defaultQemuHooksDir, runSidecar } from '../hook-sidecar/sidecar.js';
import { SOCKET_NAME } from '../api/kubemom-v1.js';
import { UNIX_SOCKET_PATH_MAX } from '../common/units.js';

/** Largest uid/gid chown accepts: (uid_t)-1 means "unchanged". */
const MAX_ID = 2 ** 32 - 2;

export function parseOwner(text: string): { uid: number; gid: number } {
  const match = /^([0-9]{1,10}):([0-9]{1,10})$/.exec(text);
  const uid = Number(match?.[1]);
  const gid = Number(match?.[2]);
  if (!match || uid > MAX_ID || gid > MAX_ID) throw new InvalidArgumentError(`"${text}" is not accepted; use UID:GID with numbers from 0 to ${MAX_ID}, e.g. 107:107`);
  return { uid, gid };
}

const POD_UID = /^[0-9a-fA-F-]{8,64}$/;
const POD_UID_HINT = 'use a pod UID such as 0d6c5a3e-8c1b-4e8a-9a41-3f1b2c3d4e5f';

function parsePodUid(text: string): string {
  if (!POD_UID.test(text)) throw new InvalidArgumentError(`"${text}" is not accepted; ${POD_UID_HINT}`);
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
    .option('--hooks-dir <dir>', `directory for ${SOCKET_NAME}; the socket path must fit in ${UNIX_SOCKET_PATH_MAX} bytes (env KUBEMOM_HOOKS_DIR)`, process.env.KUBEMOM_HOOKS_DIR ?? DEFAULT_HOOKS_DIR)
    .option('--qemu-hooks-dir <dir>', "the hooks dir as QEMU sees it, absolute (default /var/run/kubevirt-hooks/$CONTAINER_NAME, or --hooks-dir without CONTAINER_NAME)")
    .option('--qmp-dir-owner <uid:gid>', "owner UID:GID for the QMP directory when QEMU runs as another user (in KubeVirt both are 107)", parseOwner)
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
      if (envPodUid !== undefined && opts.podUid === undefined && !POD_UID.test(envPodUid)) throw new InputError('KUBEMOM_POD_UID', `"${envPodUid}" is not accepted; ${POD_UID_HINT}`);
      if (opts.hooksDir === '') throw new InputError('--hooks-dir', 'is empty; accepted: a directory');
      // Absolute from here on: QEMU, which resolves from its own working directory, gets the same path.
      const hooksDir = path.resolve(opts.hooksDir);
      const podUid = opts.podUid ?? (envPodUid ? envPodUid : discoverPodUid(hooksDir));
      const agent = new AgentService({ podUid, migration: { phase: opts.migrationPhase, hold: opts.migrationHold, metrics: opts.migrationMetrics } });
      const sidecar = await runSidecar({
        hooksDir,
        qemuHooksDir: opts.qemuHooksDir ?? defaultQemuHooksDir(hooksDir, process.env.CONTAINER_NAME),
        ...(opts.qmpDirOwner ? { qmpDirOwner: opts.qmpDirOwner } : {}),
        services: [agent.service],
        onVmConfig: (config) => agent.onVmConfig(config),
        onStop: () => agent.stop(),
      });
      await sidecar.stopped;
      process.exit(0);
    });
}
