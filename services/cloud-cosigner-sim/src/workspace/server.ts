/**
 * The workspace simulator as a service: WorkspaceService over gRPC (platform server: admin token
 * for everything but the public keys and completing a pairing, which the token itself
 * authenticates; health service; traces), state in JetStream KV, keys in the data dir.
 * `startWorkspace` is what main.ts and the tests call.
 */
import {
  ANONYMOUS, authenticateAdmin, connectNats, createLogger, createServer, drainNats, service,
  type AuthPolicy, type ClientTlsConfig, type GrpcServerHandle, type Logger, type NatsConnectOptions, type ServerAuthConfig,
} from '@cosigner/platform';
import { WorkspaceServiceService } from '@cosigner/proto';
import { WorkspaceKeyStore } from './keys.ts';
import { Originator } from './origination.ts';
import { openState } from './state.ts';
import { Workspaces, defaultClock, type Clock } from './workspaces.ts';

export const DEFAULT_WORKSPACE_PORT = 50054;
export const DEFAULT_WORKSPACE_HOST = '127.0.0.1';
export const DEFAULT_INTAKE_URL = '127.0.0.1:50052';

export interface WorkspaceConfig {
  natsUrl: string;
  /** Full connect options (credentials, TLS); `natsUrl` when absent. */
  nats?: NatsConnectOptions;
  /** JetStream replicas of the buckets (3 on a NATS cluster). */
  replicas?: number;
  host?: string;
  /** 0 picks a free port (tests). */
  port?: number;
  adminTokens: string[];
  serverTls?: ServerAuthConfig['tls'];
  /** Where workspace signing keys live. */
  dataDir: string;
  intakeUrl?: string;
  intakeTls?: ClientTlsConfig;
  /** Prefix for the KV bucket names (tests running side by side). */
  bucketPrefix?: string;
  clock?: Clock;
  log?: Logger;
}

export interface WorkspaceHandle {
  /** host:port the gRPC server listens on. */
  address: string;
  port: number;
  workspaces: Workspaces;
  originator: Originator;
  grpc: GrpcServerHandle;
  stop(): Promise<void>;
}

/** Methods anyone may call: public keys are public, and a pairing token authenticates its own completion. */
export const PUBLIC_METHODS = ['/cosigner.v1.WorkspaceService/GetPublicKeys', '/cosigner.v1.WorkspaceService/CompletePairing'] as const;

export async function startWorkspace(cfg: WorkspaceConfig): Promise<WorkspaceHandle> {
  if (cfg.adminTokens.length === 0 && !cfg.serverTls?.requireClientCert) throw new Error('workspace: COSIGNER_ADMIN_TOKEN (or mTLS) is required');
  const log = cfg.log ?? createLogger({ service: 'workspace-sim' });
  const clock = cfg.clock ?? defaultClock;
  const nc = await connectNats(cfg.nats ?? { servers: cfg.natsUrl, name: 'workspace-sim', reconnectTimeWaitMs: 500 });
  try {
    const state = await openState(nc, cfg.bucketPrefix ?? '', cfg.replicas);
    const workspaces = new Workspaces(state, new WorkspaceKeyStore(cfg.dataDir), clock);
    const originator = new Originator({
      state, workspaces, clock, log,
      intakeUrl: cfg.intakeUrl ?? DEFAULT_INTAKE_URL,
      intakeToken: cfg.adminTokens[0] ?? '',
      ...(cfg.intakeTls ? { tls: cfg.intakeTls } : {}),
    });
    const authCfg: ServerAuthConfig = { tokens: cfg.adminTokens, ...(cfg.serverTls ? { tls: cfg.serverTls } : {}) };
    const publicPaths = new Set<string>(PUBLIC_METHODS);
    const auth: AuthPolicy = (input) => (publicPaths.has(input.path) ? ANONYMOUS : authenticateAdmin(input, authCfg));
    const grpc = await createServer({
      host: cfg.host ?? DEFAULT_WORKSPACE_HOST,
      port: cfg.port ?? DEFAULT_WORKSPACE_PORT,
      auth: authCfg,
      logger: log,
      services: [service(WorkspaceServiceService, {
        createWorkspace: (req) => workspaces.createWorkspace(req.name),
        createApiUser: (req) => workspaces.createApiUser(req.workspaceId, req.name),
        issuePairingToken: (req) => workspaces.issuePairingToken(req.apiUserId),
        getPublicKeys: (req) => workspaces.getPublicKeys(req.workspaceId),
        completePairing: (req) => workspaces.completePairing(req),
        createTransfer: (req) => originator.createTransfer(req),
        createConfigChange: (req) => originator.createConfigChange(req),
        getTransaction: (req) => originator.getTransaction(req.requestId),
      }, { auth })],
    });
    const resumed = await originator.resume();
    if (resumed > 0) log.info('resumed watching transactions', { count: resumed });
    grpc.setServing();
    log.info(`WorkspaceService on ${grpc.address}`, { intake: cfg.intakeUrl ?? DEFAULT_INTAKE_URL });
    let stopping: Promise<void> | undefined;
    return {
      address: grpc.address,
      port: grpc.port,
      workspaces,
      originator,
      grpc,
      stop() {
        stopping ??= (async () => {
          await grpc.stop(2000);
          await originator.stop();
          workspaces.trust.close();
          await drainNats(nc);
        })();
        return stopping;
      },
    };
  } catch (e) {
    await drainNats(nc);
    throw e;
  }
}
