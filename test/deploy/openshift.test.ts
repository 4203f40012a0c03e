/**
 * manifests/overlays/openshift and the HyperConverged examples: kustomize builds the overlay into the base plus an
 * SCC and its RBAC; every object validates offline against OpenShift's and HCO's own CRD schemas (checked in under
 * test/deploy/schemas/) and the Kubernetes ones; the SCC admits the shim's pod and nothing wider; the overlay
 * changes only what OpenShift needs; HCO's jsonpatch annotation turns the KubeVirt CR that HCO builds into one with
 * the same KubeMom settings as manifests/examples/kubevirt-configuration.yaml.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { packageRoot } from '../../src/common/paths.js';
import { shimOptionsFromFlags } from '../../src/cli/shim-command.js';
import { CRD_SCHEMA_FILES, kustomizeBuild, parseManifests, schemaErrors, typeErrors, type K8sObject } from './support.js';
import { applyJsonPatch, envFromConfigMaps, find, parseShimFlags, type JsonPatchOp } from './manifest-helpers.js';
import { sccViolations } from './scc-admission.js';
import { loadCrdSchema } from './crd-schema.js';

const manifests = path.join(packageRoot, 'manifests');
const NAMESPACE = 'kubemom-system';
const readExample = (file: string) => readFileSync(path.join(manifests, 'examples', file), 'utf8');

/**
 * The KubeVirt CR as HCO v1.18 builds it before applying the jsonpatch annotation, reduced to the parts the
 * annotation touches: HCO's hard-coded feature gates (controllers/handlers/kubevirt.go, hardCodeKvFgs) and no
 * supportContainerResources.
 */
const HCO_KUBEVIRT = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'KubeVirt',
  metadata: { name: 'kubevirt-kubevirt-hyperconverged', namespace: 'openshift-cnv' },
  spec: {
    configuration: {
      developerConfiguration: { featureGates: ['CPUManager', 'Snapshot', 'ExpandDisks', 'HostDevices', 'VMExport', 'KubevirtSeccompProfile', 'LiveUpdateNADRef'] },
      vmRolloutStrategy: 'LiveUpdate',
    },
  },
};

