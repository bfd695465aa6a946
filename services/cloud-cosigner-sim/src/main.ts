/**
 * cloud-cosigner-sim process entry: the workspace (WorkspaceService). Everything comes from the
 * environment (service conventions): NATS_URL (+ the platform's NATS_* credentials/TLS,
 * NATS_JS_REPLICAS, LOG_LEVEL, SHUTDOWN_GRACE), GRPC_HOST/GRPC_PORT (0.0.0.0:50054),
 * COSIGNER_ADMIN_TOKEN (and/or GRPC_TLS_*), COSIGNER_DATA_DIR (workspace signing keys),
 * INTAKE_URL (request-intake, default 127.0.0.1:50052). The cloud MPC parties run as their own
 * processes (src/parties/main.ts); a `startParties(...)` can join the composition below.
 */
import { join } from 'node:path';
import {
  DEFAULT_GRPC_HOST, adminAuthSchema, int, list, loadConfig, natsOptions, platformSchema, runService, serverAuth, str,
} from '@cosigner/platform';
import { DEFAULT_INTAKE_URL, DEFAULT_WORKSPACE_PORT, startWorkspace } from './workspace/index.ts';

const schema = {
  ...platformSchema,
  ...adminAuthSchema,
  host: str('GRPC_HOST', { default: DEFAULT_GRPC_HOST }),
  port: int('GRPC_PORT', { default: DEFAULT_WORKSPACE_PORT, min: 0, max: 65535 }),
  cosignerAdminTokens: list('COSIGNER_ADMIN_TOKEN', { secret: true }),
  dataDir: str('COSIGNER_DATA_DIR', { default: join(process.cwd(), '.data', 'workspace-sim') }),
  intakeUrl: str('INTAKE_URL', { default: DEFAULT_INTAKE_URL }),
};

let cfg: ReturnType<typeof loadConfig<typeof schema>>;
try {
  cfg = loadConfig(schema);
} catch (e) {
  process.stderr.write(`workspace-sim: ${(e as Error).message}\n`);
  process.exit(1);
}

runService({
  name: 'workspace-sim',
  logLevel: cfg.logLevel,
  graceMs: cfg.shutdownGraceMs,
  async start({ logger }) {
    const auth = serverAuth(cfg);
    const workspace = await startWorkspace({
      natsUrl: cfg.natsUrl.join(','),
      nats: natsOptions(cfg, 'workspace-sim'),
      replicas: cfg.jsReplicas,
      host: cfg.host,
      port: cfg.port,
      adminTokens: [...(cfg.cosignerAdminTokens ?? []), ...(auth.tokens ?? [])],
      ...(auth.tls ? { serverTls: auth.tls } : {}),
      dataDir: join(cfg.dataDir, 'workspace-keys'),
      intakeUrl: cfg.intakeUrl,
      log: logger,
    });
    return { grpc: workspace.grpc, stop: () => workspace.stop() };
  },
});
