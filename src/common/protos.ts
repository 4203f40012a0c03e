/**
 * Loads the project's .proto files into grpc-js service definitions.
 *
 * Options are fixed project-wide: field names exactly as written in the .proto
 * (camelCase for KubeVirt's, snake_case for kubemom.v1), 64-bit integers as JS
 * numbers (memory sizes stay far below 2^53), enums as their string names,
 * `bytes` as Buffer.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import path from 'node:path';
import { protoRoot } from './paths.js';

export const PROTO_LOAD_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [protoRoot],
};

const cache = new Map<string, grpc.GrpcObject>();

/** Loads one .proto file (path relative to proto/) and returns its package tree. */
export function loadProto(relativePath: string): grpc.GrpcObject {
  const cached = cache.get(relativePath);
  if (cached) return cached;
  const definition = protoLoader.loadSync(path.join(protoRoot, relativePath), PROTO_LOAD_OPTIONS);
  const loaded = grpc.loadPackageDefinition(definition);
  cache.set(relativePath, loaded);
  return loaded;
}

/** Walks a dotted package path ("kubevirt.hooks.info.Info") to a service constructor. */
export function serviceClient(relativePath: string, dotted: string): grpc.ServiceClientConstructor {
  let node: unknown = loadProto(relativePath);
  for (const part of dotted.split('.')) {
    node = (node as Record<string, unknown>)[part];
    if (node === undefined) throw new Error(`proto ${relativePath} has no ${dotted}`);
  }
  return node as grpc.ServiceClientConstructor;
}

export const HOOK_PROTOS = {
  info: { file: 'kubevirt/hooks/info/info.proto', service: 'kubevirt.hooks.info.Info' },
  v1alpha1: { file: 'kubevirt/hooks/v1alpha1/api.proto', service: 'kubevirt.hooks.v1alpha1.Callbacks' },
  v1alpha2: { file: 'kubevirt/hooks/v1alpha2/api.proto', service: 'kubevirt.hooks.v1alpha2.Callbacks' },
  v1alpha3: { file: 'kubevirt/hooks/v1alpha3/api.proto', service: 'kubevirt.hooks.v1alpha3.Callbacks' },
} as const;

export const AGENT_PROTO = { file: 'kubemom/v1/agent.proto', service: 'kubemom.v1.Agent' } as const;

/** Max gRPC message size both ends accept: larger than any input limit we enforce ourselves. */
export const MAX_GRPC_MESSAGE_BYTES = 8 * 1024 * 1024;
