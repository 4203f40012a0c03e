/** `kubemom shim`: the node daemon (DaemonSet). */
import type { Command } from 'commander';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { InputError } from '../common/errors.js';
import { logger } from '../common/log.js';
import { KUBELET_DEFAULT_EVICTION_HARD, parseEvictionThreshold } from '../shim/host/eviction.js';
import { CGROUP_DRIVERS, type CgroupDriver } from '../shim/host/cgroup-memory.js';
import { parseEnforceNodeAllocatable, parseGracePeriods } from '../shim/host/kubelet-thresholds.js';
import { psiTriggerSpec } from '../shim/host/psi-trigger.js';
import { parseListenAddress } from '../shim/http.js';
import { POLICY_NAMES } from '../policy/registry.js';
import { DEFAULT_SHIM_POLICY, resolvePolicy } from '../shim/policies.js';
import { Shim, type ShimOptions } from '../shim/shim.js';

/** "500ms", "5s", "2m" to milliseconds. */
export function parseDuration(flag: string, text: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)$/.exec(text.trim());
  if (!match) throw new InputError(flag, `"${text}" is not accepted; use a duration such as 500ms, 5s or 1m`);
  const value = Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[match[2] as 'ms' | 's' | 'm'];
  if (value <= 0) throw new InputError(flag, `"${text}" must be above zero`);
  return value;
}

/** "some 150000 1000000" (kind, stall µs, window µs) or "off". */
export function parsePsiTrigger(flag: string, text: string): ShimOptions['psiTrigger'] {
  if (text.trim() === 'off') return undefined;
  const match = /^(some|full)\s+([0-9]+)\s+([0-9]+)$/.exec(text.trim());
  if (!match) throw new InputError(flag, `"${text}" is not accepted; use "<some|full> <stall µs> <window µs>" such as "some 150000 1000000", or "off"`);
  const spec = { kind: match[1] as 'some' | 'full', stallUs: Number(match[2]), windowUs: Number(match[3]) };
  try {
    psiTriggerSpec(spec);
  } catch (error) {
    throw new InputError(flag, (error as Error).message);
  }
  return spec;
}

/** The shim reads the host's memory there; without it nothing can work. */
function checkProcRoot(procRoot: string): void {
  const meminfo = path.join(procRoot, 'meminfo');
  try {
    accessSync(meminfo, constants.R_OK);
  } catch {
    throw new InputError('--proc-root', `"${procRoot}" has no readable meminfo; accepted: the host's /proc (in the DaemonSet, the host's /proc mounted read-only)`);
  }
}

interface ShimFlags {
  kubeletRoot: string;
  nodeExporterUrl: string;
  scrapeTimeout: string;
  ksmDir: string;
  procRoot: string;
  psiFile?: string;
  ioPsiFile?: string;
  psiTrigger: string;
  metricsAddress: string;
  policy: string;
  period: string;
  rescan: string;
  evictionHard: string;
  evictionSoft?: string;
  evictionSoftGracePeriod?: string;
  enforceNodeAllocatable?: string;
  cgroupRoot?: string;
  kubepodsCgroup?: string;
  cgroupDriver?: string;
  describeDeadline: string;
  setTargetDeadline: string;
}

