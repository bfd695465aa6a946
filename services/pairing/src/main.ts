/**
 * pairing process entry. Everything comes from the environment (service conventions): NATS_URL
 * (+ the platform's NATS_* credentials/TLS, NATS_JS_REPLICAS, LOG_LEVEL, SHUTDOWN_GRACE),
 * GRPC_HOST/GRPC_PORT (0.0.0.0:50051), COSIGNER_ADMIN_TOKEN (and/or GRPC_TLS_* for mTLS),
 * COSIGNER_TRUST, COSIGNER_CALLBACK_KEY_FILE, COSIGNER_IDENTITY_KEY_FILE or COSIGNER_DATA_DIR
 * (identity key), WORKSPACE_URL (fallback platform).
 */
import { join } from 'node:path';
import {
  DEFAULT_GRPC_HOST, adminAuthSchema, int, list, loadConfig, natsOptions, platformSchema, runService, serverAuth, str,
} from '@cosigner/platform';
import { parseTrustConfig } from '@cosigner/trust';
import { DEFAULT_PAIRING_PORT, startPairing } from './server.ts';

const schema = {
  ...platformSchema,
  ...adminAuthSchema,
  host: str('GRPC_HOST', { default: DEFAULT_GRPC_HOST }),
  port: int('GRPC_PORT', { default: DEFAULT_PAIRING_PORT, min: 0, max: 65535 }),
  cosignerAdminTokens: list('COSIGNER_ADMIN_TOKEN', { secret: true }),
  trust: str('COSIGNER_TRUST', { default: '' }),
  callbackKeyFile: str('COSIGNER_CALLBACK_KEY_FILE', { required: true }),
  dataDir: str('COSIGNER_DATA_DIR', { default: join(process.cwd(), '.data', 'pairing') }),
  identityKeyFile: str('COSIGNER_IDENTITY_KEY_FILE'),
  workspaceUrl: str('WORKSPACE_URL'),
};

let cfg: ReturnType<typeof loadConfig<typeof schema>>;
let trust: ReturnType<typeof parseTrustConfig>;
try {
  cfg = loadConfig(schema);
  trust = parseTrustConfig(cfg.trust);
} catch (e) {
  process.stderr.write(`pairing: ${(e as Error).message}\n`);
  process.exit(1);
}

runService({
  name: 'pairing',
  logLevel: cfg.logLevel,
  graceMs: cfg.shutdownGraceMs,
  async start({ logger }) {
    if (trust.entries.length === 0) logger.warn('COSIGNER_TRUST is empty: every pairing token will be refused');
    const auth = serverAuth(cfg);
    const h = await startPairing({
      natsUrl: cfg.natsUrl.join(','),
      nats: natsOptions(cfg, 'pairing'),
      replicas: cfg.jsReplicas,
      host: cfg.host,
      port: cfg.port,
      adminTokens: [...(cfg.cosignerAdminTokens ?? []), ...(auth.tokens ?? [])],
      ...(auth.tls ? { serverTls: auth.tls } : {}),
      trust,
      callbackKeyFile: cfg.callbackKeyFile,
      dataDir: cfg.dataDir,
      ...(cfg.identityKeyFile ? { identityKeyFile: cfg.identityKeyFile } : {}),
      ...(cfg.workspaceUrl ? { workspaceUrl: cfg.workspaceUrl } : {}),
      log: logger,
    });
    return { grpc: h.grpc, stop: () => h.stop() };
  },
});
