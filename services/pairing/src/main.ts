/**
 * pairing process entry. Everything comes from the environment (service conventions): NATS_URL,
 * GRPC_HOST/GRPC_PORT (default 50051), COSIGNER_ADMIN_TOKEN, COSIGNER_TRUST,
 * COSIGNER_CALLBACK_KEY_FILE, COSIGNER_DATA_DIR (identity key), WORKSPACE_URL (fallback platform).
 */
import { join } from 'node:path';
import { describeTrust, parseTrustConfig } from '@cosigner/trust';
import { startPairing } from './server.ts';
import { jsonLogger } from './log.ts';

const log = jsonLogger('pairing');
const env = process.env;
const port = Number(env.GRPC_PORT ?? 50051);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('GRPC_PORT must be a port number');
if (!env.COSIGNER_CALLBACK_KEY_FILE) throw new Error('COSIGNER_CALLBACK_KEY_FILE is required');
const trust = parseTrustConfig(env.COSIGNER_TRUST ?? '');
if (trust.entries.length === 0) log.warn('COSIGNER_TRUST is empty: every pairing token will be refused');

const pairing = await startPairing({
  natsUrl: env.NATS_URL ?? 'nats://127.0.0.1:4222',
  host: env.GRPC_HOST ?? '127.0.0.1',
  port,
  adminTokens: (env.COSIGNER_ADMIN_TOKEN ?? '').split(',').map((t) => t.trim()).filter((t) => t !== ''),
  trust,
  callbackKeyFile: env.COSIGNER_CALLBACK_KEY_FILE,
  dataDir: env.COSIGNER_DATA_DIR ?? join(process.cwd(), '.data', 'pairing'),
  ...(env.WORKSPACE_URL ? { workspaceUrl: env.WORKSPACE_URL } : {}),
  log,
});
log.info(`ready: PairingService on ${pairing.address} as ${pairing.cosignerId}`, { trusted: describeTrust(trust) });

let stopping = false;
const shutdown = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  log.info('stopping', { signal });
  const force = setTimeout(() => process.exit(1), 10_000);
  force.unref();
  pairing.stop().then(() => process.exit(0), (e: unknown) => {
    log.error('stop failed', { err: e });
    process.exit(1);
  });
};
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
