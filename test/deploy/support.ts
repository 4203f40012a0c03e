/**
 * Offline validation of KubeMom's manifests:
 * - kustomize (the standalone binary, else kubectl's built-in one) builds the overlays;
 * - Kubernetes and Prometheus Operator objects are checked at run time against the JSON schemas that
 *   kubernetes-models and @kubernetes-models/prometheus-operator ship (types, formats, patterns, required fields);
 * - every object, KubeVirt's included, is type-checked by the TypeScript compiler against the API types those
 *   packages and @kubevirt-ui-ext/kubevirt-api (generated from KubeVirt's OpenAPI) ship: this catches unknown or
 *   misspelt fields, which the JSON schemas allow.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { packageRoot } from '../../src/common/paths.js';

/** A Kubernetes object as parsed from YAML. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** Parses a multi-document YAML text; any YAML error throws with its position. */
export function parseManifests(text: string, source: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text, { prettyErrors: true })) {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as K8sObject | null;
    if (value === null) continue;
    objects.push(value);
  }
  return objects;
}

/** `kustomize build DIR`, with kubectl's built-in kustomize when there is no standalone binary. */
export function kustomizeBuild(dir: string): string {
  const attempts: [string, string[]][] = [
    ['kustomize', ['build', dir]],
    ['kubectl', ['kustomize', dir]],
  ];
  const failures: string[] = [];
  for (const [command, args] of attempts) {
    const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 32 * 2 ** 20 });
    if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
      failures.push(`${command}: not installed`);
      continue;
    }
    if (result.status !== 0) {
      const how = result.error ? `failed (${result.error.message})` : result.signal ? `was killed by ${result.signal}` : `exited ${result.status}`;
      throw new Error(`${command} ${args.join(' ')} ${how}: ${result.stderr}`);
    }
    return result.stdout;
  }
  throw new Error(`no kustomize found (${failures.join('; ')}): install kustomize or kubectl`);
}

/** Where an object's schema and type live. */
interface ApiModel {
  /** Module exporting the model class (run-time JSON schema validation), when a package ships one. */
  module: string;
  className?: string;
  /** The TypeScript type of the object. */
  typeName: string;
  /** Maps the wire form to the TypeScript form where a generated type renamed a field. */
  toTyped?: (object: K8sObject) => unknown;
}

const MODELS: Record<string, ApiModel> = {
  'v1/Namespace': { module: 'kubernetes-models/v1/Namespace', className: 'Namespace', typeName: 'INamespace' },
  'v1/ServiceAccount': { module: 'kubernetes-models/v1/ServiceAccount', className: 'ServiceAccount', typeName: 'IServiceAccount' },
  'v1/ConfigMap': { module: 'kubernetes-models/v1/ConfigMap', className: 'ConfigMap', typeName: 'IConfigMap' },
  'v1/Service': { module: 'kubernetes-models/v1/Service', className: 'Service', typeName: 'IService' },
  'rbac.authorization.k8s.io/v1/ClusterRole': { module: 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole', className: 'ClusterRole', typeName: 'IClusterRole' },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': {
    module: 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding',
    className: 'ClusterRoleBinding',
    typeName: 'IClusterRoleBinding',
  },
  'apps/v1/DaemonSet': { module: 'kubernetes-models/apps/v1/DaemonSet', className: 'DaemonSet', typeName: 'IDaemonSet' },
  'monitoring.coreos.com/v1/ServiceMonitor': {
    module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
    className: 'ServiceMonitor',
    typeName: 'IServiceMonitor',
  },
  'monitoring.coreos.com/v1/PrometheusRule': {
    module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule',
    className: 'PrometheusRule',
    typeName: 'IPrometheusRule',
  },
  'kubevirt.io/v1/VirtualMachine': { module: '@kubevirt-ui-ext/kubevirt-api/kubevirt', typeName: 'V1VirtualMachine' },
  'kubevirt.io/v1/KubeVirt': {
    module: '@kubevirt-ui-ext/kubevirt-api/kubevirt',
    typeName: 'V1KubeVirt',
    // The generator renamed spec.configuration to _configuration (a clash with its own Configuration class);
    // its V1KubeVirtSpecFromJSON maps the JSON name "configuration" to it.
    toTyped: (object) => {
      const { configuration, ...spec } = (object as { spec?: Record<string, unknown> }).spec ?? {};
      return { ...object, spec: { ...spec, ...(configuration === undefined ? {} : { _configuration: configuration }) } };
    },
  },
};

function modelFor(object: K8sObject): ApiModel {
  const model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (!model) throw new Error(`no schema known for ${object.apiVersion} ${object.kind} (${object.metadata?.name})`);
  return model;
}

const label = (o: K8sObject) => `${o.kind}/${o.metadata?.name}`;

/** Validates against the packages' JSON schemas; returns one message per invalid object. */
export async function schemaErrors(objects: K8sObject[]): Promise<string[]> {
  const errors: string[] = [];
  for (const object of objects) {
    const model = modelFor(object);
    if (!model.className) continue;
    const exports = (await import(model.module)) as Record<string, new (value: unknown) => { validate(): void }>;
    try {
      new exports[model.className]!(object).validate();
    } catch (error) {
      errors.push(`${label(object)}: ${(error as Error).message}`);
    }
  }
  return errors;
}

/** Type-checks every object against its API type with the TypeScript compiler; returns the diagnostics. */
export function typeErrors(objects: K8sObject[]): string[] {
  const dir = path.join(packageRoot, '.cache', 'manifest-typecheck');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `check-${process.pid}.ts`);
  const imports = new Map<string, Set<string>>();
  const lines: string[] = [];
  const owners: { line: number; object: K8sObject }[] = [];
  objects.forEach((object, i) => {
    const model = modelFor(object);
    if (!imports.has(model.module)) imports.set(model.module, new Set());
    imports.get(model.module)!.add(model.typeName);
    owners.push({ line: lines.length, object });
    // One object per line: the diagnostic's line tells which object it is about.
    const typed = model.toTyped ? model.toTyped(object) : object;
    lines.push(`export const object${i} = ${JSON.stringify(typed)} satisfies ${model.typeName};`);
  });
  const header = [...imports].map(([module, names]) => `import type { ${[...names].join(', ')} } from '${module}';`);
  writeFileSync(file, [...header, ...lines].join('\n'));
  try {
    const program = ts.createProgram([file], {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: [],
    });
    return ts.getPreEmitDiagnostics(program).map((d) => {
      const text = ts.flattenDiagnosticMessageText(d.messageText, '\n  ');
      if (!d.file || d.start === undefined) return text;
      const line = d.file.getLineAndCharacterOfPosition(d.start).line - header.length;
      const owner = owners.find((o) => o.line === line);
      return `${owner ? label(owner.object) : `line ${line}`}: ${text}`;
    });
  } finally {
    rmSync(file, { force: true });
  }
}
