/**
 * The smallest gRPC server wrapper the pairing service needs: bearer-token auth on every method not
 * declared public, and one error mapper (stable code in metadata `x-cosigner-error-code`; an
 * unknown error becomes INTERNAL without internals).
 */
import * as grpc from '@grpc/grpc-js';
import { timingSafeEqual, createHash } from 'node:crypto';

export const ERROR_CODE_METADATA = 'x-cosigner-error-code';

type Unary = (call: grpc.ServerUnaryCall<unknown, unknown>) => Promise<unknown>;

export interface ErrorLike { code: string; grpcStatus: number; message: string }

function isCoded(e: unknown): e is ErrorLike {
  return typeof e === 'object' && e !== null && typeof (e as ErrorLike).code === 'string' && /^ERR_[A-Z0-9_]+$/.test((e as ErrorLike).code) &&
    typeof (e as ErrorLike).grpcStatus === 'number';
}

/** One place that turns a thrown error into a gRPC status. */
export function toServiceError(e: unknown): Partial<grpc.StatusObject> {
  const md = new grpc.Metadata();
  if (isCoded(e)) {
    md.set(ERROR_CODE_METADATA, e.code);
    return { code: e.grpcStatus, details: e.message.replace(/[\r\n]+/g, ' ').slice(0, 512), metadata: md };
  }
  md.set(ERROR_CODE_METADATA, 'ERR_INTERNAL');
  return { code: grpc.status.INTERNAL, details: 'internal error', metadata: md };
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Whether `authorization: Bearer <t>` names one of `tokens` (constant-time compare of digests). */
export function bearerOk(md: grpc.Metadata, tokens: readonly string[]): boolean {
  const h = md.get('authorization')[0];
  if (typeof h !== 'string' || !h.startsWith('Bearer ')) return false;
  const d = digest(h.slice(7).trim());
  let ok = false;
  for (const t of tokens) if (timingSafeEqual(d, digest(t))) ok = true;
  return ok;
}

export interface ServeOptions {
  host: string;
  port: number;
  adminTokens: readonly string[];
  /** Method names (implementation keys) callable without the admin token. */
  publicMethods?: readonly string[];
  onError?: (method: string, err: unknown) => void;
}

/** Wraps async unary handlers (`(call) => Promise<Res>`) with auth and error mapping. */
export function unaryHandlers(impl: Record<string, Unary>, o: ServeOptions): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, fn] of Object.entries(impl)) {
    out[name] = ((call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      if (!o.publicMethods?.includes(name) && !bearerOk(call.metadata, o.adminTokens)) {
        const md = new grpc.Metadata();
        md.set(ERROR_CODE_METADATA, 'ERR_UNAUTHENTICATED');
        cb({ code: grpc.status.UNAUTHENTICATED, details: 'admin token required', metadata: md });
        return;
      }
      fn(call).then((res) => cb(null, res), (err: unknown) => {
        if (!isCoded(err)) o.onError?.(name, err);
        cb(toServiceError(err));
      });
    }) as grpc.handleUnaryCall<unknown, unknown>;
  }
  return out;
}

/** Binds a server; returns it and the bound port (port 0 picks a free one). */
export async function bindServer(server: grpc.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });
}

export async function shutdownServer(server: grpc.Server, graceMs = 2000): Promise<void> {
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => { server.forceShutdown(); resolve(); }, graceMs);
    server.tryShutdown(() => { clearTimeout(t); resolve(); });
  });
}