/** Turns the flags into shim options; every error names its flag. */
export function shimOptionsFromFlags(flags: ShimFlags): ShimOptions {
  const evictionHard = parseEvictionThreshold('--eviction-hard', flags.evictionHard);
  const evictionSoft = flags.evictionSoft ? parseEvictionThreshold('--eviction-soft', flags.evictionSoft) : undefined;
  const psiTrigger = parsePsiTrigger('--psi-trigger', flags.psiTrigger);
  const options: ShimOptions = {
    kubeletRoot: flags.kubeletRoot,
    meminfoFile: path.join(flags.procRoot, 'meminfo'),
    vmstatFile: path.join(flags.procRoot, 'vmstat'),
    psiFile: flags.psiFile ?? path.join(flags.procRoot, 'pressure', 'memory'),
    ioPsiFile: flags.ioPsiFile ?? path.join(flags.procRoot, 'pressure', 'io'),
    procRoot: flags.procRoot,
    periodMs: parseDuration('--period', flags.period),
    rescanMs: parseDuration('--rescan', flags.rescan),
    scrapeTimeoutMs: parseDuration('--scrape-timeout', flags.scrapeTimeout),
    psiTrigger,
    session: {
      describeDeadlineMs: parseDuration('--describe-deadline', flags.describeDeadline),
      setTargetDeadlineMs: parseDuration('--set-target-deadline', flags.setTargetDeadline),
    },
  };
  if (flags.nodeExporterUrl !== '') {
    try {
      const url = new URL(flags.nodeExporterUrl);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
    } catch {
      throw new InputError('--node-exporter-url', `"${flags.nodeExporterUrl}" is not accepted; use an http(s) URL such as http://127.0.0.1:9100/metrics, or "" for /proc only`);
    }
    options.nodeExporterUrl = flags.nodeExporterUrl;
  }
  if (flags.ksmDir !== '') options.ksmDir = flags.ksmDir;
  if (flags.metricsAddress !== '') options.listen = parseListenAddress('--metrics-address', flags.metricsAddress);
  if (evictionHard) options.evictionHard = evictionHard;
  if (evictionSoft) options.evictionSoft = evictionSoft;
  if (flags.evictionSoftGracePeriod) {
    const grace = parseGracePeriods('--eviction-soft-grace-period', flags.evictionSoftGracePeriod);
    if (grace !== undefined) options.evictionSoftGracePeriodMs = grace;
  }
  if (flags.enforceNodeAllocatable !== undefined) {
    const keys = flags.enforceNodeAllocatable.split(',').map((k) => k.trim()).filter((k) => k !== '');
    options.enforcePodsAllocatable = parseEnforceNodeAllocatable('--enforce-node-allocatable', keys);
  }
  if (flags.cgroupRoot) options.cgroupRoot = flags.cgroupRoot;
  if (flags.kubepodsCgroup) options.kubepodsCgroup = flags.kubepodsCgroup;
  if (flags.cgroupDriver !== undefined) {
    if (!(CGROUP_DRIVERS as readonly string[]).includes(flags.cgroupDriver)) {
      throw new InputError('--cgroup-driver', `"${flags.cgroupDriver}" is not accepted; accepted: ${CGROUP_DRIVERS.join(', ')}`);
    }
    options.cgroupDriver = flags.cgroupDriver as CgroupDriver | 'auto';
  }
  return options;
}

const env = process.env;

