/**
 * A kubemom.v1 client for one sidecar socket (the shim's side; tests and the bench use it too).
 */
import * as grpc from '@grpc/grpc-js';
import { AGENT_PROTO, MAX_GRPC_MESSAGE_BYTES, serviceClient } from '../src/common/protos.js';

/** The untyped grpc-js client; messages are plain objects in the proto's snake_case. */
export type AgentClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

/** Connects to `unix://socketPath`; the caller closes it. */
export function agentClient(socketPath: string): AgentClient {
  const Ctor = serviceClient(AGENT_PROTO.file, AGENT_PROTO.service);
  return new Ctor(`unix://${socketPath}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': MAX_GRPC_MESSAGE_BYTES,
  }) as unknown as AgentClient;
}

/** Calls a unary RPC with a deadline. */
export function unary<T>(client: AgentClient, method: 'Describe' | 'SetTarget' | 'SetIoLimits', request: object, deadlineMs = 5000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fn = client[method] as (req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: T) => void) => void;
    fn.call(client, request, { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}
