/**
 * The kubelet's own config file (KubeletConfiguration, kubelet.config.k8s.io/v1beta1), read for the settings
 * the shim must agree with: evictionHard, evictionSoft, evictionSoftGracePeriod (memory.available),
 * systemReserved and kubeReserved (memory), enforceNodeAllocatable, cgroupsPerQOS, cgroupDriver and cgroupRoot
 * (where the pods cgroup is). Field semantics and defaults: k8s.io/kubelet config/v1beta1/types.go.
 *
 * A field with a wrong type or value is an InputError naming `file:line:col` and the field; a field the
 * KubeletConfiguration does not have is only reported back (a newer kubelet may have it).
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { InputError } from '../../common/errors.js';
import { parseMemoryQuantity, QUANTITY_ACCEPTED } from '../../common/quantity.js';
import { excerpt } from '../../common/read-input.js';
import type { CgroupDriver } from './cgroup-memory.js';
import { type EvictionThreshold, parseEvictionThreshold } from './eviction.js';
import { parseEnforceNodeAllocatable, parseGoDuration } from './kubelet-thresholds.js';

/** What the shim takes from the kubelet's config; absent: the file does not set it. */
export interface KubeletConfigValues {
  /** memory.available's hard threshold; null: evictionHard is set without it (no threshold, as the kubelet reads it). */
  evictionHard?: EvictionThreshold | null;
  evictionSoft?: EvictionThreshold;
  evictionSoftGracePeriodMs?: number;
  systemReservedMemoryBytes?: number;
  kubeReservedMemoryBytes?: number;
  /** pods is in enforceNodeAllocatable (and cgroupsPerQOS is on). */
  enforcePodsAllocatable?: boolean;
  cgroupDriver?: CgroupDriver;
  /** The pods cgroup under the memory hierarchy, from cgroupRoot and the driver. */
  kubepodsCgroup?: string;
  /** Top-level fields the KubeletConfiguration does not have (reported as a warning). */
  unknownFields: string[];
}

/** KubeletConfiguration's top-level fields (k8s.io/kubelet config/v1beta1/types.go, plus apiVersion and kind). */
const KNOWN_FIELDS = new Set(
  (
    'apiVersion kind enableServer staticPodPath podLogsDir syncFrequency fileCheckFrequency httpCheckFrequency staticPodURL staticPodURLHeader address port ' +
    'readOnlyPort tlsCertFile tlsPrivateKeyFile tlsCipherSuites tlsCurvePreferences tlsMinVersion rotateCertificates serverTLSBootstrap authentication ' +
    'authorization registryPullQPS registryBurst imagePullCredentialsVerificationPolicy preloadedImagesVerificationAllowlist eventRecordQPS eventBurst ' +
    'enableDebuggingHandlers enableContentionProfiling healthzPort healthzBindAddress oomScoreAdj clusterDomain clusterDNS streamingConnectionIdleTimeout ' +
    'nodeStatusUpdateFrequency nodeStatusReportFrequency nodeLeaseDurationSeconds imageMinimumGCAge imageMaximumGCAge imageGCHighThresholdPercent ' +
    'imageGCLowThresholdPercent volumeStatsAggPeriod kubeletCgroups systemCgroups cgroupRoot cgroupsPerQOS cgroupDriver cpuManagerPolicy ' +
    'singleProcessOOMKill cpuManagerPolicyOptions cpuManagerReconcilePeriod memoryManagerPolicy topologyManagerPolicy topologyManagerScope ' +
    'topologyManagerPolicyOptions qosReserved runtimeRequestTimeout hairpinMode maxPods podCIDR podPidsLimit resolvConf runOnce cpuCFSQuota ' +
    'cpuCFSQuotaPeriod nodeStatusMaxImages maxOpenFiles contentType kubeAPIQPS kubeAPIBurst serializeImagePulls maxParallelImagePulls evictionHard ' +
    'evictionSoft evictionSoftGracePeriod evictionPressureTransitionPeriod evictionMaxPodGracePeriod evictionMinimumReclaim mergeDefaultEvictionSettings ' +
    'podsPerCore enableControllerAttachDetach protectKernelDefaults makeIPTablesUtilChains iptablesMasqueradeBit iptablesDropBit featureGates failSwapOn ' +
    'memorySwap containerLogMaxSize containerLogMaxFiles containerLogMaxWorkers containerLogMonitorInterval configMapAndSecretChangeDetectionStrategy ' +
    'systemReserved kubeReserved reservedSystemCPUs showHiddenMetricsForVersion systemReservedCgroup kubeReservedCgroup enforceNodeAllocatable ' +
    'allowedUnsafeSysctls defaultPodSysctls volumePluginDir providerID kernelMemcgNotification logging enableSystemLogHandler enableSystemLogQuery ' +
    'shutdownGracePeriod shutdownGracePeriodCriticalPods shutdownGracePeriodByPodPriority crashLoopBackOff reservedMemory enableProfilingHandler ' +
    'enableDebugFlagsHandler seccompDefault memoryThrottlingFactor memoryReservationPolicy registerWithTaints registerNode tracing ' +
    'localStorageCapacityIsolation containerRuntimeEndpoint imageServiceEndpoint failCgroupV1 userNamespaces'
  ).split(' '),
);

