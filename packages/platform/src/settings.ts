/**
 * The environment every service shares, as a config schema to spread into the service's own:
 * `loadConfig({ ...platformSchema, grpcPort: int('GRPC_PORT', { default: DEFAULT_INTAKE_PORT }) })`.
 */
import { duration, int, list, loadConfig, oneOf, str, url, type ConfigValues } from './config.ts';
import { LOG_LEVELS, DEFAULT_LOG_LEVEL } from './log.ts';
import { DEFAULT_NATS_URL, connectNats, type NatsConnectOptions } from './nats/connect.ts';
import type { NatsConnection } from '@nats-io/nats-core';
import { DEFAULT_REPLICAS } from './nats/provision.ts';
import { DEFAULT_SHUTDOWN_GRACE_MS } from './lifecycle.ts';
import type { ServerAuthConfig } from './grpc/auth.ts';
import { readFileSync } from 'node:fs';

export const platformSchema = {
  natsUrl: list('NATS_URL', { default: [DEFAULT_NATS_URL] }),
  natsCredsFile: str('NATS_CREDS_FILE'),
  natsNkeySeedFile: str('NATS_NKEY_SEED_FILE'),
  natsInboxPrefix: str('NATS_INBOX_PREFIX'),
  natsUser: str('NATS_USER'),
  natsPassword: str('NATS_PASSWORD', { secret: true }),
  natsCaFile: str('NATS_TLS_CA_FILE'),
  natsCertFile: str('NATS_TLS_CERT_FILE'),
  natsKeyFile: str('NATS_TLS_KEY_FILE'),
  jsReplicas: int('NATS_JS_REPLICAS', { default: DEFAULT_REPLICAS, min: 1, max: 5 }),
  logLevel: oneOf('LOG_LEVEL', LOG_LEVELS, { default: DEFAULT_LOG_LEVEL }),
  shutdownGraceMs: duration('SHUTDOWN_GRACE', { default: DEFAULT_SHUTDOWN_GRACE_MS }),
  otlpEndpoint: url('OTEL_EXPORTER_OTLP_ENDPOINT', { protocols: ['http:', 'https:'] }),
};

/** The admin auth part of a gRPC service's config (tokens and/or mTLS files). */
export const adminAuthSchema = {
  adminTokens: list('ADMIN_TOKENS', { secret: true }),
  grpcTlsCertFile: str('GRPC_TLS_CERT_FILE'),
  grpcTlsKeyFile: str('GRPC_TLS_KEY_FILE'),
  grpcTlsClientCaFile: str('GRPC_TLS_CLIENT_CA_FILE'),
  grpcTlsAllowedSubjects: list('GRPC_TLS_ALLOWED_SUBJECTS'),
};

export type PlatformSettings = ConfigValues<typeof platformSchema>;
export type AdminAuthSettings = ConfigValues<typeof adminAuthSchema>;

/** NATS connect options from the shared settings. */
export function natsOptions(s: PlatformSettings, name: string): NatsConnectOptions {
  const o: NatsConnectOptions = { servers: [...s.natsUrl], name };
  if (s.natsCredsFile) o.credsFile = s.natsCredsFile;
  if (s.natsNkeySeedFile) o.nkeySeedFile = s.natsNkeySeedFile;
  if (s.natsInboxPrefix) o.inboxPrefix = s.natsInboxPrefix;
  if (s.natsUser) o.user = s.natsUser;
  if (s.natsPassword) o.pass = s.natsPassword;
  if (s.natsCaFile || s.natsCertFile) {
    o.tls = {
      ...(s.natsCaFile ? { caFile: s.natsCaFile } : {}),
      ...(s.natsCertFile ? { certFile: s.natsCertFile } : {}),
      ...(s.natsKeyFile ? { keyFile: s.natsKeyFile } : {}),
    };
  }
  return o;
}

/** gRPC server auth from the admin settings (reads the PEM files once, at start). */
export function serverAuth(s: AdminAuthSettings): ServerAuthConfig {
  const out: ServerAuthConfig = {};
  if (s.adminTokens && s.adminTokens.length > 0) out.tokens = s.adminTokens;
  if (s.grpcTlsCertFile && s.grpcTlsKeyFile) {
    out.tls = {
      certPem: readFileSync(s.grpcTlsCertFile),
      keyPem: readFileSync(s.grpcTlsKeyFile),
      ...(s.grpcTlsClientCaFile ? { caPem: readFileSync(s.grpcTlsClientCaFile), requireClientCert: true } : {}),
      ...(s.grpcTlsAllowedSubjects ? { allowedSubjects: s.grpcTlsAllowedSubjects } : {}),
    };
  }
  return out;
}

/**
 * The one way a process connects to the bus from its environment (NATS_URL, NATS_NKEY_SEED_FILE
 * or NATS_CREDS_FILE or NATS_USER/NATS_PASSWORD, NATS_INBOX_PREFIX, NATS_TLS_*), validated by the
 * platform's config loader: what the CLI and tools use when they are not a service with a schema.
 */
export async function connectNatsFromEnv(name: string, env: NodeJS.ProcessEnv = process.env, extra: Partial<NatsConnectOptions> = {}): Promise<NatsConnection> {
  const s = loadConfig(platformSchema, env);
  return connectNats({ ...natsOptions(s, name), ...extra });
}