export function registerShimCommand(program: Command): void {
  program
    .command('shim')
    .description('the node daemon: finds VM sidecars, reads host memory, runs the policy, drives balloons and KSM')
    .option('--kubelet-root <dir>', 'kubelet root directory (env KUBEMOM_KUBELET_ROOT)', env.KUBEMOM_KUBELET_ROOT ?? '/var/lib/kubelet')
    .option('--node-exporter-url <url>', 'node-exporter /metrics URL, "" for /proc only (env KUBEMOM_NODE_EXPORTER_URL)', env.KUBEMOM_NODE_EXPORTER_URL ?? 'http://127.0.0.1:9100/metrics')
    .option('--scrape-timeout <duration>', 'node-exporter scrape timeout (env KUBEMOM_SCRAPE_TIMEOUT)', env.KUBEMOM_SCRAPE_TIMEOUT ?? '1s')
    .option('--ksm-dir <dir>', 'KSM sysfs directory, "" to leave KSM alone (env KUBEMOM_KSM_DIR)', env.KUBEMOM_KSM_DIR ?? '/sys/kernel/mm/ksm')
    .option('--proc-root <dir>', 'where meminfo, vmstat and the ksmd thread are read (env KUBEMOM_PROC_ROOT)', env.KUBEMOM_PROC_ROOT ?? '/proc')
    .option('--psi-file <file>', 'memory PSI file (default <proc-root>/pressure/memory; env KUBEMOM_PSI_FILE)', env.KUBEMOM_PSI_FILE)
    .option('--io-psi-file <file>', 'IO PSI file for IO policies (default <proc-root>/pressure/io; env KUBEMOM_IO_PSI_FILE)', env.KUBEMOM_IO_PSI_FILE)
    .option('--psi-trigger <spec>', 'PSI trigger "<some|full> <stall µs> <window µs>" or "off" (env KUBEMOM_PSI_TRIGGER)', env.KUBEMOM_PSI_TRIGGER ?? 'some 150000 1000000')
    .option('--metrics-address <host:port>', 'address for /metrics, /healthz, /readyz, "" for none (env KUBEMOM_METRICS_ADDRESS)', env.KUBEMOM_METRICS_ADDRESS ?? '0.0.0.0:9470')
    .option('--policy <name|file>', `node policy: ${POLICY_NAMES.join(', ')}, or a policy file (env KUBEMOM_POLICY)`, env.KUBEMOM_POLICY ?? DEFAULT_SHIM_POLICY)
    .option('--period <duration>', 'policy loop period (env KUBEMOM_PERIOD)', env.KUBEMOM_PERIOD ?? '5s')
    .option('--rescan <duration>', 'full rescan period of the kubelet pods directory (env KUBEMOM_RESCAN)', env.KUBEMOM_RESCAN ?? '5s')
    .option('--eviction-hard <thresholds>', "the kubelet's --eviction-hard, e.g. memory.available<100Mi or memory.available<5% (env KUBEMOM_EVICTION_HARD)", env.KUBEMOM_EVICTION_HARD ?? KUBELET_DEFAULT_EVICTION_HARD)
    .option('--eviction-soft <thresholds>', "the kubelet's --eviction-soft, if set (env KUBEMOM_EVICTION_SOFT)", env.KUBEMOM_EVICTION_SOFT)
    .option('--eviction-soft-grace-period <periods>', "the kubelet's --eviction-soft-grace-period, e.g. memory.available=1m30s (env KUBEMOM_EVICTION_SOFT_GRACE_PERIOD)", env.KUBEMOM_EVICTION_SOFT_GRACE_PERIOD)
    .option('--enforce-node-allocatable <keys>', "the kubelet's --enforce-node-allocatable (default pods: allocatableMemory.available counts; env KUBEMOM_ENFORCE_NODE_ALLOCATABLE)", env.KUBEMOM_ENFORCE_NODE_ALLOCATABLE)
    .option('--cgroup-root <dir>', 'cgroup mount the kubelet\'s eviction signals are computed from, "" for MemAvailable only (env KUBEMOM_CGROUP_ROOT)', env.KUBEMOM_CGROUP_ROOT ?? '/sys/fs/cgroup')
    .option('--kubepods-cgroup <path>', 'the pods cgroup under the memory hierarchy (default kubepods.slice for systemd, kubepods for cgroupfs; env KUBEMOM_KUBEPODS_CGROUP)', env.KUBEMOM_KUBEPODS_CGROUP)
    .option('--cgroup-driver <driver>', `the kubelet's cgroup driver: ${CGROUP_DRIVERS.join(', ')} (auto: whichever pods cgroup exists; env KUBEMOM_CGROUP_DRIVER)`, env.KUBEMOM_CGROUP_DRIVER)
    .option('--describe-deadline <duration>', 'deadline for a sidecar Describe (env KUBEMOM_DESCRIBE_DEADLINE)', env.KUBEMOM_DESCRIBE_DEADLINE ?? '2s')
    .option('--set-target-deadline <duration>', 'deadline for a sidecar SetTarget (env KUBEMOM_SET_TARGET_DEADLINE)', env.KUBEMOM_SET_TARGET_DEADLINE ?? '1s')
    .action(async (flags: ShimFlags) => {
      const log = logger('shim');
      checkProcRoot(flags.procRoot);
      const shim = new Shim(shimOptionsFromFlags(flags), resolvePolicy('--policy', flags.policy));
      await shim.start();
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'stopping');
        void shim.stop().then(() => process.exit(0));
      };
      // SIGHUP reloads the policy (a file edited in place, a ConfigMap update): a broken
      // file leaves the last good policy in force (logged, kubemom_shim_policy_reloads_total).
      process.on('SIGHUP', () => void shim.reloadPolicy(() => resolvePolicy('--policy', flags.policy)));
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}
