/**
 * cloud-cosigner-sim process entry. Everything comes from the environment (service conventions):
 * NATS_URL, GRPC_HOST/GRPC_PORT (WorkspaceService, default 50054), COSIGNER_ADMIN_TOKEN,
 * COSIGNER_DATA_DIR (workspace signing keys), INTAKE_URL (request-intake, default 127.0.0.1:50052).
 * The cloud MPC parties plug in next to the workspace (`startParties`) when they land.
 */
import { join } from 'node:path';
import { startWorkspace } from './workspace/index.ts';
import { jsonLogger } from './workspace/log.ts';

const log = jsonLogger('workspace-sim');
const env = process.env;
const port = Number(env.GRPC_PORT ?? 50054);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('GRPC_PORT must be a port number');

const workspace = await startWorkspace({
  natsUrl: env.NATS_URL ?? 'nats://127.0.0.1:4222',
  host: env.GRPC_HOST ?? '127.0.0.1',
  port,
  adminTokens: (env.COSIGNER_ADMIN_TOKEN ?? '').split(',').map((t) => t.trim()).filter((t) => t !== ''),
  dataDir: join(env.COSIGNER_DATA_DIR ?? join(process.cwd(), '.data', 'workspace-sim'), 'workspace-keys'),
  intakeUrl: env.INTAKE_URL ?? '127.0.0.1:50052',
  log,
});
log.info(`ready: WorkspaceService on ${workspace.address}`, { intake: env.INTAKE_URL ?? '127.0.0.1:50052' });

let stopping = false;
const shutdown = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  log.info('stopping', { signal });
  const force = setTimeout(() => process.exit(1), 10_000);
  force.unref();
  workspace.stop().then(() => process.exit(0), (e: unknown) => {
    log.error('stop failed', { err: e });
    process.exit(1);
  });
};
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
