/**
 * manifests/: every file parses; kustomize builds the base and the example overlay into exactly the
 * expected objects, wired to each other; every object validates offline against the Kubernetes,
 * Prometheus Operator and KubeVirt schemas; the shim runs with the least privilege the comments
 * justify; its settings are ones `kubemom shim` accepts; the example VM is one the sidecar accepts.
 */
import { expect } from 'chai';
import { Command } from 'commander';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { packageRoot } from '../../src/common/paths.js';
import { registerShimCommand, shimOptionsFromFlags } from '../../src/cli/shim-command.js';
import { resolvePolicy } from '../../src/shim/policies.js';
import { parseVmi } from '../../src/hook-sidecar/vmi.js';
import { readSettings } from '../../src/hook-sidecar/annotations.js';
import { kustomizeBuild, parseManifests, schemaErrors, typeErrors, type K8sObject } from './support.js';

const manifests = path.join(packageRoot, 'manifests');
const NAMESPACE = 'kubemom-system';
const IMAGE = 'registry.example/kubemom:0.1.0';

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) return yamlFiles(full);
    return /\.ya?ml$/.test(entry) ? [full] : [];
  });
}

function find(objects: K8sObject[], kind: string, name?: string): any {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, `${kind}/${name ?? '*'}`).to.have.lengthOf(1);
  return found[0];
}

/** The env settings a container gets from its envFrom ConfigMaps (later entries win, like the kubelet). */
function envFromConfigMaps(objects: K8sObject[], container: any): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) Object.assign(env, find(objects, 'ConfigMap', source.configMapRef.name).data);
  return env;
}

/** Runs the real `kubemom shim` argument parsing on `args` with `env`, without starting the shim. */
function parseShimFlags(args: string[], env: Record<string, string>): Record<string, any> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const program = new Command('kubemom').exitOverride();
    registerShimCommand(program);
    const shim = program.commands.find((c) => c.name() === 'shim')!;
    let flags: Record<string, any> = {};
    shim.action((opts: Record<string, any>) => {
      flags = opts;
    });
    // $(HOST_IP) and $(NODE_NAME) are expanded by the kubelet from the pod's env.
    program.parse(['node', 'kubemom', ...args.map((a) => a.replace('$(HOST_IP)', '192.0.2.10').replace('$(NODE_NAME)', 'node-a'))]);
    return flags;
  } finally {
    process.env = saved;
  }
}

