/**
 * virt-launcher's hook manager, re-implemented from pkg/hooks/manager.go's observable
 * behaviour so tests and the demo call sidecars exactly as KubeVirt does:
 * subdirectory scanning every 300 ms, a 2 s dial, Info with a 1 s deadline, the
 * first of v1alpha3/v1alpha2/v1alpha1 offered, a new connection per call,
 * OnDefineDomain chained through sidecars with a 1 minute deadline, Shutdown last.
 */
import * as grpc from '@grpc/grpc-js';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { HOOK_PROTOS, MAX_GRPC_MESSAGE_BYTES, serviceClient } from '../common/protos.js';

const VERSION_PREFERENCE = ['v1alpha3', 'v1alpha2', 'v1alpha1'] as const;
type HookVersion = (typeof VERSION_PREFERENCE)[number];

export interface DiscoveredHook {
  socketPath: string;
  name: string;
  version: HookVersion;
  hookPoints: string[];
}

export const DIAL_TIMEOUT_MS = 2_000;
export const INFO_DEADLINE_MS = 1_000;
export const CALLBACK_DEADLINE_MS = 60_000;
const SCAN_INTERVAL_MS = 300;

/**
 * How a KubeVirt release lays out the hook directory:
 * - `per-sidecar` (v1.6 and later): each sidecar mounts `hook-sidecar-<i>/` (subPath) and
 *   gets CONTAINER_NAME; virt-launcher takes every non-directory one level below the root.
 * - `shared` (up to v1.5): each sidecar mounts the whole emptyDir, no CONTAINER_NAME;
 *   virt-launcher dials every entry of the root itself (v1.5.0 pkg/hooks/manager.go).
 */
export type HookLayout = 'per-sidecar' | 'shared';

/** Sockets as virt-launcher finds them in `layout`, keyed by base name. */
export function scanHookSockets(root: string, layout: HookLayout = 'per-sidecar'): Map<string, string> {
  const found = new Map<string, string>();
  if (layout === 'shared') {
    // v1.5 dials every entry; a directory never answers and is retried for ever, harmlessly: leave it out.
    for (const entry of readdirSync(root)) {
      const full = path.join(root, entry);
      if (!statSync(full).isDirectory()) found.set(entry, full);
    }
    return found;
  }
  for (const sub of readdirSync(root)) {
    const dir = path.join(root, sub);
    if (!statSync(dir).isDirectory()) continue;
    for (const entry of readdirSync(dir)) {
      const full = path.join(dir, entry);
      if (statSync(full).isDirectory()) continue;
      // Keyed by base name: two sidecars with one socket name never complete discovery.
      found.set(entry, full);
    }
  }
  return found;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function clientOptions(): grpc.ChannelOptions {
  return {
    'grpc.default_authority': 'localhost',
    'grpc.max_receive_message_length': MAX_GRPC_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_GRPC_MESSAGE_BYTES,
  };
}

/** Dials with virt-launcher's blocking 2 s timeout. */
async function dial<T extends grpc.Client>(ctor: grpc.ServiceClientConstructor, socketPath: string): Promise<T> {
  const client = new ctor(`unix://${socketPath}`, grpc.credentials.createInsecure(), clientOptions()) as unknown as T;
  await new Promise<void>((resolve, reject) =>
    client.waitForReady(Date.now() + DIAL_TIMEOUT_MS, (error) => (error ? reject(error) : resolve())),
  );
  return client;
}

function unary<Req, Res>(client: grpc.Client, method: string, request: Req, deadlineMs: number): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, grpc.requestCallback<Res> | ((...args: unknown[]) => void)>)[method] as (
      req: Req,
      meta: grpc.Metadata,
      opts: grpc.CallOptions,
      cb: grpc.requestCallback<Res>,
    ) => void;
    fn.call(client, request, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (error, response) =>
      error ? reject(error) : resolve(response as Res),
    );
  });
}

interface InfoResult {
  name: string;
  versions: string[];
  hookPoints: { name: string; priority: number }[];
}

/** Info on one socket, as virt-launcher asks it; throws where virt-launcher would panic. */
export async function describeHook(socketPath: string): Promise<DiscoveredHook> {
  const client = await dial(serviceClient(HOOK_PROTOS.info.file, HOOK_PROTOS.info.service), socketPath);
  try {
    const info = await unary<object, InfoResult>(client, 'Info', {}, INFO_DEADLINE_MS);
    const version = VERSION_PREFERENCE.find((v) => info.versions.includes(v));
    if (!version) throw new Error(`hook ${socketPath} offers no supported version (${info.versions.join(', ')})`);
    return { socketPath, name: info.name, version, hookPoints: info.hookPoints.map((p) => p.name) };
  } finally {
    client.close();
  }
}

/** Waits until `expected` sockets exist under `root`, then asks each for Info. */
export async function discoverHooks(root: string, expected: number, timeoutMs = 30_000, layout: HookLayout = 'per-sidecar'): Promise<DiscoveredHook[]> {
  const deadline = Date.now() + timeoutMs;
  let sockets = scanHookSockets(root, layout);
  while (sockets.size < expected) {
    if (Date.now() > deadline) throw new Error(`found ${sockets.size} hook sockets under ${root} (${layout} layout), expected ${expected}`);
    await sleep(SCAN_INTERVAL_MS);
    sockets = scanHookSockets(root, layout);
  }
  const hooks: DiscoveredHook[] = [];
  for (const socketPath of [...sockets.values()].sort()) hooks.push(await describeHook(socketPath));
  return hooks;
}

function callbacksClient(version: HookVersion): grpc.ServiceClientConstructor {
  const proto = HOOK_PROTOS[version];
  return serviceClient(proto.file, proto.service);
}

/** OnDefineDomain through every subscribed hook in order, each getting the previous output. */
export async function onDefineDomain(hooks: DiscoveredHook[], domainXml: string, vmiJson: string): Promise<string> {
  let xml: Buffer = Buffer.from(domainXml);
  for (const hook of hooks) {
    if (!hook.hookPoints.includes('OnDefineDomain')) continue;
    const client = await dial(callbacksClient(hook.version), hook.socketPath);
    try {
      const result = await unary<object, { domainXML: Buffer }>(
        client,
        'OnDefineDomain',
        { domainXML: xml, vmi: Buffer.from(vmiJson) },
        CALLBACK_DEADLINE_MS,
      );
      xml = result.domainXML;
    } finally {
      client.close();
    }
  }
  return xml.toString('utf8');
}

/** Shutdown on every v1alpha3 hook that subscribed to it; errors are ignored, as virt-launcher does. */
export async function shutdownHooks(hooks: DiscoveredHook[]): Promise<void> {
  for (const hook of hooks) {
    if (hook.version !== 'v1alpha3' || !hook.hookPoints.includes('Shutdown')) continue;
    try {
      const client = await dial(callbacksClient(hook.version), hook.socketPath);
      try {
        await unary(client, 'Shutdown', {}, CALLBACK_DEADLINE_MS);
      } finally {
        client.close();
      }
    } catch {
      // virt-launcher ignores Shutdown errors.
    }
  }
}