/** The pods cgroup for a kubelet cgroupRoot ("/" by default) and driver, as the kubelet names it. */
export function kubepodsUnder(cgroupRoot: string, driver: CgroupDriver): string {
  const parts = cgroupRoot.split('/').filter((p) => p !== '');
  if (driver === 'cgroupfs') return [...parts, 'kubepods'].join('/');
  // systemd: every level is a slice named by the path so far joined with "-" (kubelet.slice/kubelet-kubepods.slice).
  const names = [...parts.map((p) => p.replace(/\.slice$/, '')), 'kubepods'];
  return names.map((_, i) => `${names.slice(0, i + 1).join('-')}.slice`).join('/');
}

/** Parses the kubelet's config text; `file` names it in errors. */
export function parseKubeletConfig(file: string, text: string): KubeletConfigValues {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (node: Node | null | undefined, field: string): string => {
    const offset = node?.range?.[0];
    if (offset === undefined) return `${file}: ${field}`;
    const pos = lines.linePos(offset);
    return `${file}:${pos.line}:${pos.col}: ${field}`;
  };
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0] ?? (e.pos?.[0] !== undefined ? lines.linePos(e.pos[0]) : undefined);
    throw new InputError(pos ? `${file}:${pos.line}:${pos.col}` : file, `is not valid YAML: ${e.message.split('\n')[0]}`);
  }
  const root = doc.contents;
  if (root === null || root === undefined) return { unknownFields: [] };
  if (!isMap(root)) throw new InputError(at(root, '(document)'), 'is not a mapping; accepted: a KubeletConfiguration (kind: KubeletConfiguration)');
  const out: KubeletConfigValues = { unknownFields: [] };
  const fields = new Map<string, Node>();
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    fields.set(key, pair.value as Node);
    if (!KNOWN_FIELDS.has(key)) out.unknownFields.push(key);
  }
  const scalar = (name: string, kind: 'string' | 'boolean'): string | boolean | undefined => {
    const node = fields.get(name);
    if (node === undefined || (isScalar(node) && node.value === null)) return undefined;
    if (!isScalar(node) || typeof node.value !== kind) throw new InputError(at(node, name), `is ${describe(node)}; accepted: a ${kind}`);
    return node.value as string | boolean;
  };
  const stringMap = (name: string): Map<string, { value: string; node: Node }> | undefined => {
    const node = fields.get(name);
    if (node === undefined || (isScalar(node) && node.value === null)) return undefined;
    if (!isMap(node)) throw new InputError(at(node, name), `is ${describe(node)}; accepted: a mapping of names to strings, e.g. {"memory.available": "100Mi"}`);
    const map = new Map<string, { value: string; node: Node }>();
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const value = pair.value as Node;
      if (!isScalar(value) || (typeof value.value !== 'string' && typeof value.value !== 'number')) {
        throw new InputError(at(value ?? node, `${name}["${key}"]`), `is ${describe(value)}; accepted: a string`);
      }
      map.set(key, { value: String(value.value), node: value });
    }
    return map;
  };

  const kind = scalar('kind', 'string');
  if (kind !== undefined && kind !== 'KubeletConfiguration') throw new InputError(at(fields.get('kind'), 'kind'), `is "${excerpt(String(kind))}"; accepted: KubeletConfiguration`);

  const threshold = (name: string): EvictionThreshold | null | undefined => {
    const map = stringMap(name);
    if (!map) return undefined;
    const memory = map.get('memory.available');
    if (!memory) return null;
    const field = `${name}["memory.available"]`;
    try {
      return parseEvictionThreshold(field, `memory.available<${memory.value}`) ?? null;
    } catch (error) {
      throw new InputError(at(memory.node, field), error instanceof InputError ? error.problem : (error as Error).message);
    }
  };
  const hard = threshold('evictionHard');
  const merge = scalar('mergeDefaultEvictionSettings', 'boolean') === true;
  // An evictionHard without memory.available has none, unless defaults are merged in (then the default applies).
  if (hard !== undefined && !(hard === null && merge)) out.evictionHard = hard;
  const soft = threshold('evictionSoft');
  if (soft) out.evictionSoft = soft;
  const grace = stringMap('evictionSoftGracePeriod')?.get('memory.available');
  if (grace) {
    const ms = parseGoDuration(grace.value);
    if (ms === undefined) throw new InputError(at(grace.node, 'evictionSoftGracePeriod["memory.available"]'), `"${excerpt(grace.value)}" is not a duration; accepted: a Go duration such as 90s or 1m30s`);
    out.evictionSoftGracePeriodMs = ms;
  }
  if (out.evictionSoft && out.evictionSoftGracePeriodMs === undefined) {
    // The kubelet refuses this too (ParseThresholdConfig): a soft threshold needs its grace period.
    throw new InputError(at(fields.get('evictionSoft'), 'evictionSoft["memory.available"]'), 'has no grace period; accepted: with evictionSoftGracePeriod["memory.available"] set, as the kubelet requires');
  }
  for (const [name, key] of [['systemReserved', 'systemReservedMemoryBytes'], ['kubeReserved', 'kubeReservedMemoryBytes']] as const) {
    const memory = stringMap(name)?.get('memory');
    if (!memory) continue;
    const parsed = parseMemoryQuantity(memory.value);
    if ('error' in parsed) throw new InputError(at(memory.node, `${name}.memory`), `"${excerpt(memory.value)}" is not accepted; use ${QUANTITY_ACCEPTED}`);
    out[key] = parsed.value;
  }
  const enforce = fields.get('enforceNodeAllocatable');
  if (enforce !== undefined && !(isScalar(enforce) && enforce.value === null)) {
    if (!isSeq(enforce) || !enforce.items.every((i) => isScalar(i) && typeof i.value === 'string')) {
      throw new InputError(at(enforce, 'enforceNodeAllocatable'), `is ${describe(enforce)}; accepted: a list of strings such as [pods]`);
    }
    out.enforcePodsAllocatable = parseEnforceNodeAllocatable(at(enforce, 'enforceNodeAllocatable'), enforce.items.map((i) => String((i as { value: unknown }).value)));
  }
  // Without per-QoS cgroups there is no pods cgroup to enforce on.
  if (scalar('cgroupsPerQOS', 'boolean') === false) out.enforcePodsAllocatable = false;
  const driver = scalar('cgroupDriver', 'string');
  if (driver !== undefined) {
    if (driver !== 'systemd' && driver !== 'cgroupfs') throw new InputError(at(fields.get('cgroupDriver'), 'cgroupDriver'), `is "${excerpt(String(driver))}"; accepted: systemd, cgroupfs`);
    out.cgroupDriver = driver;
  }
  const cgroupRoot = scalar('cgroupRoot', 'string');
  if (cgroupRoot !== undefined && cgroupRoot !== '' && cgroupRoot !== '/') {
    if (!/^[A-Za-z0-9_./-]+$/.test(String(cgroupRoot)) || String(cgroupRoot).split('/').includes('..')) {
      throw new InputError(at(fields.get('cgroupRoot'), 'cgroupRoot'), `is "${excerpt(String(cgroupRoot))}"; accepted: a cgroup path such as / or /kubelet`);
    }
    // The kubelet's default driver is cgroupfs (types.go).
    out.kubepodsCgroup = kubepodsUnder(String(cgroupRoot), out.cgroupDriver ?? 'cgroupfs');
  }
  return out;
}

function describe(node: Node | null | undefined): string {
  if (node === null || node === undefined) return 'empty';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) return node.value === null ? 'empty' : `${typeof node.value} "${excerpt(String(node.value))}"`;
  return 'something else';
}
