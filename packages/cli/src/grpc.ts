/**
 * gRPC clients for CLI commands: insecure channel on loopback (TLS in deployments via
 * COSIGNER_GRPC_TLS_CA), bearer admin token, a default deadline, and errors turned into one line
 * with the server's stable code (metadata `x-cosigner-error-code`).
 *
 * A command that needs a service waits for it to be ready first (the standard gRPC health check
 * on the same channel, bounded by `COSIGNER_WAIT_MS`, default {@link DEFAULT_WAIT_MS}; 0 disables),
 * with one progress line on stderr, so a script may run `cosigner keys create` right after
 * `cosigner up` has started. A service that does not come up ends in `ERR_UNAVAILABLE` naming it
 * and how to start it.
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { HealthDefinition, ServingStatus, type HealthCheckResponse } from '@cosigner/platform';
import { CliError } from './command.ts';

/** Default deadline of a CLI call. */
export const DEFAULT_DEADLINE_MS = 30_000;
/** How long a command waits for the service it needs to answer its health check. */
export const DEFAULT_WAIT_MS = 60_000;
/** Between two health checks while waiting. */
const WAIT_POLL_MS = 250;

type ClientCtor<C> = (new (address: string, credentials: grpc.ChannelCredentials, options?: Partial<grpc.ClientOptions>) => C) & { serviceName?: string };

/** The service (as `cosigner up` names it) behind each gRPC API, for messages. */
const SERVICE_NAMES: Record<string, string> = {
  'cosigner.v1.PairingService': 'pairing',
  'cosigner.v1.RequestIntakeService': 'request-intake',
  'cosigner.v1.KeyService': 'mpc-signer',
  'cosigner.v1.WorkspaceService': 'workspace simulator (cloud-cosigner-sim)',
};

interface ClientInfo {
  address: string;
  service: string;
  ready?: Promise<void>;
}
const infos = new WeakMap<grpc.Client, ClientInfo>();

export function makeClient<C extends grpc.Client>(Ctor: ClientCtor<C>, address: string): C {
  const ca = process.env.COSIGNER_GRPC_TLS_CA;
  const creds = ca ? grpc.credentials.createSsl(readFileSync(ca)) : grpc.credentials.createInsecure();
  const client = new Ctor(address, creds);
  infos.set(client, { address, service: SERVICE_NAMES[Ctor.serviceName ?? ''] ?? Ctor.serviceName ?? 'service' });
  return client;
}

function waitBudgetMs(): number {
  const v = process.env.COSIGNER_WAIT_MS;
  if (v === undefined || v === '') return DEFAULT_WAIT_MS;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : DEFAULT_WAIT_MS;
}

/** One health check over the client's own channel: SERVING, or why not. */
function healthCheck(client: grpc.Client, deadlineMs: number): Promise<'SERVING' | string> {
  return new Promise((resolve) => {
    client.makeUnaryRequest<{ service: string }, HealthCheckResponse>(
      HealthDefinition.check.path,
      HealthDefinition.check.requestSerialize,
      HealthDefinition.check.responseDeserialize,
      { service: '' },
      new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
      (err, res) => {
        if (err) resolve(err.code === grpc.status.UNIMPLEMENTED ? 'SERVING' : (grpc.status[err.code] ?? 'UNKNOWN'));
        else resolve(res?.status === ServingStatus.SERVING ? 'SERVING' : 'NOT_SERVING');
      },
    );
  });
}

/**
 * Resolves once the client's service answers SERVING (checked once per client), waiting at most
 * `COSIGNER_WAIT_MS`; rejects with `ERR_UNAVAILABLE` naming the service otherwise.
 */
export function waitReady(client: grpc.Client, log: (line: string) => void = (l) => process.stderr.write(l + '\n')): Promise<void> {
  const info = infos.get(client);
  if (!info) return Promise.resolve();
  info.ready ??= (async () => {
    const budget = waitBudgetMs();
    const until = Date.now() + budget;
    let said = false;
    for (;;) {
      const left = until - Date.now();
      // Each check may take a few seconds on a loaded machine, also when there is no time left to wait.
      const state = await healthCheck(client, Math.max(5_000, Math.min(10_000, left)));
      if (state === 'SERVING') return;
      if (Date.now() + WAIT_POLL_MS > until) {
        throw new CliError(
          'ERR_UNAVAILABLE',
          `${info.service} at ${info.address} is not ready (${state}) after ${budget} ms: start the system with \`npx cosigner up\` (or check that service's log)`,
        );
      }
      if (!said) {
        log(`waiting for ${info.service} at ${info.address} (${state}) ...`);
        said = true;
      }
      await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
    }
  })();
  return info.ready;
}

function metadata(token: string | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  return md;
}

/** Converts a gRPC error into a CliError carrying the stable code. */
export function toCliError(e: unknown, what: string, service?: string): CliError {
  const err = e as grpc.ServiceError;
  if (err && typeof err.code === 'number') {
    const code = err.metadata?.get('x-cosigner-error-code')[0]?.toString() ?? grpc.status[err.code] ?? 'UNKNOWN';
    if (err.code === grpc.status.UNAVAILABLE)
      return new CliError('ERR_UNAVAILABLE', `${what}: ${service ?? 'service'} unavailable (is \`npx cosigner up\` running?)`, 1, { cause: e });
    return new CliError(code, `${what}: ${err.details || grpc.status[err.code]}`, 1, { cause: e });
  }
  if (e instanceof CliError) return e;
  return new CliError('ERR_INTERNAL', `${what}: ${(e as Error)?.message ?? String(e)}`, 1, { cause: e });
}

/** Promisified unary call `client[method](req)` with token and deadline, once the service is ready. */
export async function unary<Req, Res>(client: grpc.Client, method: string, req: Req, opts: { token?: string; deadlineMs?: number } = {}): Promise<Res> {
  const fn = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method];
  if (typeof fn !== 'function') throw new CliError('ERR_INTERNAL', `no method ${method}`);
  await waitReady(client);
  const service = infos.get(client)?.service;
  return new Promise<Res>((resolve, reject) => {
    fn.call(client, req, metadata(opts.token), { deadline: Date.now() + (opts.deadlineMs ?? DEFAULT_DEADLINE_MS) }, (err: grpc.ServiceError | null, res: Res) =>
      err ? reject(toCliError(err, method, service)) : resolve(res),
    );
  });
}

/** Server-streaming call as an async iterator, once the service is ready. */
export async function* serverStream<Req, Res>(client: grpc.Client, method: string, req: Req, opts: { token?: string; deadlineMs?: number } = {}): AsyncGenerator<Res> {
  const fn = (client as unknown as Record<string, (...a: unknown[]) => grpc.ClientReadableStream<Res>>)[method];
  if (typeof fn !== 'function') throw new CliError('ERR_INTERNAL', `no method ${method}`);
  await waitReady(client);
  const callOpts: grpc.CallOptions = opts.deadlineMs ? { deadline: Date.now() + opts.deadlineMs } : {};
  const stream = fn.call(client, req, metadata(opts.token), callOpts);
  try {
    for await (const item of stream) yield item as Res;
  } catch (e) {
    throw toCliError(e, method, infos.get(client)?.service);
  } finally {
    stream.cancel();
  }
}
