/**
 * gRPC client side for ts-proto generated `*ServiceClient` constructors: a deadline on every
 * unary call by default, bearer token or (m)TLS credentials, W3C trace context in metadata (a
 * client interceptor, so it also covers calls made directly on the client), promisified unary
 * calls and server streams as async iterators. Errors come back as DomainErrors
 * (`fromGrpcError`), so callers branch on `err.code`.
 */
import {
  InterceptingCall, Metadata, credentials,
  type CallOptions, type ChannelCredentials, type ClientOptions as GrpcClientOptions, type ClientReadableStream,
  type ClientUnaryCall, type Interceptor, type ServiceError,
} from '@grpc/grpc-js';
import { SpanKind, context, trace } from '@opentelemetry/api';
import { injectToMetadata, recordError, tracer } from '../telemetry.ts';
import { fromGrpcError } from './errors.ts';

export const DEFAULT_DEADLINE_MS = 10_000;

export interface ClientTlsConfig {
  /** PEM CA for the server certificate (default: system roots). */
  caPem?: string | Buffer;
  /** Client certificate and key for mTLS. */
  certPem?: string | Buffer;
  keyPem?: string | Buffer;
  /** Expected server name when it differs from the address host (tests). */
  serverName?: string;
}

export interface ClientOptions {
  /** Sent as `authorization: Bearer <token>` on every call. */
  token?: string;
  tls?: ClientTlsConfig;
  /** Deadline applied to every unary call that sets none. */
  defaultDeadlineMs?: number;
  grpcOptions?: Partial<GrpcClientOptions>;
}

type ClientCtor<C> = new (address: string, creds: ChannelCredentials, options?: Partial<GrpcClientOptions>) => C;

function channelCredentials(tls: ClientTlsConfig | undefined): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  return credentials.createSsl(
    tls.caPem ? Buffer.from(tls.caPem) : null,
    tls.keyPem ? Buffer.from(tls.keyPem) : null,
    tls.certPem ? Buffer.from(tls.certPem) : null,
  );
}

function clientInterceptor(o: ClientOptions): Interceptor {
  const deadlineMs = o.defaultDeadlineMs ?? DEFAULT_DEADLINE_MS;
  return (options, nextCall) => {
    // Server streams (Watch) are long-lived; only unary calls get the default deadline.
    const streaming = options.method_definition.responseStream;
    const opts = options.deadline === undefined && !streaming ? { ...options, deadline: Date.now() + deadlineMs } : options;
    return new InterceptingCall(nextCall(opts), {
      start(metadata, listener, next) {
        injectToMetadata(metadata);
        if (o.token) metadata.set('authorization', `Bearer ${o.token}`);
        next(metadata, listener);
      },
    });
  };
}

/** `createClient(PairingServiceClient, 'localhost:50051', {token})`. */
export function createClient<C>(Ctor: ClientCtor<C>, address: string, o: ClientOptions = {}): C {
  const grpcOptions: Partial<GrpcClientOptions> = {
    ...(o.grpcOptions ?? {}),
    interceptors: [clientInterceptor(o), ...(o.grpcOptions?.interceptors ?? [])],
  };
  if (o.tls?.serverName) grpcOptions['grpc.ssl_target_name_override'] = o.tls.serverName;
  return new Ctor(address, channelCredentials(o.tls), grpcOptions);
}

/** Closes the client's channel. */
export function closeClient(client: unknown): void {
  (client as { close?: () => void }).close?.();
}

type UnaryFn<Req, Res> = (req: Req, md: Metadata, opts: Partial<CallOptions>, cb: (e: ServiceError | null, r: Res) => void) => ClientUnaryCall;
type StreamFn<Req, Res> = (req: Req, md?: Metadata, opts?: Partial<CallOptions>) => ClientReadableStream<Res>;

/** Names of the unary methods of a generated client. */
export type UnaryMethod<C> = { [K in keyof C]: C[K] extends StreamFn<any, any> ? never : C[K] extends UnaryFn<any, any> ? K : never }[keyof C];  
/** Names of the server-streaming methods of a generated client. */
export type StreamMethod<C> = { [K in keyof C]: C[K] extends StreamFn<any, any> ? K : never }[keyof C];  
export type RequestOf<F> = F extends StreamFn<infer R, any> ? R : F extends UnaryFn<infer R, any> ? R : never;  
export type ResponseOf<F> = F extends StreamFn<any, infer R> ? R : F extends UnaryFn<any, infer R> ? R : never;  

