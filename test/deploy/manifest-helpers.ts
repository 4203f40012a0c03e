/**
 * Helpers the manifest tests share: finding objects in a kustomize build, the settings a container gets, the real
 * `kubemom shim` flag parsing, and RFC 6902 `add` as the API server applies it.
 */
import { expect } from 'chai';
import { Command } from 'commander';
import { registerShimCommand } from '../../src/cli/shim-command.js';
import type { K8sObject } from './support.js';

/** The one object of `kind` (and `name`); fails the test if there is none or more than one. */
export function find(objects: K8sObject[], kind: string, name?: string): any {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, `${kind}/${name ?? '*'}`).to.have.lengthOf(1);
  return found[0];
}

/** The env settings a container gets from its envFrom ConfigMaps (later entries win, like the kubelet). */
export function envFromConfigMaps(objects: K8sObject[], container: any): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) Object.assign(env, find(objects, 'ConfigMap', source.configMapRef.name).data);
  return env;
}

/** Runs the real `kubemom shim` argument parsing on `args` with `env`, without starting the shim. */
export function parseShimFlags(args: string[], env: Record<string, string>): Record<string, any> {
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


export interface JsonPatchOp {
  op: string;
  path: string;
  value?: unknown;
}

/**
 * RFC 6902 `add` as the API server applies it, for appending to arrays ("/-") and
 * setting members of existing objects: a missing parent fails, naming the segment.
 */
export function applyJsonPatch(document: unknown, ops: readonly JsonPatchOp[]): unknown {
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
