/**
 * The sidecar's gRPC server on `<hooksDir>/kubemom.sock`: KubeVirt's hook API and,
 * on the same socket, any extra services (the kubemom.v1 agent).
 */
import { SOCKET_NAME } from '../api/kubemom-v1.js';
import * as grpc from '@grpc/grpc-js';
import { lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { InputError } from '../common/errors.js';
import path from 'node:path';
import { HOOK_PROTOS, MAX_GRPC_MESSAGE_BYTES, serviceClient } from '../common/protos.js';
import { createHookHandlers, type HookContext } from './callbacks.js';


export interface ExtraService {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
}

export interface SidecarServer {
  socketPath: string;
  /** Stops accepting calls, waits briefly for calls in flight, removes the socket. */
  close(): Promise<void>;
}

/** True when a process accepts connections on `socketPath` (a live sidecar, not a leftover). */
function socketIsServed(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(socketPath);
    // A live server accepts at once; a leftover socket refuses at once. The timer only
    // bounds a server too busy to accept, which is still a live server.
    const timer = setTimeout(() => finish(true), 2000);
    const finish = (served: boolean): void => {
      clearTimeout(timer);
      probe.destroy();
      resolve(served);
    };
    probe.once('connect', () => finish(true));
    probe.once('error', () => finish(false));
  });
}

/**
 * Removes a socket left by an earlier run. Refuses to remove anything that is not a
 * socket, and a socket another sidecar still serves (two sidecars on one socket would
 * leave virt-launcher talking to whichever bound last).
 */
async function removeStaleSocket(socketPath: string): Promise<void> {
  let stat;
  try {
    stat = lstatSync(socketPath);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw new InputError('--hooks-dir', `${socketPath} exists and is not a socket; refusing to replace it`);
  if (await socketIsServed(socketPath)) {
    throw new InputError('--hooks-dir', `${socketPath} is served by another running process; refusing to replace it (one sidecar per hooks directory)`);
  }
  unlinkSync(socketPath);
}

function removeSocket(socketPath: string): void {
  try {
    unlinkSync(socketPath);
  } catch {
    // Already gone.
  }
}

export async function startSidecarServer(ctx: HookContext, extra: ExtraService[] = []): Promise<SidecarServer> {
  const socketPath = path.join(ctx.hooksDir, SOCKET_NAME);
  mkdirSync(ctx.hooksDir, { recursive: true });
  await removeStaleSocket(socketPath);

  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_GRPC_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_GRPC_MESSAGE_BYTES,
  });
  const handlers = createHookHandlers(ctx);
  // Every service is registered before the socket exists: virt-launcher treats any
  // Info error, UNIMPLEMENTED included, as fatal for the VM.
  server.addService(serviceClient(HOOK_PROTOS.info.file, HOOK_PROTOS.info.service).service, { Info: handlers.info });
  server.addService(serviceClient(HOOK_PROTOS.v1alpha1.file, HOOK_PROTOS.v1alpha1.service).service, {
    OnDefineDomain: handlers.onDefineDomain,
  });
  server.addService(serviceClient(HOOK_PROTOS.v1alpha2.file, HOOK_PROTOS.v1alpha2.service).service, {
    OnDefineDomain: handlers.onDefineDomain,
    PreCloudInitIso: handlers.preCloudInitIso,
  });
  server.addService(serviceClient(HOOK_PROTOS.v1alpha3.file, HOOK_PROTOS.v1alpha3.service).service, {
    OnDefineDomain: handlers.onDefineDomain,
    PreCloudInitIso: handlers.preCloudInitIso,
    Shutdown: handlers.shutdown,
  });
  for (const service of extra) server.addService(service.definition, service.implementation);

  // The socket is created with mode 0660 (owner and group: virt-launcher and the
  // shim's group), never briefly wider, by narrowing the umask around bind.
  const previousUmask = process.umask(0o117);
  try {
    await new Promise<void>((resolve, reject) => {
      server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve()));
    });
  } finally {
    process.umask(previousUmask);
  }

  let closed: Promise<void> | undefined;
  return {
    socketPath,
    close() {
      closed ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => {
          clearTimeout(force);
          removeSocket(socketPath);
          resolve();
        });
      });
      return closed;
    },
  };
}
