/**
 * gRPC server side: services write `async (req, ctx) => res` (or an async generator for server
 * streams) and throw DomainErrors; the wrappers add, in this order, drain refusal, a server span
 * continuing the caller's W3C trace context, authentication, the handler, and the single error
 * mapping `toGrpcError`. `createServer` registers the health service, tracks in-flight calls and
 * drains (NOT_SERVING, refuse new work, wait for in-flight, shut down).
 */
import {
  Server, status as GrpcStatus,
  type Metadata, type ServerErrorResponse, type ServerOptions, type ServerUnaryCall, type ServerWritableStream,
  type handleServerStreamingCall, type handleUnaryCall, type sendUnaryData,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { ROOT_CONTEXT, SpanKind } from '@opentelemetry/api';
import { DomainError, invalidArgument } from '../errors.ts';
import type { Logger } from '../log.ts';
import { extractFromMetadata, recordError, tracer, type Span } from '../telemetry.ts';
import { ANONYMOUS, authenticateAdmin, serverCredentials, type AuthPolicy, type Principal, type ServerAuthConfig } from './auth.ts';
import { toGrpcError } from './errors.ts';
import { HealthDefinition, HealthService, ServingStatus } from './health.ts';

export const DEFAULT_GRPC_HOST = '0.0.0.0';
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

export interface CallContext {
  /** Request metadata (the `authorization` entry included; never log it). */
  metadata: Metadata;
  /** Aborted when the client cancels or the deadline passes. */
  signal: AbortSignal;
  principal: Principal;
  /** `/pkg.Service/Method`. */
  method: string;
  peer: string;
  span: Span;
  log: Logger | undefined;
}

export type UnaryHandler<Req, Res> = (req: Req, ctx: CallContext) => Promise<Res>;
export type ServerStreamHandler<Req, Res> = (req: Req, ctx: CallContext) => AsyncIterable<Res>;

export interface WrapOptions {
  /** Default `admin` (fail closed): calls need a token or client certificate. */
  auth?: AuthPolicy;
  authConfig?: ServerAuthConfig;
  logger?: Logger;
  /** Shared with the server: refuse new calls while draining, count in-flight ones. */
  tracker?: CallTracker;
}

/** Counts in-flight calls so a drain can wait for them. */
export class CallTracker {
  #inFlight = 0;
  #draining = false;
  #idle: (() => void)[] = [];
  readonly #streams = new Set<AbortController>();
  get inFlight(): number { return this.#inFlight; }
  /** Server streams are ended (UNAVAILABLE, retryable) at drain: a Watch would otherwise last forever. */
  trackStream(a: AbortController): () => void {
    if (this.#draining) a.abort(shuttingDown());
    this.#streams.add(a);
    return () => { this.#streams.delete(a); };
  }
  get draining(): boolean { return this.#draining; }
  enter(): boolean {
    if (this.#draining) return false;
    this.#inFlight++;
    return true;
  }
  leave(): void {
    this.#inFlight--;
    if (this.#inFlight === 0) for (const r of this.#idle.splice(0)) r();
  }
  /** Refuse new calls from now on; resolves when in-flight calls are done (or at `timeoutMs`). */
  async drain(timeoutMs: number): Promise<boolean> {
    this.#draining = true;
    for (const a of this.#streams) a.abort(shuttingDown());
    if (this.#inFlight === 0) return true;
    let t: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((r) => this.#idle.push(() => r(true)));
    const timeout = new Promise<boolean>((r) => { t = setTimeout(() => r(false), timeoutMs); });
    const ok = await Promise.race([idle, timeout]);
    clearTimeout(t);
    return ok;
  }
}

function shuttingDown(): DomainError {
  return new DomainError('ERR_UNAVAILABLE', 'server is shutting down', { grpcStatus: GrpcStatus.UNAVAILABLE, retryable: true });
}

/** Marker put in place of a request that failed to decode (see `createServer`). */
const MALFORMED = Symbol('malformed request');
type Malformed = { [MALFORMED]: true };
function isMalformed(x: unknown): x is Malformed {
  return typeof x === 'object' && x !== null && MALFORMED in x;
}

interface AnyCall {
  metadata: Metadata;
  request: unknown;
  cancelled: boolean;
  getPath(): string;
  getPeer(): string;
  getAuthContext(): ReturnType<ServerUnaryCall<unknown, unknown>['getAuthContext']>;
  on(ev: 'cancelled', fn: () => void): unknown;
}

/** Runs one call; rejects with a grpc-js status object already mapped by `toGrpcError`. */
async function runCall<T>(call: AnyCall, o: WrapOptions, kind: 'unary' | 'stream', body: (ctx: CallContext) => Promise<T>): Promise<T> {
  const method = call.getPath();
  if (o.tracker && !o.tracker.enter()) {
    throw toGrpcError(shuttingDown());
  }
  const abort = new AbortController();
  call.on('cancelled', () => abort.abort(new DomainError('ERR_CANCELLED', 'call cancelled', { grpcStatus: GrpcStatus.CANCELLED })));
  const untrack = kind === 'stream' && o.tracker ? o.tracker.trackStream(abort) : undefined;
  try {
    const parent = extractFromMetadata(call.metadata, ROOT_CONTEXT);
    // OpenTelemetry RPC conventions: span `package.Service/Method`, rpc.service and rpc.method apart.
    const [, service = '', name = method] = /^\/([^/]+)\/([^/]+)$/.exec(method) ?? [];
    return await tracer().startActiveSpan(service ? `${service}/${name}` : method, {
      kind: SpanKind.SERVER,
      attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': name, 'rpc.grpc.kind': kind },
    }, parent, async (span) => {
      try {
        if (isMalformed(call.request)) throw invalidArgument('malformed request');
        const policy = o.auth ?? 'admin';
        const input = { metadata: call.metadata, call, path: method };
        const principal = policy === 'none' ? ANONYMOUS
          : policy === 'admin' ? authenticateAdmin(input, o.authConfig ?? {})
          : await policy(input);
        span.setAttribute('enduser.id', principal.id);
        const result = await body({ metadata: call.metadata, signal: abort.signal, principal, method, peer: call.getPeer(), span, log: o.logger });
        span.setAttribute('rpc.grpc.status_code', GrpcStatus.OK);
        return result;
      } catch (err) {
        recordError(span, err);
        span.setAttribute('rpc.grpc.status_code', err instanceof DomainError ? err.grpcStatus : GrpcStatus.INTERNAL);
        // Mapped (and an unknown error logged) while the span is active, so the log line has its trace id.
        throw toGrpcError(err, o.logger);
      } finally {
        span.end();
      }
    });
  } finally {
    untrack?.();
    o.tracker?.leave();
  }
}

/** Adapts `async (req, ctx) => res` to grpc-js `handleUnaryCall`. */
export function wrapUnary<Req, Res>(handler: UnaryHandler<Req, Res>, o: WrapOptions = {}): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>) => {
    runCall(call as unknown as AnyCall, o, 'unary', (ctx) => handler(call.request, ctx)).then(
      (res) => cb(null, res),
      (err: unknown) => cb(err as ServerErrorResponse),
    );
  };
}

/** Adapts an async iterable producer (`async function* (req, ctx)`) to `handleServerStreamingCall`. */
export function wrapServerStream<Req, Res>(handler: ServerStreamHandler<Req, Res>, o: WrapOptions = {}): handleServerStreamingCall<Req, Res> {
  return (call: ServerWritableStream<Req, Res>) => {
    runCall(call as unknown as AnyCall, o, 'stream', async (ctx) => {
      const it = handler(call.request, ctx)[Symbol.asyncIterator]();
      const aborted = new Promise<'aborted'>((r) => {
        if (ctx.signal.aborted) r('aborted');
        else ctx.signal.addEventListener('abort', () => r('aborted'), { once: true });
      });
      try {
        while (!ctx.signal.aborted) {
          // A generator waiting for the next event must not hold the call open past a cancel/drain.
          const next = await Promise.race([it.next(), aborted]);
          if (next === 'aborted' || next.done) break;
          if (call.cancelled) break;
          // Respect backpressure: a slow client must not make us buffer without bound.
          if (!call.write(next.value)) await Promise.race([new Promise<void>((r) => call.once('drain', () => r())), aborted]);
        }
      } finally {
        if (ctx.signal.aborted) void it.return?.(undefined)?.catch?.(() => undefined);
      }
      // Drain: tell the client to retry elsewhere rather than ending as if the stream were complete.
      if (ctx.signal.aborted && !call.cancelled) throw ctx.signal.reason;
    }).then(
      () => { if (!call.cancelled) call.end(); },
      (err: unknown) => { if (!call.cancelled) call.emit('error', err as ServerErrorResponse); },
    );
  };
}

/** A ts-proto / grpc-js ServiceDefinition (`XServiceService`). */
export type ServiceDefinitionLike = Record<string, {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize: (v: never) => Buffer;
  requestDeserialize: (b: Buffer) => unknown;
  responseSerialize: (v: never) => Buffer;
  responseDeserialize: (b: Buffer) => unknown;
}>;

type ReqOf<M> = M extends { requestDeserialize: (b: Buffer) => infer R } ? R : never;
type ResOf<M> = M extends { responseDeserialize: (b: Buffer) => infer R } ? R : never;

/** The async handlers a service writes for a definition, method by method. */
export type Handlers<D extends ServiceDefinitionLike> = {
  [K in keyof D]: D[K] extends { requestStream: true }
    ? never
    : D[K] extends { responseStream: true }
      ? ServerStreamHandler<ReqOf<D[K]>, ResOf<D[K]>>
      : UnaryHandler<ReqOf<D[K]>, ResOf<D[K]>>;
};

export interface ServiceRegistration<D extends ServiceDefinitionLike = ServiceDefinitionLike> {
  definition: D;
  handlers: Handlers<D>;
  /** Health name (`cosigner.v1.Pairing`); default: the package.Service of the first method path. */
  name?: string;
  /** Default `admin`. */
  auth?: AuthPolicy;
}

/** Type helper: `service(PairingService, {...handlers}, {auth: 'admin'})` keeps handler types. */
export function service<D extends ServiceDefinitionLike>(definition: D, handlers: Handlers<D>, o: { name?: string; auth?: AuthPolicy } = {}): ServiceRegistration<D> {
  return { definition, handlers, ...o };
}

export interface CreateServerOptions {
  services: ServiceRegistration<any>[];  
  /** 0 picks a free port. */
  port: number;
  host?: string;
  auth?: ServerAuthConfig;
  logger?: Logger;
  grpcOptions?: ServerOptions;
}

export interface GrpcServerHandle {
  readonly server: Server;
  readonly port: number;
  readonly address: string;
  readonly health: HealthService;
  readonly inFlight: number;
  /** Marks every registered service (and `''`) SERVING. */
  setServing(): void;
  /** NOT_SERVING, refuse new calls, wait for in-flight ones (true if they all finished in time). */
  drain(timeoutMs?: number): Promise<boolean>;
  /** Graceful shutdown (forced after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<void>;
}

function serviceName(def: ServiceDefinitionLike): string {
  const first = Object.values(def)[0];
  const m = first ? /^\/([^/]+)\//.exec(first.path) : null;
  return m?.[1] ?? '';
}

/**
 * Builds and binds a server with the health service (no auth) and the given services behind the
 * wrappers. Every service starts NOT_SERVING; `setServing()` (called by `runService` once the
 * service is ready) flips them.
 */
export async function createServer(o: CreateServerOptions): Promise<GrpcServerHandle> {
  const server = new Server(o.grpcOptions);
  const tracker = new CallTracker();
  const names = o.services.map((s) => s.name ?? serviceName(s.definition));
  const health = new HealthService(Object.fromEntries(['', ...names].map((n) => [n, ServingStatus.NOT_SERVING])));
  server.addService(HealthDefinition, health.implementation() as unknown as UntypedServiceImplementation);
  if (!o.auth?.tokens?.length && !o.auth?.tls?.requireClientCert && o.services.some((s) => (s.auth ?? 'admin') === 'admin')) {
    o.logger?.warn('no admin tokens and no mTLS configured: every admin call will be refused');
  }

  for (const reg of o.services) {
    const wrapOpts: WrapOptions = { auth: reg.auth ?? 'admin', tracker, ...(o.auth ? { authConfig: o.auth } : {}), ...(o.logger ? { logger: o.logger } : {}) };
    const def: Record<string, unknown> = {};
    const impl: Record<string, unknown> = {};
    for (const [key, m] of Object.entries(reg.definition as ServiceDefinitionLike)) {
      if (m.requestStream) throw new TypeError(`${m.path}: client-streaming methods are not supported`);
      // A request that does not decode reaches the wrapper as a marker and becomes
      // INVALID_ARGUMENT; grpc-js would otherwise answer INTERNAL.
      def[key] = {
        ...m,
        requestDeserialize: (b: Buffer) => {
          try {
            return m.requestDeserialize(b);
          } catch {
            return { [MALFORMED]: true };
          }
        },
      };
      const h = (reg.handlers as Record<string, unknown>)[key];
      if (typeof h !== 'function') throw new TypeError(`${m.path}: no handler`);
      impl[key] = m.responseStream
        ? wrapServerStream(h as ServerStreamHandler<unknown, unknown>, wrapOpts)
        : wrapUnary(h as UnaryHandler<unknown, unknown>, wrapOpts);
    }
    server.addService(def as never, impl as UntypedServiceImplementation);
  }

  const host = o.host ?? DEFAULT_GRPC_HOST;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${o.port}`, serverCredentials(o.auth), (err, p) => (err ? reject(err) : resolve(p)));
  });

  let stopped: Promise<void> | undefined;
  return {
    server,
    port,
    address: `${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    health,
    get inFlight() { return tracker.inFlight; },
    setServing() {
      for (const n of ['', ...names]) health.setStatus(n, ServingStatus.SERVING);
    },
    async drain(timeoutMs = DEFAULT_DRAIN_TIMEOUT_MS) {
      health.setAll(ServingStatus.NOT_SERVING);
      return tracker.drain(timeoutMs);
    },
    stop(timeoutMs = DEFAULT_DRAIN_TIMEOUT_MS) {
      stopped ??= new Promise<void>((resolve) => {
        health.setAll(ServingStatus.NOT_SERVING);
        health.closeWatchers();
        const t = setTimeout(() => { server.forceShutdown(); resolve(); }, timeoutMs);
        server.tryShutdown(() => { clearTimeout(t); resolve(); });
      });
      return stopped;
    },
  };
}
