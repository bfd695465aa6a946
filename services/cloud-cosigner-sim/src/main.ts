/**
 * cloud-cosigner-sim process entry: the workspace (WorkspaceService). Everything comes from the
 * environment (service conventions): NATS_URL, GRPC_HOST/GRPC_PORT (default 50054),
 * COSIGNER_ADMIN_TOKEN, COSIGNER_DATA_DIR (workspace signing keys), INTAKE_URL (request-intake,
 * default 127.0.0.1:50052); GRPC_HOST defaults to 0.0.0.0 (containers, probes). The cloud MPC parties run as their own processes
 * (src/parties/main.ts); a `startParties(...)` can join the composition below.
 */
import { join } from 'node:path';
import { DEFAULT_GRPC_HOST, DEFAULT_NATS_URL, int, list, loadConfig, runService, str } from '@cosigner/platform';
import { DEFAULT_INTAKE_URL, DEFAULT_WORKSPACE_PORT, startWorkspace } from './workspace/index.ts';

runService({
  name: 'workspace-sim',
  async start({ logger }) {
    const cfg = loadConfig({
      natsUrl: str('NATS_URL', { default: DEFAULT_NATS_URL }),
      host: str('GRPC_HOST', { default: DEFAULT_GRPC_HOST }),
      port: int('GRPC_PORT', { default: DEFAULT_WORKSPACE_PORT, min: 0, max: 65535 }),
      adminTokens: list('COSIGNER_ADMIN_TOKEN', { required: true, secret: true }),
      dataDir: str('COSIGNER_DATA_DIR', { default: join(process.cwd(), '.data', 'workspace-sim') }),
      intakeUrl: str('INTAKE_URL', { default: DEFAULT_INTAKE_URL }),
    });
    const workspace = await startWorkspace({
      natsUrl: cfg.natsUrl,
      host: cfg.host,
      port: cfg.port,
      adminTokens: [...cfg.adminTokens],
      dataDir: join(cfg.dataDir, 'workspace-keys'),
      intakeUrl: cfg.intakeUrl,
      log: logger,
    });
    return { grpc: workspace.grpc, stop: () => workspace.stop() };
  },
});
