/**
 * A hook sidecar that behaves like KubeVirt's network-binding sidecars (passt, slirp):
 * it runs after KubeMom (KubeVirt appends binding sidecars after the annotation ones,
 * pkg/virt-controller/watch/application.go), parses the domain into KubeVirt's Go types
 * and writes it back (cmd/sidecars/network-slirp-binding/callback/callback.go). What the
 * types drop is lost: the `qemu:commandline` block that carries KubeMom's QMP side
 * monitor, and the memballoon's `autodeflate`.
 *
 * This is a real gRPC hook sidecar on a real socket; only its transformation is a model of
 * the Go round trip, reduced to the losses that matter to KubeMom.
 */
import * as grpc from '@grpc/grpc-js';
import { mkdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { HOOK_PROTOS, MAX_GRPC_MESSAGE_BYTES, serviceClient } from '../src/common/protos.js';

export const REMARSHALLING_SOCKET_NAME = 'network-binding.sock';

/** The domain as a re-marshalling sidecar hands it on: no qemu:commandline, no autodeflate. */
export function remarshalDomain(xml: string): string {
  return xml
    .replace(/[ \t]*<qemu:commandline\b[^>]*>[\s\S]*?<\/qemu:commandline>[ \t]*\r?\n?/g, '')
    .replace(/[ \t]*<qemu:commandline\b[^>]*\/>[ \t]*\r?\n?/g, '')
    .replace(/\s+autodeflate=("[^"]*"|'[^']*')/g, '');
}

export interface RemarshallingSidecar {
  socketPath: string;
  /** OnDefineDomain calls answered. */
  calls: number;
  close(): Promise<void>;
}

/** Serves the hook API on `<dir>/network-binding.sock`. */
export async function startRemarshallingSidecar(dir: string): Promise<RemarshallingSidecar> {
  mkdirSync(dir, { recursive: true });
  const socketPath = path.join(dir, REMARSHALLING_SOCKET_NAME);
  const server = new grpc.Server({ 'grpc.max_receive_message_length': MAX_GRPC_MESSAGE_BYTES, 'grpc.max_send_message_length': MAX_GRPC_MESSAGE_BYTES });
  const state = { calls: 0 };
  server.addService(serviceClient(HOOK_PROTOS.info.file, HOOK_PROTOS.info.service).service, {
    Info: (_call: unknown, callback: grpc.sendUnaryData<object>) =>
      callback(null, { name: 'network-binding', versions: ['v1alpha3'], hookPoints: [{ name: 'OnDefineDomain', priority: 0 }] }),
  });
  server.addService(serviceClient(HOOK_PROTOS.v1alpha3.file, HOOK_PROTOS.v1alpha3.service).service, {
    OnDefineDomain: (call: grpc.ServerUnaryCall<{ domainXML?: Buffer }, object>, callback: grpc.sendUnaryData<object>) => {
      state.calls++;
      callback(null, { domainXML: Buffer.from(remarshalDomain((call.request.domainXML ?? Buffer.alloc(0)).toString('utf8'))) });
    },
    PreCloudInitIso: (call: grpc.ServerUnaryCall<Record<string, Buffer>, object>, callback: grpc.sendUnaryData<object>) =>
      callback(null, { cloudInitNoCloudSource: call.request['cloudInitNoCloudSource'], cloudInitData: call.request['cloudInitData'] }),
    Shutdown: (_call: unknown, callback: grpc.sendUnaryData<object>) => callback(null, {}),
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  return {
    socketPath,
    get calls() {
      return state.calls;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => {
          try {
            unlinkSync(socketPath);
          } catch {
            // Already gone.
          }
          resolve();
        });
      }),
  };
}
