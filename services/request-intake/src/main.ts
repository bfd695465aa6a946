/**
 * request-intake process entry. Environment (service conventions): NATS_URL and the platform's
 * NATS_* credentials/TLS (NATS_NKEY_SEED_FILE, NATS_INBOX_PREFIX, NATS_TLS_CA_FILE, ...), GRPC_HOST,
 * GRPC_PORT (default 50052), COSIGNER_ADMIN_TOKEN (Get/Watch), COSIGNER_TRUST (trusted
 * workspaces), INTAKE_SWEEP_INTERVAL_MS.
 */
import { createLogger, loadConfig, natsOptions, platformSchema, runService } from '@cosigner/platform';
import { parseTrustConfig } from '@cosigner/trust';
import { DEFAULT_INTAKE_PORT, startIntake } from './server.ts';

const env = process.env;
const log = createLogger({ service: 'request-intake' });
// NATS settings through the platform's validated loader (credentials, TLS, replicas).
const platform = loadConfig(platformSchema, env);
const port = Number(env.GRPC_PORT ?? DEFAULT_INTAKE_PORT);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('GRPC_PORT must be a port number');
const trust = parseTrustConfig(env.COSIGNER_TRUST ?? '');
if (trust.entries.length === 0) log.warn('COSIGNER_TRUST is empty: every submission will be refused');

runService({
  name: 'request-intake',
  logger: log,
  start: async () => {
    const h = await startIntake({
      natsUrl: platform.natsUrl.join(','),
      nats: natsOptions(platform, 'request-intake'),
      replicas: platform.jsReplicas,
      host: env.GRPC_HOST ?? '127.0.0.1',
      port,
      adminTokens: (env.COSIGNER_ADMIN_TOKEN ?? '').split(',').map((t) => t.trim()).filter((t) => t !== ''),
      trust,
      log,
      ...(env.INTAKE_SWEEP_INTERVAL_MS ? { sweepIntervalMs: Number(env.INTAKE_SWEEP_INTERVAL_MS) } : {}),
    });
    log.info(`RequestIntakeService on ${h.address}`);
    return { stop: () => h.stop() };
  },
});
