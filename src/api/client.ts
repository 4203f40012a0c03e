/**
 * The one kubemom.v1 client: every RPC typed, each unary call with a deadline. The shim's sessions use it, and so do
 * the tests and benches that talk to a sidecar. Messages are the wire shapes (src/api/kubemom-v1.ts); the shim
 * decodes them into views.
 */
import * as grpc from '@grpc/grpc-js';
import { AGENT_PROTO, serviceClient } from '../common/protos.js';
import {
  AGENT_CHANNEL_OPTIONS,
  type WireDescribeRequest,
  type WireDescribeResponse,
  type WireSetIoLimitsRequest,
  type WireSetIoLimitsResponse,
  type WireSetTargetRequest,
  type WireSetTargetResponse,
  type WireStatsSample,
} from './kubemom-v1.js';

type Unary<Req, Res> = (request: Req, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: Res) => void) => grpc.ClientUnaryCall;

/** The methods grpc-js generates for kubemom.v1.Agent, typed. */
interface AgentStub extends grpc.Client {
  Describe: Unary<WireDescribeRequest, WireDescribeResponse>;
  SetTarget: Unary<WireSetTargetRequest, WireSetTargetResponse>;
  SetIoLimits: Unary<WireSetIoLimitsRequest, WireSetIoLimitsResponse>;
  WatchStats(request: Record<string, never>, options: grpc.CallOptions): grpc.ClientReadableStream<WireStatsSample>;
}

/** Default deadline of a unary call. */
export const DEFAULT_DEADLINE_MS = 5000;

export class AgentClient {
  private readonly stub: AgentStub;

  /** `socket`: a unix socket path, or a gRPC address (`unix://...`). */
  constructor(socket: string, options: grpc.ChannelOptions = AGENT_CHANNEL_OPTIONS) {
    const Stub = serviceClient(AGENT_PROTO.file, AGENT_PROTO.service);
    const address = socket.startsWith('unix:') ? socket : `unix://${socket}`;
    this.stub = new Stub(address, grpc.credentials.createInsecure(), options) as unknown as AgentStub;
  }

  describe(request: WireDescribeRequest = {}, deadlineMs = DEFAULT_DEADLINE_MS): Promise<WireDescribeResponse> {
    return this.unary(this.stub.Describe, request, deadlineMs);
  }

  setTarget(request: WireSetTargetRequest, deadlineMs = DEFAULT_DEADLINE_MS): Promise<WireSetTargetResponse> {
    return this.unary(this.stub.SetTarget, request, deadlineMs);
  }

  setIoLimits(request: WireSetIoLimitsRequest, deadlineMs = DEFAULT_DEADLINE_MS): Promise<WireSetIoLimitsResponse> {
    return this.unary(this.stub.SetIoLimits, request, deadlineMs);
  }

  /** The stats stream; the caller cancels it. */
  watchStats(): grpc.ClientReadableStream<WireStatsSample> {
    return this.stub.WatchStats({}, {});
  }

  close(): void {
    this.stub.close();
  }

  private unary<Req, Res>(method: Unary<Req, Res>, request: Req, deadlineMs: number): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      method.call(this.stub, request, { deadline: new Date(Date.now() + deadlineMs) }, (error, response) => {
        if (error) reject(error);
        else if (response === undefined) reject(new Error('kubemom.v1: empty response'));
        else resolve(response);
      });
    });
  }
}