describe('manifests: OpenShift', function () {
  this.timeout(120_000);
  let base: K8sObject[];
  let openshift: K8sObject[];
  let hyperconverged: K8sObject;

  before(() => {
    base = parseManifests(kustomizeBuild(path.join(manifests, 'base')), 'kustomize build manifests/base');
    openshift = parseManifests(kustomizeBuild(path.join(manifests, 'overlays', 'openshift')), 'kustomize build manifests/overlays/openshift');
    [hyperconverged] = parseManifests(readExample('hyperconverged-configuration.yaml'), 'hyperconverged-configuration.yaml') as [K8sObject];
  });

  it('the checked-in schemas name their upstream source', () => {
    const sources = CRD_SCHEMA_FILES.map((file) => ({ file, ...loadCrdSchema(file) }));
    expect(sources.map((s) => `${s.group}/${s.version}/${s.kind}`)).to.deep.equal([
      'security.openshift.io/v1/SecurityContextConstraints',
      'hco.kubevirt.io/v1beta1/HyperConverged',
    ]);
    for (const s of sources) {
      expect(s.source.commit, s.file).to.match(/^[0-9a-f]{40}$/);
      expect(s.transformation, s.file).to.contain('description');
    }
    const readme = readFileSync(path.join(packageRoot, 'test', 'deploy', 'schemas', 'README.md'), 'utf8');
    for (const s of sources) expect(readme, s.file).to.contain(s.file).and.contain(s.source.commit);
  });

  it('kustomize builds the base plus the SCC and the RBAC that lets the shim use it', () => {
    const names = (objects: K8sObject[]) => objects.map((o) => `${o.kind}/${o.metadata.name.replace(/-[a-z0-9]{10}$/, '-<hash>')}`).sort();
    expect(names(openshift)).to.deep.equal(
      [...names(base), 'ClusterRole/kubemom-shim-scc', 'RoleBinding/kubemom-shim-scc', 'SecurityContextConstraints/kubemom-shim'].sort(),
    );
    for (const object of openshift) {
      const clusterScoped = ['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'SecurityContextConstraints'].includes(object.kind);
      expect(object.metadata.namespace, `${object.kind}/${object.metadata.name}`).to.equal(clusterScoped ? undefined : NAMESPACE);
    }
    const role = find(openshift, 'ClusterRole', 'kubemom-shim-scc');
    expect(role.rules).to.deep.equal([
      { apiGroups: ['security.openshift.io'], resources: ['securitycontextconstraints'], resourceNames: ['kubemom-shim'], verbs: ['use'] },
    ]);
    const binding = find(openshift, 'RoleBinding', 'kubemom-shim-scc');
    expect(binding.roleRef).to.deep.equal({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name });
    const pod = find(openshift, 'DaemonSet', 'kubemom-shim').spec.template;
    expect(binding.subjects).to.deep.equal([{ kind: 'ServiceAccount', name: pod.spec.serviceAccountName, namespace: NAMESPACE }]);
    // The SCC is granted through RBAC only, and the pod asks for it by name.
    const scc = find(openshift, 'SecurityContextConstraints', 'kubemom-shim');
    expect(scc.users).to.deep.equal([]);
    expect(scc.groups).to.deep.equal([]);
    expect(pod.metadata.annotations['openshift.io/required-scc']).to.equal(scc.metadata.name);
  });

  it('validates every object offline against the OpenShift, HCO, Kubernetes and Prometheus Operator schemas', async () => {
    const narrowed = applyJsonPatch(
      { ...hyperconverged, spec: { ksmConfiguration: { nodeLabelSelector: { matchLabels: { pool: 'dense' }, matchExpressions: [] } } } },
      parseYaml(readExample('hyperconverged-ksm-exclude-kubemom.yaml')) as JsonPatchOp[],
    ) as K8sObject;
    const all = [...openshift, hyperconverged, narrowed];
    expect(await schemaErrors(all)).to.deep.equal([]);
    expect(typeErrors(all)).to.deep.equal([]);
  });

  it("the CRD schema checks refuse misspelt fields, wrong types, missing required fields and HCO's fixed name", async () => {
    const scc = structuredClone(find(openshift, 'SecurityContextConstraints', 'kubemom-shim'));
    scc.allowHostDirVolumePlugn = true;
    scc.priority = '10';
    delete scc.volumes;
    scc.seLinuxContext.seLinuxOptions.typ = 'spc_t';
    const hco = structuredClone(hyperconverged) as any;
    hco.metadata.name = 'hco';
    hco.spec = { ksmConfiguration: { nodeLabelSelecter: {} } };
    const errors = (await schemaErrors([scc, hco])).join('\n');
    expect(errors).to.contain('SecurityContextConstraints/kubemom-shim: / must NOT have additional properties "allowHostDirVolumePlugn"');
    expect(errors).to.contain('SecurityContextConstraints/kubemom-shim: /priority must be integer');
    expect(errors).to.contain("SecurityContextConstraints/kubemom-shim: / must have required property 'volumes'");
    expect(errors).to.contain('/seLinuxContext/seLinuxOptions must NOT have additional properties "typ"');
    expect(errors).to.contain('HyperConverged/hco: /metadata/name must match pattern "kubevirt-hyperconverged"');
    expect(errors).to.contain('HyperConverged/hco: /spec/ksmConfiguration must NOT have additional properties "nodeLabelSelecter"');
  });

  it('the SCC admits the shim pod as the overlay builds it, with spc_t at s0, and refuses anything wider', () => {
    const scc = find(openshift, 'SecurityContextConstraints', 'kubemom-shim');
    const pod = find(openshift, 'DaemonSet', 'kubemom-shim').spec.template.spec;
    expect(sccViolations(scc, pod)).to.deep.equal([]);
    expect(pod.securityContext.seLinuxOptions).to.deep.equal({ type: 'spc_t', level: 's0' });
    expect(scc.seLinuxContext).to.deep.equal({ type: 'MustRunAs', seLinuxOptions: pod.securityContext.seLinuxOptions });
    expect(scc.runAsUser).to.deep.equal({ type: 'MustRunAs', uid: pod.securityContext.runAsUser });
    expect(scc.allowPrivilegedContainer).to.equal(false);
    expect(scc.requiredDropCapabilities).to.deep.equal(['ALL']);

    const wider = (change: (spec: any) => void) => {
      const spec = structuredClone(pod);
      change(spec);
      return sccViolations(scc, spec);
    };
    expect(wider((s) => (s.containers[0].securityContext.privileged = true))).to.deep.equal(['shim: privileged containers are not allowed']);
    expect(wider((s) => (s.securityContext.seLinuxOptions = { type: 'container_t', level: 's0' }))).to.deep.equal([
      'shim: seLinuxOptions.type "container_t" does not match the required "spc_t"',
    ]);
    expect(wider((s) => (s.hostPID = true))).to.deep.equal(['hostPID: host PID is not allowed']);
    expect(wider((s) => (s.containers[0].securityContext.capabilities.add = ['SYS_ADMIN']))).to.deep.equal(['shim: capability SYS_ADMIN may not be added']);
    expect(wider((s) => (s.securityContext.runAsUser = 1000))).to.deep.equal(['shim: runAsUser 1000 is not 0']);
    expect(wider((s) => (s.securityContext.supplementalGroups = [107, 0]))).to.deep.equal(['supplementalGroups: 0 is not an allowed group']);
    expect(wider((s) => s.volumes.push({ name: 'share', nfs: { server: 'nfs.example', path: '/' } }))).to.deep.equal(['volumes: nfs volumes are not allowed (share)']);
    // The ServiceAccount token the pod watch needs is a projected volume the SCC must allow.
    expect(sccViolations({ ...scc, volumes: ['hostPath', 'emptyDir'] }, pod)).to.deep.equal(['volumes: projected volumes are not allowed (kube-api-access)']);
  });

  it("changes only the SELinux context, the SCC pin, the kubelet config's path, node-exporter, the label syncer and the node-exporter alert", () => {
    const inBase = (objects: K8sObject[]) => objects.filter((o) => base.some((b) => b.kind === o.kind && b.metadata.name === o.metadata.name));
    const ds = structuredClone(find(openshift, 'DaemonSet', 'kubemom-shim'));
    const baseDs = find(base, 'DaemonSet', 'kubemom-shim');
    const args: string[] = ds.spec.template.spec.containers[0].args;
    expect(args.filter((a, i) => a !== baseDs.spec.template.spec.containers[0].args[i])).to.deep.equal(['--node-exporter-url=']);
    ds.spec.template.spec.containers[0].args = baseDs.spec.template.spec.containers[0].args;
    delete ds.spec.template.metadata.annotations;
    delete ds.spec.template.spec.securityContext.seLinuxOptions;
    const kubeletConfig = ds.spec.template.spec.volumes.find((v: any) => v.name === 'kubelet-config');
    expect(kubeletConfig.hostPath).to.deep.equal({ path: '/etc/kubernetes/kubelet.conf', type: 'File' });
    kubeletConfig.hostPath.path = baseDs.spec.template.spec.volumes.find((v: any) => v.name === 'kubelet-config').hostPath.path;
    // The patch merges volumes by name; their order does not matter to the kubelet.
    const byName = (a: any, b: any) => a.name.localeCompare(b.name);
    ds.spec.template.spec.volumes.sort(byName);
    expect(ds).to.deep.equal({ ...baseDs, spec: { ...baseDs.spec, template: { ...baseDs.spec.template, spec: { ...baseDs.spec.template.spec, volumes: [...baseDs.spec.template.spec.volumes].sort(byName) } } } });

    const ns = find(openshift, 'Namespace', NAMESPACE);
    expect(ns.metadata.labels).to.deep.equal({ ...find(base, 'Namespace', NAMESPACE).metadata.labels, 'security.openshift.io/scc.podSecurityLabelSync': 'false' });

    const alerts = (objects: K8sObject[]) => find(objects, 'PrometheusRule', 'kubemom').spec.groups.flatMap((g: any) => g.rules.map((r: any) => r.alert ?? r.record));
    expect(alerts(base).filter((a: string) => !alerts(openshift).includes(a))).to.deep.equal(['KubeMomNodeExporterDown']);

    for (const object of inBase(openshift)) {
      if (['DaemonSet', 'Namespace', 'PrometheusRule'].includes(object.kind)) continue;
      expect(object, `${object.kind}/${object.metadata.name}`).to.deep.equal(find(base, object.kind, object.metadata.name));
    }
  });

  it('the shim reads node memory from /proc only, with settings `kubemom shim` accepts', () => {
    const container = find(openshift, 'DaemonSet', 'kubemom-shim').spec.template.spec.containers[0];
    const flags = parseShimFlags(container.args, envFromConfigMaps(openshift, container));
    const options = shimOptionsFromFlags(flags as Parameters<typeof shimOptionsFromFlags>[0]);
    expect(options.nodeExporterUrl).to.equal(undefined);
    expect(options.ksmDir).to.equal('/host/sys/kernel/mm/ksm');
  });

  it("HCO's jsonpatch annotation gives the KubeVirt CR that HCO builds the same KubeMom settings as the KubeVirt example", () => {
    const ops = JSON.parse(hyperconverged.metadata.annotations!['kubevirt.kubevirt.io/jsonpatch']!) as JsonPatchOp[];
    // HCO applies only operations on spec (controllers/operands/operand.go).
    expect(ops.every((op) => op.path.startsWith('/spec/'))).to.equal(true);
    const patched = applyJsonPatch(HCO_KUBEVIRT, ops) as any;
    const config = patched.spec.configuration;
    expect(config.developerConfiguration.featureGates).to.deep.equal([...HCO_KUBEVIRT.spec.configuration.developerConfiguration.featureGates, 'Sidecar']);
    const kubevirtExample = (parseManifests(readExample('kubevirt-configuration.yaml'), 'kubevirt-configuration.yaml')[0] as any).spec.configuration;
    expect(config.supportContainerResources).to.deep.equal(kubevirtExample.supportContainerResources);
    expect(typeErrors([patched])).to.deep.equal([]);
    // The HyperConverged patch sets nothing else, KSM included.
    expect(Object.keys(hyperconverged)).to.deep.equal(['apiVersion', 'kind', 'metadata']);
  });

  it("the HCO KSM patch narrows an existing selector like the KubeVirt one, and fails where there is none", () => {
    const ops = parseYaml(readExample('hyperconverged-ksm-exclude-kubemom.yaml')) as JsonPatchOp[];
    const kubevirtOps = parseYaml(readExample('kubevirt-ksm-exclude-kubemom.yaml')) as JsonPatchOp[];
    expect(ops.map((o) => o.value)).to.deep.equal(kubevirtOps.map((o) => o.value));
    expect(ops.map((o) => o.path.replace('/spec/ksmConfiguration', ''))).to.deep.equal(kubevirtOps.map((o) => o.path.replace('/spec/configuration/ksmConfiguration', '')));
    const existing = { spec: { ksmConfiguration: { nodeLabelSelector: { matchExpressions: [{ key: 'pool', operator: 'In', values: ['dense'] }] } } } };
    const narrowed = applyJsonPatch(existing, ops) as typeof existing;
    expect(narrowed.spec.ksmConfiguration.nodeLabelSelector.matchExpressions).to.have.lengthOf(2);
    expect(() => applyJsonPatch({ spec: {} }, ops)).to.throw(/ksmConfiguration/);
    expect(() => applyJsonPatch({ spec: { ksmConfiguration: {} } }, ops)).to.throw(/nodeLabelSelector/);
  });

  it("keeps the overlay's kustomization to kustomize's own kind", () => {
    const k = parseYaml(readFileSync(path.join(manifests, 'overlays', 'openshift', 'kustomization.yaml'), 'utf8'));
    expect(k).to.include({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization' });
  });
});