describe('manifests', function () {
  this.timeout(120_000);
  let base: K8sObject[];
  let overlay: K8sObject[];
  let exampleVm: K8sObject;
  let kubevirtPatch: K8sObject;

  before(() => {
    base = parseManifests(kustomizeBuild(path.join(manifests, 'base')), 'kustomize build manifests/base');
    overlay = parseManifests(kustomizeBuild(path.join(manifests, 'overlays', 'example')), 'kustomize build manifests/overlays/example');
    [exampleVm] = parseManifests(readFileSync(path.join(manifests, 'examples', 'virtualmachine.yaml'), 'utf8'), 'virtualmachine.yaml') as [K8sObject];
    [kubevirtPatch] = parseManifests(readFileSync(path.join(manifests, 'examples', 'kubevirt-configuration.yaml'), 'utf8'), 'kubevirt-configuration.yaml') as [K8sObject];
  });

  it('every YAML file parses, and the dashboard is JSON', () => {
    const files = yamlFiles(manifests);
    expect(files.length).to.be.greaterThan(8);
    for (const file of files) parseManifests(readFileSync(file, 'utf8'), path.relative(packageRoot, file));
    JSON.parse(readFileSync(path.join(manifests, 'base', 'dashboards', 'kubemom.json'), 'utf8'));
  });

  it('kustomize builds the base into exactly the expected objects, all namespaced ones in kubemom-system', () => {
    const names = base.map((o) => `${o.kind}/${o.metadata.name.replace(/-[a-z0-9]{10}$/, '-<hash>')}`).sort();
    expect(names).to.deep.equal([
      'ClusterRole/kubemom-shim',
      'ClusterRoleBinding/kubemom-shim',
      'ConfigMap/kubemom-grafana-dashboard',
      'ConfigMap/kubemom-policy-<hash>',
      'DaemonSet/kubemom-shim',
      'Namespace/kubemom-system',
      'PrometheusRule/kubemom',
      'Service/kubemom-shim-metrics',
      'ServiceAccount/kubemom-shim',
      'ServiceMonitor/kubemom-shim',
    ]);
    for (const object of base) {
      if (object.kind === 'Namespace' || object.kind.startsWith('ClusterRole')) continue;
      expect(object.metadata.namespace, `${object.kind}/${object.metadata.name}`).to.equal(NAMESPACE);
    }
    // RBAC: read-only pods (the pod watch), nothing else, bound to the shim's service account alone.
    expect(base.filter((o) => /Role/.test(o.kind)).map((o) => o.kind).sort()).to.deep.equal(['ClusterRole', 'ClusterRoleBinding']);
    expect(find(base, 'ClusterRole', 'kubemom-shim').rules).to.deep.equal([{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]);
    const binding = find(base, 'ClusterRoleBinding', 'kubemom-shim');
    expect(binding.roleRef).to.deep.equal({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kubemom-shim' });
    expect(binding.subjects).to.deep.equal([{ kind: 'ServiceAccount', name: 'kubemom-shim', namespace: NAMESPACE }]);
  });

  it('wires the DaemonSet, Service, ServiceMonitor and ConfigMaps to each other', () => {
    const ds = find(base, 'DaemonSet', 'kubemom-shim');
    const pod = ds.spec.template;
    const [container] = pod.spec.containers;
    for (const [k, v] of Object.entries(ds.spec.selector.matchLabels)) expect(pod.metadata.labels[k]).to.equal(v);
    find(base, 'ServiceAccount', pod.spec.serviceAccountName);
    expect(container.image).to.equal(IMAGE);
    // The ConfigMap generator's hashed name is what the pod references.
    const policy = find(base, 'ConfigMap', container.envFrom[0].configMapRef.name);
    expect(policy.metadata.name).to.match(/^kubemom-policy-[a-z0-9]{10}$/);

    const service = find(base, 'Service', 'kubemom-shim-metrics');
    for (const [k, v] of Object.entries(service.spec.selector)) expect(pod.metadata.labels[k], k).to.equal(v);
    const portNames = container.ports.map((p: any) => p.name);
    expect(portNames).to.include(service.spec.ports[0].targetPort);
    expect(portNames).to.include(container.livenessProbe.httpGet.port);
    expect(portNames).to.include(container.readinessProbe.httpGet.port);
    expect(container.livenessProbe.httpGet.path).to.equal('/healthz');
    expect(container.readinessProbe.httpGet.path).to.equal('/readyz');

    const monitor = find(base, 'ServiceMonitor', 'kubemom-shim');
    for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) expect(service.metadata.labels[k], k).to.equal(v);
    expect(service.spec.ports.map((p: any) => p.name)).to.include(monitor.spec.endpoints[0].port);

    const volumes = new Set(pod.spec.volumes.map((v: any) => v.name));
    for (const mount of container.volumeMounts) expect(volumes.has(mount.name), mount.name).to.equal(true);

    const dashboard = find(base, 'ConfigMap', 'kubemom-grafana-dashboard');
    expect(dashboard.metadata.labels.grafana_dashboard).to.equal('1');
    expect(JSON.parse(dashboard.data['kubemom.json']).uid).to.equal('kubemom');
  });

  it('runs the shim with the least privilege the comments justify', () => {
    const ds = find(base, 'DaemonSet', 'kubemom-shim');
    const spec = ds.spec.template.spec;
    const [container] = spec.containers;
    expect(spec.hostPID ?? false).to.equal(false);
    expect(spec.hostNetwork ?? false).to.equal(false);
    expect(spec.hostIPC ?? false).to.equal(false);
    // The pod asks for its token (the pod watch); the service account does not hand it to anything else.
    expect(spec.automountServiceAccountToken).to.equal(true);
    expect(find(base, 'ServiceAccount', 'kubemom-shim').automountServiceAccountToken).to.equal(false);
    expect(spec.securityContext.supplementalGroups).to.deep.equal([107]);
    expect(spec.securityContext.seccompProfile.type).to.equal('RuntimeDefault');
    expect(container.securityContext).to.deep.equal({
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    const hostPaths = Object.fromEntries(spec.volumes.filter((v: any) => v.hostPath).map((v: any) => [v.name, v.hostPath.path]));
    expect(hostPaths).to.deep.equal({
      'kubelet-pods': '/var/lib/kubelet/pods',
      ksm: '/sys/kernel/mm/ksm',
      pressure: '/proc/pressure',
      'host-proc': '/proc',
      cgroup: '/sys/fs/cgroup',
      'kubelet-config': '/var/lib/kubelet/config.yaml',
    });
    const mounts = Object.fromEntries(container.volumeMounts.map((m: any) => [m.name, m]));
    expect(mounts['kubelet-pods']).to.include({ readOnly: true, mountPropagation: 'HostToContainer' });
    expect(mounts['host-proc'].readOnly).to.equal(true);
    expect(mounts.cgroup.readOnly).to.equal(true);
    expect(mounts['kubelet-config'].readOnly).to.equal(true);
    // Written: KSM controls and the PSI trigger.
    expect(mounts.ksm.readOnly ?? false).to.equal(false);
    expect(mounts.pressure.readOnly ?? false).to.equal(false);
    expect(spec.nodeSelector['kubevirt.io/schedulable']).to.equal('true');
    expect(spec.priorityClassName).to.equal('system-node-critical');
    expect(container.resources.limits.memory).to.be.a('string');
  });

  it('gives the shim flags and ConfigMap settings that `kubemom shim` accepts, paths inside its mounts', () => {
    for (const objects of [base, overlay]) {
      const container = find(objects, 'DaemonSet', 'kubemom-shim').spec.template.spec.containers[0];
      expect(container.command).to.deep.equal(['/usr/local/bin/node', '/opt/kubemom/dist/src/cli/main.js']);
      expect(container.args[0]).to.equal('shim');
      const env = envFromConfigMaps(objects, container);
      const flags = parseShimFlags(container.args, env);
      const options = shimOptionsFromFlags(flags as Parameters<typeof shimOptionsFromFlags>[0]);
      resolvePolicy('KUBEMOM_POLICY', flags.policy);
      const mountPaths: string[] = container.volumeMounts.map((m: any) => m.mountPath);
      const inside = (file: string) => mountPaths.some((m) => file === m || file.startsWith(`${m}/`));
      expect(inside(options.psiFile), options.psiFile).to.equal(true);
      expect(inside(options.ksmDir!), options.ksmDir).to.equal(true);
      expect(inside(path.join(options.kubeletRoot, 'pods')), options.kubeletRoot).to.equal(true);
      expect(inside(options.meminfoFile), options.meminfoFile).to.equal(true);
      expect(inside(options.cgroupRoot!), options.cgroupRoot).to.equal(true);
      expect(inside(flags.kubeletConfig), flags.kubeletConfig).to.equal(true);
      expect(options.listen!.port).to.equal(container.ports[0].containerPort);
      // A window that is a multiple of 2 s: the only kind the kernel accepts without CAP_SYS_RESOURCE.
      expect(options.psiTrigger!.windowUs % 2_000_000).to.equal(0);
    }
  });

  it('the example overlay changes the image, nodes, settings and resources, and nothing else', () => {
    const strip = (objects: K8sObject[]) =>
      objects.map((o) => JSON.parse(JSON.stringify(o).replace(/kubemom-policy-[a-z0-9]{10}/g, 'kubemom-policy')));
    const [b, o] = [strip(base), strip(overlay)];
    expect(o.map((x) => `${x.kind}/${x.metadata.name}`)).to.deep.equal(b.map((x) => `${x.kind}/${x.metadata.name}`));
    const oc = find(o, 'DaemonSet', 'kubemom-shim').spec.template.spec;
    const bc = find(b, 'DaemonSet', 'kubemom-shim').spec.template.spec;
    expect(oc.containers[0].image).to.equal('registry.example.com/platform/kubemom:0.1.0');
    expect(oc.nodeSelector).to.deep.equal({ ...bc.nodeSelector, 'kubemom.io/enabled': 'true' });
    expect(oc.containers[0].resources.limits.memory).to.equal('384Mi');
    const op = find(o, 'ConfigMap', 'kubemom-policy').data;
    const bp = find(b, 'ConfigMap', 'kubemom-policy').data;
    expect(op).to.deep.equal({ ...bp, KUBEMOM_EVICTION_HARD: 'memory.available<500Mi', KUBEMOM_PERIOD: '2s' });
    // Everything else is the base, byte for byte.
    const without = (spec: any) => ({ ...spec, nodeSelector: undefined, containers: spec.containers.map((c: any) => ({ ...c, image: undefined, resources: undefined })) });
    expect(without(oc)).to.deep.equal(without(bc));
    for (const kind of ['Namespace', 'ServiceAccount', 'Service', 'ServiceMonitor', 'PrometheusRule']) {
      expect(find(o, kind), kind).to.deep.equal(find(b, kind));
    }
    // A new setting gives the ConfigMap a new name, so the DaemonSet rolls out.
    const hashed = (objects: K8sObject[]) => find(objects, 'DaemonSet', 'kubemom-shim').spec.template.spec.containers[0].envFrom[0].configMapRef.name;
    expect(hashed(overlay)).to.not.equal(hashed(base));
  });

  it('validates every object offline against the Kubernetes, Prometheus Operator and KubeVirt schemas', async () => {
    const all = [...base, ...overlay, exampleVm, kubevirtPatch];
    expect(await schemaErrors(all)).to.deep.equal([]);
    expect(typeErrors(all)).to.deep.equal([]);
  });

  it('the schema checks refuse misspelt fields, wrong types and missing required fields', async () => {
    const ds = structuredClone(find(base, 'DaemonSet', 'kubemom-shim'));
    ds.spec.template.spec.containers[0].securityContxt = { privileged: true };
    const service = structuredClone(find(base, 'Service', 'kubemom-shim-metrics'));
    service.spec.ports[0].port = '9470';
    const vm = structuredClone(exampleVm) as any;
    vm.spec.template.spec.domain.memory.gust = '4Gi';
    const vmWithoutSpec = structuredClone(exampleVm) as any;
    delete vmWithoutSpec.spec;
    const monitor = structuredClone(find(base, 'ServiceMonitor', 'kubemom-shim'));
    monitor.spec.endpoints[0].interval = 'every 15 seconds';

    const errors = typeErrors([ds, service, vm, vmWithoutSpec]);
    expect(errors).to.have.lengthOf(4);
    expect(errors[0]).to.match(/^DaemonSet\/kubemom-shim: .*'"securityContxt"' does not exist/);
    expect(errors[1]).to.match(/^Service\/kubemom-shim-metrics: Type 'string' is not assignable to type 'number'/);
    expect(errors[2]).to.match(/^VirtualMachine\/overcommitted-fedora: .*'"gust"' does not exist in type 'V1Memory'/);
    expect(errors[3]).to.match(/^VirtualMachine\/overcommitted-fedora: .*Property 'spec' is missing/s);
    const runtime = await schemaErrors([service, monitor]);
    expect(runtime.join('\n')).to.match(/Service\/kubemom-shim-metrics: .*port must be integer/);
    expect(runtime.join('\n')).to.match(/ServiceMonitor\/kubemom-shim: .*interval must match pattern/);
  });

  it('the example VM runs KubeMom\'s sidecar from the deployed image, with annotations the sidecar accepts', () => {
    const template = (exampleVm as any).spec.template;
    const annotations: Record<string, string> = template.metadata.annotations;
    const sidecars = JSON.parse(annotations['hooks.kubevirt.io/hookSidecars'] ?? 'null') as { image: string; args: string[] }[];
    expect(sidecars).to.have.lengthOf(1);
    expect(sidecars[0]!.image).to.equal(IMAGE);
    expect(sidecars[0]!.args).to.deep.equal(['sidecar']);
    // The VMI KubeVirt makes from this template, read by the sidecar's own parsers.
    const vmi = { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: { name: exampleVm.metadata.name, namespace: exampleVm.metadata.namespace, uid: '00000000-0000-4000-8000-000000000001', annotations }, spec: template.spec };
    const facts = parseVmi(JSON.stringify(vmi));
    const settings = readSettings(facts.annotations, facts.guestMemoryBytes!, facts.requestedMemoryBytes);
    expect(settings).to.deep.include({ guaranteedMemoryBytes: 2 ** 30, priority: 30, statsPeriodSeconds: 5, autodeflate: true, freePageReporting: true, policy: 'default', memoryMarginBytes: 256 * 2 ** 20 });
    // Every documented kubemom.io annotation is shown.
    const shown = Object.keys(annotations).filter((k) => k.startsWith('kubemom.io/')).sort();
    expect(shown).to.deep.equal(['kubemom.io/autodeflate', 'kubemom.io/free-page-reporting', 'kubemom.io/guaranteed-memory', 'kubemom.io/memory-margin', 'kubemom.io/policy', 'kubemom.io/priority', 'kubemom.io/stats-period']);
    // Overcommitted: the guest sees more than the pod requests.
    expect(facts.guestMemoryBytes!).to.be.greaterThan(facts.requestedMemoryBytes!);
  });

  it('the KubeVirt settings turn on the Sidecar gate and size the sidecar, and set no KSM selector of their own', () => {
    const config = (kubevirtPatch as any).spec.configuration;
    expect(config.developerConfiguration.featureGates).to.include('Sidecar');
    const sidecar = config.supportContainerResources.find((r: any) => r.type === 'sidecar');
    expect(sidecar.resources.limits.memory).to.equal('128Mi');
    // A merge patch with a selector would switch KubeVirt's KSM on for every node it selects.
    expect(config.ksmConfiguration).to.equal(undefined);
  });

  it("the KSM patch only narrows an existing selector to exclude the overlay's nodes, and fails where there is none", () => {
    const ops = parseYaml(readFileSync(path.join(manifests, 'examples', 'kubevirt-ksm-exclude-kubemom.yaml'), 'utf8')) as JsonPatchOp[];
    const shimNodes = find(overlay, 'DaemonSet', 'kubemom-shim').spec.template.spec.nodeSelector;
    expect(ops.every((op) => op.op === 'add' && op.path.endsWith('/-'))).to.equal(true);
    const existing = { spec: { configuration: { ksmConfiguration: { nodeLabelSelector: { matchExpressions: [{ key: 'pool', operator: 'In', values: ['dense'] }] } } } } };
    const narrowed = applyJsonPatch(existing, ops) as typeof existing;
    expect(narrowed.spec.configuration.ksmConfiguration.nodeLabelSelector.matchExpressions).to.deep.equal([
      { key: 'pool', operator: 'In', values: ['dense'] },
      { key: 'kubemom.io/enabled', operator: 'NotIn', values: [shimNodes['kubemom.io/enabled']] },
    ]);
    // No ksmConfiguration (KubeVirt's KSM selects no node), or no selector: the patch fails, it never creates one.
    expect(() => applyJsonPatch({ spec: { configuration: {} } }, ops)).to.throw(/ksmConfiguration/);
    expect(() => applyJsonPatch({ spec: { configuration: { ksmConfiguration: {} } } }, ops)).to.throw(/nodeLabelSelector/);
  });

  it('keeps the kustomization files to kustomize\'s own kind', () => {
    for (const dir of ['base', path.join('overlays', 'example')]) {
      const k = parseYaml(readFileSync(path.join(manifests, dir, 'kustomization.yaml'), 'utf8'));
      expect(k).to.include({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization' });
    }
  });
});

interface JsonPatchOp {
  op: string;
  path: string;
  value?: unknown;
}

/**
 * RFC 6902 `add` as the API server applies it, for appending to arrays ("/-") and
 * setting members of existing objects: a missing parent fails, naming the segment.
 */
function applyJsonPatch(document: unknown, ops: readonly JsonPatchOp[]): unknown {
  const doc = structuredClone(document) as Record<string, unknown>;
  for (const op of ops) {
    if (op.op !== 'add') throw new Error(`op ${op.op} is not supported by this test`);
    const segments = op.path.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    let node: unknown = doc;
    for (const segment of segments.slice(0, -1)) {
      const next = (node as Record<string, unknown> | undefined)?.[segment];
      if (next === undefined || next === null || typeof next !== 'object') throw new Error(`path ${op.path}: ${segment} does not exist`);
      node = next;
    }
    const last = segments[segments.length - 1]!;
    if (Array.isArray(node)) {
      if (last !== '-') throw new Error(`path ${op.path}: only "-" is supported on arrays here`);
      node.push(op.value);
    } else (node as Record<string, unknown>)[last] = op.value;
  }
  return doc;
}
