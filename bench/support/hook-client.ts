/**
 * A minimal hook API client for the benches, with the two connection policies that
 * matter: `reused` (one channel for every call: the sidecar's own cost) and
 * `per-call` (dial, call, close: what virt-launcher does for each hook call).
 */
import * as grpc from '@grpc/grpc-js';
import { HOOK_PROTOS, MAX_GRPC_MESSAGE_BYTES, serviceClient } from '../../src/common/protos.js';

export type ConnectionPolicy = 'reused' | 'per-call';

type Unary = (request: object, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<unknown>) => void;

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.default_authority': 'localhost',
  'grpc.max_receive_message_length': MAX_GRPC_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_GRPC_MESSAGE_BYTES,
};

async function connect(ctor: grpc.ServiceClientConstructor, socketPath: string): Promise<grpc.Client> {
  const client = new ctor(`unix://${socketPath}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 2_000, (error) => (error ? reject(error) : resolve())));
  return client;
}

function call(client: grpc.Client, method: string, request: object): Promise<unknown> {
  const fn = (client as unknown as Record<string, Unary>)[method];
  if (!fn) throw new Error(`client has no method ${method}`);
  return new Promise((resolve, reject) =>
    fn.call(client, request, new grpc.Metadata(), { deadline: Date.now() + 60_000 }, (error, response) => (error ? reject(error) : resolve(response))),
  );
}

/** One hook RPC (`Info` or v1alpha3 `OnDefineDomain`) callable repeatedly under a connection policy. */
export interface HookCaller {
  /** Makes one call and returns its response. */
  invoke(): Promise<unknown>;
  close(): void;
}

export async function hookCaller(
  socketPath: string,
  method: 'Info' | 'OnDefineDomain',
  request: object,
  policy: ConnectionPolicy,
): Promise<HookCaller> {
  const proto = method === 'Info' ? HOOK_PROTOS.info : HOOK_PROTOS.v1alpha3;
  const ctor = serviceClient(proto.file, proto.service);
  if (policy === 'per-call') {
    return {
      async invoke() {
        const client = await connect(ctor, socketPath);
        try {
          return await call(client, method, request);
        } finally {
          client.close();
        }
      },
      close() {},
    };
  }
  const client = await connect(ctor, socketPath);
  return { invoke: () => call(client, method, request), close: () => client.close() };
}

/** The v1alpha3 OnDefineDomain request for a domain and VMI. */
export function defineRequest(domainXml: string, vmiJson: string): object {
  return { domainXML: Buffer.from(domainXml, 'utf8'), vmi: Buffer.from(vmiJson, 'utf8') };
}
