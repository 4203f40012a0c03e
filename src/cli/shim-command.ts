/** `kubemom shim`: the node daemon (DaemonSet). */
import type { Command } from 'commander';
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../common/errors.js';
import { logger } from '../common/log.js';
import { KUBELET_DEFAULT_EVICTION_HARD, parseEvictionThreshold } from '../shim/host/eviction.js';
import { CGROUP_DRIVERS, type CgroupDriver } from '../shim/host/cgroup-memory.js';
import { parseEnforceNodeAllocatable, parseGracePeriods } from '../shim/host/kubelet-thresholds.js';
import { type KubeletConfigValues, parseKubeletConfig } from '../shim/host/kubelet-config.js';
import { readInputText } from '../common/read-input.js';
import { parseMemoryQuantity, QUANTITY_ACCEPTED } from '../common/quantity.js';
import { inClusterConfig, type KubeApiConfig, SERVICE_ACCOUNT_DIR } from '../shim/kube/api-client.js';
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
  /** Absent: the kubelet config's, else the kubelet's default. */
  evictionHard?: string;
  evictionSoft?: string;
  kubeletConfig?: string;
  evictionSoftGracePeriod?: string;
  enforceNodeAllocatable?: string;
  cgroupRoot?: string;
  kubepodsCgroup?: string;
  cgroupDriver?: string;
  podCeilingMargin?: string;
  kubernetesApi?: string;
  nodeName?: string;
  memoryOvercommit?: string;
  describeDeadline: string;
  setTargetDeadline: string;
}

/**
 * The kubelet's config file: `--kubelet-config` when given ("" none; a missing file is an error), else
 * `<kubelet-root>/config.yaml` when present. Fields it sets apply unless a flag sets them too.
 */
export function loadKubeletConfig(flags: Pick<ShimFlags, 'kubeletConfig' | 'kubeletRoot'>): { file: string; values: KubeletConfigValues } | undefined {
  let file = flags.kubeletConfig;
  if (file === '') return undefined;
  if (file === undefined) {
    file = path.join(flags.kubeletRoot, 'config.yaml');
    if (!existsSync(file)) return undefined;
  }
  return { file, values: parseKubeletConfig(file, readInputText(file, '--kubelet-config', 1024 * 1024)) };
}

/**
 * --kubernetes-api: `auto` (the in-cluster config when the pod has a service account token, else off, with
 * why), `off`, or an http(s) URL (for instance `kubectl proxy` on loopback; the service account token is sent
 * when there is one).
 */
export function kubernetesApiFromFlag(text: string, env: NodeJS.ProcessEnv = process.env, saDir: string = SERVICE_ACCOUNT_DIR): { config?: KubeApiConfig; off?: string } {
  if (text === 'off') return { off: '--kubernetes-api off' };
  if (text === 'auto') {
    const c = inClusterConfig(env, saDir);
    return 'missing' in c ? { off: c.missing } : { config: c };
  }
  let url: URL;
  try {
    url = new URL(text);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new InputError('--kubernetes-api', `"${text}" is not accepted; accepted: auto, off, or an http(s) URL of the API server`);
  }
  const inCluster = inClusterConfig({ KUBERNETES_SERVICE_HOST: 'x' }, saDir);
  return { config: { server: url, ...('missing' in inCluster ? {} : { tokenFile: inCluster.tokenFile!, ...(url.protocol === 'https:' ? { caFile: inCluster.caFile! } : {}) }) } };
}