export interface CallOpts {
  deadlineMs?: number;
  metadata?: Metadata;
  /** Cancels the call (the promise rejects with ERR_CANCELLED). */
  signal?: AbortSignal;
  /** More attributes for the call's CLIENT span (identifiers such as the request id; never secrets). */
  spanAttributes?: Record<string, string | number>;
}

/**
 * The CLIENT span's name and attributes (OpenTelemetry RPC conventions): `package.Service/Method`
 * from the generated client's method path, and the server's address.
 */
function rpcSpan(client: unknown, method: string): { name: string; attributes: Record<string, string | number> } {
  const path = (client as { constructor?: { service?: Record<string, { path?: string }> } }).constructor?.service?.[method]?.path ?? '';
  const [, service = '', name = method] = /^\/([^/]+)\/([^/]+)$/.exec(path) ?? [];
  const attributes: Record<string, string | number> = { 'rpc.system': 'grpc', 'rpc.method': name };
  if (service) attributes['rpc.service'] = service;
  try {
    const target = (client as { getChannel?: () => { getTarget(): string } }).getChannel?.().getTarget() ?? '';
    const m = /^(?:dns:)?(?:\/\/\/)?\[?([^\]]+?)\]?:(\d+)$/.exec(target);
    if (m) {
      attributes['server.address'] = m[1]!;
      attributes['server.port'] = Number(m[2]);
    }
  } catch {
    // a closed client: no address
  }
  return { name: service ? `${service}/${name}` : `grpc.client ${method}`, attributes };
}

/** One unary call in a CLIENT span; rejects with a DomainError. */
export function unary<C, M extends UnaryMethod<C>>(client: C, method: M, req: RequestOf<C[M]>, o: CallOpts = {}): Promise<ResponseOf<C[M]>> {
  const fn = client[method] as unknown as UnaryFn<RequestOf<C[M]>, ResponseOf<C[M]>>;
  const rpc = rpcSpan(client, String(method));
  return tracer().startActiveSpan(rpc.name, { kind: SpanKind.CLIENT, attributes: { ...rpc.attributes, ...o.spanAttributes } }, async (span) => {
    try {
      const res = await new Promise<ResponseOf<C[M]>>((resolve, reject) => {
        const callOpts: Partial<CallOptions> = o.deadlineMs !== undefined ? { deadline: Date.now() + o.deadlineMs } : {};
        const call = fn.call(client, req, o.metadata ?? new Metadata(), callOpts, (err, res) => (err ? reject(fromGrpcError(err)) : resolve(res)));
        if (o.signal) {
          if (o.signal.aborted) call.cancel();
          else o.signal.addEventListener('abort', () => call.cancel(), { once: true });
        }
      });
      span.setAttribute('rpc.grpc.status_code', 0);
      return res;
    } catch (err) {
      const status = (err as { grpcStatus?: unknown }).grpcStatus;
      if (typeof status === 'number') span.setAttribute('rpc.grpc.status_code', status);
      recordError(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * A server-streaming call as an async iterator; breaking out of the loop cancels the call.
 * Errors are DomainErrors (a cancelled-by-us call ends quietly).
 */
export async function* serverStream<C, M extends StreamMethod<C>>(client: C, method: M, req: RequestOf<C[M]>, o: CallOpts = {}): AsyncGenerator<ResponseOf<C[M]>> {
  const fn = client[method] as unknown as StreamFn<RequestOf<C[M]>, ResponseOf<C[M]>>;
  const rpc = rpcSpan(client, String(method));
  const span = tracer().startSpan(rpc.name, { kind: SpanKind.CLIENT, attributes: { ...rpc.attributes, ...o.spanAttributes } });
  const callOpts: Partial<CallOptions> = o.deadlineMs !== undefined ? { deadline: Date.now() + o.deadlineMs } : {};
  const call = context.with(trace.setSpan(context.active(), span), () => fn.call(client, req, o.metadata ?? new Metadata(), callOpts));
  // A late CANCELLED after we stopped iterating must not become an unhandled 'error' event.
  call.on('error', () => undefined);
  if (o.signal) {
    if (o.signal.aborted) call.cancel();
    else o.signal.addEventListener('abort', () => call.cancel(), { once: true });
  }
  let finished = false;
  try {
    for await (const m of call as AsyncIterable<ResponseOf<C[M]>>) yield m;
    finished = true;
  } catch (err) {
    const d = fromGrpcError(err);
    recordError(span, d);
    throw d;
  } finally {
    if (!finished) call.cancel();
    span.end();
  }
}
