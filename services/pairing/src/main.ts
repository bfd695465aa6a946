/**
 * pairing process entry. Everything comes from the environment (service conventions): NATS_URL,
 * GRPC_HOST/GRPC_PORT (default 50051), COSIGNER_ADMIN_TOKEN, COSIGNER_TRUST,
 * COSIGNER_CALLBACK_KEY_FILE, COSIGNER_IDENTITY_KEY_FILE or COSIGNER_DATA_DIR (identity key),
 * WORKSPACE_URL (fallback platform). GRPC_HOST defaults to 0.0.0.0 (containers, probes).
 */
import { join } from 'node:path';
import { DEFAULT_GRPC_HOST, DEFAULT_NATS_URL, int, list, loadConfig, runService, str } from '@cosigner/platform';
import { parseTrustConfig } from '@cosigner/trust';
import { DEFAULT_PAIRING_PORT, startPairing } from './server.ts';

runService({
  name: 'pairing',
  async start({ logger }) {
    const cfg = loadConfig({
      natsUrl: str('NATS_URL', { default: DEFAULT_NATS_URL }),
      host: str('GRPC_HOST', { default: DEFAULT_GRPC_HOST }),
      port: int('GRPC_PORT', { default: DEFAULT_PAIRING_PORT, min: 0, max: 65535 }),
      adminTokens: list('COSIGNER_ADMIN_TOKEN', { required: true, secret: true }),
      trust: str('COSIGNER_TRUST', { default: '' }),
      callbackKeyFile: str('COSIGNER_CALLBACK_KEY_FILE', { required: true }),
      dataDir: str('COSIGNER_DATA_DIR', { default: join(process.cwd(), '.data', 'pairing') }),
      identityKeyFile: str('COSIGNER_IDENTITY_KEY_FILE'),
      workspaceUrl: str('WORKSPACE_URL'),
    });
    const trust = parseTrustConfig(cfg.trust);
    if (trust.entries.length === 0) logger.warn('COSIGNER_TRUST is empty: every pairing token will be refused');
    const h = await startPairing({
      natsUrl: cfg.natsUrl,
      host: cfg.host,
      port: cfg.port,
      adminTokens: [...cfg.adminTokens],
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