/** Turns the flags (and the kubelet's config, under them) into shim options; every error names its flag or field. */
export function shimOptionsFromFlags(flags: ShimFlags, kubelet?: KubeletConfigValues): ShimOptions {
  let evictionHard = parseEvictionThreshold('--eviction-hard', flags.evictionHard ?? KUBELET_DEFAULT_EVICTION_HARD);
  if (flags.evictionHard === undefined && kubelet?.evictionHard !== undefined) evictionHard = kubelet.evictionHard ?? undefined;
  const evictionSoft = flags.evictionSoft ? parseEvictionThreshold('--eviction-soft', flags.evictionSoft) : kubelet?.evictionSoft;
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
  } else if (kubelet?.evictionSoftGracePeriodMs !== undefined) {
    options.evictionSoftGracePeriodMs = kubelet.evictionSoftGracePeriodMs;
  }
  if (flags.enforceNodeAllocatable !== undefined) {
    const keys = flags.enforceNodeAllocatable.split(',').map((k) => k.trim()).filter((k) => k !== '');
    options.enforcePodsAllocatable = parseEnforceNodeAllocatable('--enforce-node-allocatable', keys);
  } else if (kubelet?.enforcePodsAllocatable !== undefined) {
    options.enforcePodsAllocatable = kubelet.enforcePodsAllocatable;
  }
  if (flags.podCeilingMargin !== undefined) {
    const margin = parseMemoryQuantity(flags.podCeilingMargin);
    if ('error' in margin) throw new InputError('--pod-ceiling-margin', `"${flags.podCeilingMargin}" is not accepted; use ${QUANTITY_ACCEPTED}`);
    options.podCeilingMarginBytes = margin.value;
  }
  if (flags.memoryOvercommit !== undefined && flags.memoryOvercommit !== '') {
    const percent = Number(flags.memoryOvercommit.trim().replace(/%$/, ''));
    if (!Number.isInteger(percent) || percent < 10 || percent > 10_000) {
      throw new InputError('--memory-overcommit', `"${flags.memoryOvercommit}" is not accepted; use the KubeVirt CR's memoryOvercommit, a whole percentage from 10 to 10000 (150: guests get 100/150 of their memory requested)`);
    }
    options.memoryOvercommitPercent = percent;
  }
  if (flags.kubernetesApi !== undefined) {
    const api = kubernetesApiFromFlag(flags.kubernetesApi);
    if (api.config) {
      const nodeName = flags.nodeName ?? '';
      if (nodeName === '') throw new InputError('--node-name', 'is empty; the Kubernetes API needs this node\'s name (the DaemonSet sets NODE_NAME from spec.nodeName), or use --kubernetes-api off');
      options.kubernetes = { api: api.config, nodeName };
    } else {
      options.kubernetesApiOff = api.off!;
    }
  }
  if (kubelet?.systemReservedMemoryBytes !== undefined || kubelet?.kubeReservedMemoryBytes !== undefined) {
    options.kubeletReservedBytes = (kubelet.systemReservedMemoryBytes ?? 0) + (kubelet.kubeReservedMemoryBytes ?? 0);
  }
  if (flags.cgroupRoot) options.cgroupRoot = flags.cgroupRoot;
  if (flags.kubepodsCgroup) options.kubepodsCgroup = flags.kubepodsCgroup;
  else if (kubelet?.kubepodsCgroup !== undefined) options.kubepodsCgroup = kubelet.kubepodsCgroup;
  if (flags.cgroupDriver === undefined && kubelet?.cgroupDriver !== undefined) options.cgroupDriver = kubelet.cgroupDriver;
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
    .option('--kubelet-config <file>', "the kubelet's config file, for its eviction thresholds, reservations, enforceNodeAllocatable and cgroup driver; flags override it (default <kubelet-root>/config.yaml when present, \"\" none; env KUBEMOM_KUBELET_CONFIG)", env.KUBEMOM_KUBELET_CONFIG)
    .option('--eviction-hard <thresholds>', `the kubelet's --eviction-hard, e.g. memory.available<100Mi or memory.available<5% (default: the kubelet config's, else ${KUBELET_DEFAULT_EVICTION_HARD}; env KUBEMOM_EVICTION_HARD)`, env.KUBEMOM_EVICTION_HARD)
    .option('--eviction-soft <thresholds>', "the kubelet's --eviction-soft, if set (default: the kubelet config's; env KUBEMOM_EVICTION_SOFT)", env.KUBEMOM_EVICTION_SOFT)
    .option('--eviction-soft-grace-period <periods>', "the kubelet's --eviction-soft-grace-period, e.g. memory.available=1m30s (env KUBEMOM_EVICTION_SOFT_GRACE_PERIOD)", env.KUBEMOM_EVICTION_SOFT_GRACE_PERIOD)
    .option('--enforce-node-allocatable <keys>', "the kubelet's --enforce-node-allocatable (default pods: allocatableMemory.available counts; env KUBEMOM_ENFORCE_NODE_ALLOCATABLE)", env.KUBEMOM_ENFORCE_NODE_ALLOCATABLE)
    .option('--cgroup-root <dir>', 'cgroup mount the kubelet\'s eviction signals are computed from, "" for MemAvailable only (env KUBEMOM_CGROUP_ROOT)', env.KUBEMOM_CGROUP_ROOT ?? '/sys/fs/cgroup')
    .option('--kubepods-cgroup <path>', 'the pods cgroup under the memory hierarchy (default kubepods.slice for systemd, kubepods for cgroupfs; env KUBEMOM_KUBEPODS_CGROUP)', env.KUBEMOM_KUBEPODS_CGROUP)
    .option('--cgroup-driver <driver>', `the kubelet's cgroup driver: ${CGROUP_DRIVERS.join(', ')} (auto: whichever pods cgroup exists; env KUBEMOM_CGROUP_DRIVER)`, env.KUBEMOM_CGROUP_DRIVER)
    .option('--pod-ceiling-margin <quantity>', "memory kept free under a VM pod's memory limit above its measured overhead: no target goes above limit - overhead - margin (env KUBEMOM_POD_CEILING_MARGIN)", env.KUBEMOM_POD_CEILING_MARGIN ?? '64Mi')
    .option('--kubernetes-api <mode>', "auto (the in-cluster service account, if the pod has one), off, or an API server URL: this node's pods, for floors from pod memory requests and proof of each sidecar's pod (env KUBEMOM_KUBERNETES_API)", env.KUBEMOM_KUBERNETES_API ?? 'auto')
    .option('--node-name <name>', "this node's name, for the pods' spec.nodeName field selector (env NODE_NAME)", env.NODE_NAME)
    .option('--memory-overcommit <percent>', "the KubeVirt CR's memoryOvercommit: floor = guest x 100 / PERCENT for VMs without a memory request, where the API gives none (env KUBEMOM_MEMORY_OVERCOMMIT)", env.KUBEMOM_MEMORY_OVERCOMMIT)
    .option('--describe-deadline <duration>', 'deadline for a sidecar Describe (env KUBEMOM_DESCRIBE_DEADLINE)', env.KUBEMOM_DESCRIBE_DEADLINE ?? '2s')
    .option('--set-target-deadline <duration>', 'deadline for a sidecar SetTarget (env KUBEMOM_SET_TARGET_DEADLINE)', env.KUBEMOM_SET_TARGET_DEADLINE ?? '1s')
    .action(async (flags: ShimFlags) => {
      const log = logger('shim');
      checkProcRoot(flags.procRoot);
      const kubelet = loadKubeletConfig(flags);
      if (kubelet) {
        const { unknownFields, ...values } = kubelet.values;
        log.info({ file: kubelet.file, ...values }, "read the kubelet's config; flags given explicitly override it");
        if (unknownFields.length > 0) log.warn({ file: kubelet.file, fields: unknownFields }, "the kubelet's config has fields KubeletConfiguration v1beta1 does not know; ignored");
      }
      const shim = new Shim(shimOptionsFromFlags(flags, kubelet?.values), resolvePolicy('--policy', flags.policy));
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
