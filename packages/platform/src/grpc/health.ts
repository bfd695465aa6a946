/**
 * The standard gRPC health service (grpc/grpc-proto `grpc/health/v1/health.proto`, see
 * https://github.com/grpc/grpc/blob/master/doc/health-checking.md), hand-written so the platform
 * does not depend on generated code: two one-field messages encoded with @bufbuild wire.
 */
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import {
  makeGenericClientConstructor, status as GrpcStatus,
  type CallOptions, type ChannelCredentials, type Client, type ClientOptions, type ClientReadableStream,
  type ClientUnaryCall, type Metadata, type ServerUnaryCall, type ServerWritableStream, type ServiceError,
  type sendUnaryData,
} from '@grpc/grpc-js';

/** `HealthCheckResponse.ServingStatus`. */
export const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;
export type ServingStatus = (typeof ServingStatus)[keyof typeof ServingStatus];

export interface HealthCheckRequest { service: string }
export interface HealthCheckResponse { status: ServingStatus }

export function encodeHealthCheckRequest(m: HealthCheckRequest): Buffer {
  const w = new BinaryWriter();
  if (m.service !== '') w.uint32((1 << 3) | WireType.LengthDelimited).string(m.service);
  return Buffer.from(w.finish());
}
export function decodeHealthCheckRequest(b: Uint8Array): HealthCheckRequest {
  const r = new BinaryReader(b);
  let service = '';
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) service = r.string();
    else r.skip(wt, no);
  }
  return { service };
}
export function encodeHealthCheckResponse(m: HealthCheckResponse): Buffer {
  const w = new BinaryWriter();
  if (m.status !== 0) w.uint32((1 << 3) | WireType.Varint).int32(m.status);
  return Buffer.from(w.finish());
}
export function decodeHealthCheckResponse(b: Uint8Array): HealthCheckResponse {
  const r = new BinaryReader(b);
  let status = 0;
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.Varint) status = r.int32();
    else r.skip(wt, no);
  }
  return { status: (status >= 0 && status <= 3 ? status : 0) as ServingStatus };
}

/** grpc-js ServiceDefinition, the same shape ts-proto generates (`outputServices=grpc-js`). */
export const HealthDefinition = {
  check: {
    path: '/grpc.health.v1.Health/Check',
    requestStream: false,
    responseStream: false,
    requestSerialize: encodeHealthCheckRequest,
    requestDeserialize: (b: Buffer) => decodeHealthCheckRequest(b),
    responseSerialize: encodeHealthCheckResponse,
    responseDeserialize: (b: Buffer) => decodeHealthCheckResponse(b),
  },
  watch: {
    path: '/grpc.health.v1.Health/Watch',
    requestStream: false,
    responseStream: true,
    requestSerialize: encodeHealthCheckRequest,
    requestDeserialize: (b: Buffer) => decodeHealthCheckRequest(b),
    responseSerialize: encodeHealthCheckResponse,
    responseDeserialize: (b: Buffer) => decodeHealthCheckResponse(b),
  },
} as const;

export interface HealthClient extends Client {
  check(request: HealthCheckRequest, callback: (error: ServiceError | null, response: HealthCheckResponse) => void): ClientUnaryCall;
  check(request: HealthCheckRequest, metadata: Metadata, callback: (error: ServiceError | null, response: HealthCheckResponse) => void): ClientUnaryCall;
  check(request: HealthCheckRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: HealthCheckResponse) => void): ClientUnaryCall;
  watch(request: HealthCheckRequest, options?: Partial<CallOptions>): ClientReadableStream<HealthCheckResponse>;
  watch(request: HealthCheckRequest, metadata?: Metadata, options?: Partial<CallOptions>): ClientReadableStream<HealthCheckResponse>;
}

export const HealthClient = makeGenericClientConstructor(HealthDefinition, 'grpc.health.v1.Health') as unknown as {
  new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>): HealthClient;
};

/**
 * Serving status per service name (`''` is the whole server). Watchers get every change.
 * A name never set answers NOT_FOUND to Check and SERVICE_UNKNOWN to Watch, per the spec.
 */
export class HealthService {
  readonly #status = new Map<string, ServingStatus>();
  readonly #watchers = new Map<string, Set<(s: ServingStatus) => void>>();
  readonly #streams = new Set<ServerWritableStream<HealthCheckRequest, HealthCheckResponse>>();

  constructor(initial: Record<string, ServingStatus> = { '': ServingStatus.NOT_SERVING }) {
    for (const [k, v] of Object.entries(initial)) this.#status.set(k, v);
  }

  setStatus(service: string, s: ServingStatus): void {
    if (this.#status.get(service) === s) return;
    this.#status.set(service, s);
    for (const w of this.#watchers.get(service) ?? []) w(s);
  }

  /** Sets every known service (drain: all NOT_SERVING at once). */
  setAll(s: ServingStatus): void {
    for (const k of [...this.#status.keys()]) this.setStatus(k, s);
  }

  getStatus(service: string): ServingStatus | undefined {
    return this.#status.get(service);
  }

  /** The grpc-js implementation object for `HealthDefinition`. */
  implementation() {
    return {
      check: (call: ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, cb: sendUnaryData<HealthCheckResponse>) => {
        const s = this.#status.get(call.request.service);
        if (s === undefined) cb({ code: GrpcStatus.NOT_FOUND, details: 'unknown service' });
        else cb(null, { status: s });
      },
      watch: (call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) => {
        const name = call.request.service;
        const send = (s: ServingStatus) => { if (!call.cancelled && call.writable) call.write({ status: s }); };
        send(this.#status.get(name) ?? ServingStatus.SERVICE_UNKNOWN);
        let set = this.#watchers.get(name);
        if (!set) this.#watchers.set(name, (set = new Set()));
        set.add(send);
        this.#streams.add(call);
        const done = () => { set.delete(send); this.#streams.delete(call); };
        call.on('cancelled', done);
        call.on('close', done);
        call.on('error', done);
      },
    };
  }

  /** Ends every Watch stream (server shutdown). */
  closeWatchers(): void {
    this.#watchers.clear();
    // Open Watch streams would otherwise hold a graceful server shutdown until its deadline.
    for (const c of this.#streams) c.end();
    this.#streams.clear();
  }
}
