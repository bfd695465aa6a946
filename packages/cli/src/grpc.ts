/**
 * gRPC clients for CLI commands: insecure channel on loopback (TLS in deployments via
 * COSIGNER_GRPC_TLS_CA), bearer admin token, a default deadline, and errors turned into one line
 * with the server's stable code (metadata `x-cosigner-error-code`).
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { CliError } from './command.ts';

/** Default deadline of a CLI call. */
export const DEFAULT_DEADLINE_MS = 30_000;

type ClientCtor<C> = new (address: string, credentials: grpc.ChannelCredentials, options?: Partial<grpc.ClientOptions>) => C;

export function makeClient<C extends grpc.Client>(Ctor: ClientCtor<C>, address: string): C {
  const ca = process.env.COSIGNER_GRPC_TLS_CA;
  const creds = ca ? grpc.credentials.createSsl(readFileSync(ca)) : grpc.credentials.createInsecure();
  return new Ctor(address, creds);
}

function metadata(token: string | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  return md;
}

/** Converts a gRPC error into a CliError carrying the stable code. */
export function toCliError(e: unknown, what: string): CliError {
  const err = e as grpc.ServiceError;
  if (err && typeof err.code === 'number') {
    const code = err.metadata?.get('x-cosigner-error-code')[0]?.toString() ?? grpc.status[err.code] ?? 'UNKNOWN';
    if (err.code === grpc.status.UNAVAILABLE) return new CliError('ERR_UNAVAILABLE', `${what}: service unavailable (is \`cosigner up\` running?)`, 1, { cause: e });
    return new CliError(code, `${what}: ${err.details || grpc.status[err.code]}`, 1, { cause: e });
  }
  return new CliError('ERR_INTERNAL', `${what}: ${(e as Error)?.message ?? String(e)}`, 1, { cause: e });
}

/** Promisified unary call `client[method](req)` with token and deadline. */
export function unary<Req, Res>(client: grpc.Client, method: string, req: Req, opts: { token?: string; deadlineMs?: number } = {}): Promise<Res> {
  const fn = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method];
  if (typeof fn !== 'function') return Promise.reject(new CliError('ERR_INTERNAL', `no method ${method}`));
  return new Promise<Res>((resolve, reject) => {
    fn.call(client, req, metadata(opts.token), { deadline: Date.now() + (opts.deadlineMs ?? DEFAULT_DEADLINE_MS) }, (err: grpc.ServiceError | null, res: Res) =>
      err ? reject(toCliError(err, method)) : resolve(res),
    );
  });
}

/** Server-streaming call as an async iterator. */
export async function* serverStream<Req, Res>(client: grpc.Client, method: string, req: Req, opts: { token?: string; deadlineMs?: number } = {}): AsyncGenerator<Res> {
  const fn = (client as unknown as Record<string, (...a: unknown[]) => grpc.ClientReadableStream<Res>>)[method];
  if (typeof fn !== 'function') throw new CliError('ERR_INTERNAL', `no method ${method}`);
  const callOpts: grpc.CallOptions = opts.deadlineMs ? { deadline: Date.now() + opts.deadlineMs } : {};
  const stream = fn.call(client, req, metadata(opts.token), callOpts);
  try {
    for await (const item of stream) yield item as Res;
  } catch (e) {
    throw toCliError(e, method);
  } finally {
    stream.cancel();
  }
}
