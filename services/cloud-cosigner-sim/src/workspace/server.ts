/**
 * The workspace simulator as a service: WorkspaceService over gRPC, state in JetStream KV, keys in
 * the data dir. `startWorkspace` is what main.ts and the tests call.
 */
import * as grpc from '@grpc/grpc-js';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { WorkspaceServiceService, type CompletePairingRequest, type CreateApiUserRequest, type CreateConfigChangeRequest, type CreateTransferRequest, type CreateWorkspaceRequest, type GetPublicKeysRequest, type GetTransactionRequest, type IssuePairingTokenRequest } from '@cosigner/proto';
import { WorkspaceKeyStore } from './keys.ts';
import { bindServer, shutdownServer, unaryHandlers } from './grpc.ts';
import { jsonLogger, type Logger } from './log.ts';
import { Originator } from './origination.ts';
import { openState } from './state.ts';
import { Workspaces, defaultClock, type Clock } from './workspaces.ts';

export const DEFAULT_WORKSPACE_PORT = 50054;
export const DEFAULT_INTAKE_URL = '127.0.0.1:50052';

export interface WorkspaceConfig {
  natsUrl: string;
  host?: string;
  /** 0 picks a free port (tests). */
  port?: number;
  adminTokens: string[];
  /** Where workspace signing keys live. */
  dataDir: string;
  intakeUrl?: string;
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
  stop(): Promise<void>;
}

/** Methods anyone may call: public keys are public, and a pairing token authenticates its own completion. */
export const PUBLIC_METHODS = ['getPublicKeys', 'completePairing'] as const;

export async function startWorkspace(cfg: WorkspaceConfig): Promise<WorkspaceHandle> {
  if (cfg.adminTokens.length === 0) throw new Error('workspace: COSIGNER_ADMIN_TOKEN is required');
  const log = cfg.log ?? jsonLogger('workspace-sim');
  const clock = cfg.clock ?? defaultClock;
  const nc: NatsConnection = await connect({ servers: cfg.natsUrl, name: 'workspace-sim', maxReconnectAttempts: -1, reconnectTimeWait: 500 });
  try {
    const state = await openState(nc, cfg.bucketPrefix ?? '');
    const workspaces = new Workspaces(state, new WorkspaceKeyStore(cfg.dataDir), clock);
    const originator = new Originator({
      state, workspaces, clock, log,
      intakeUrl: cfg.intakeUrl ?? DEFAULT_INTAKE_URL,
      intakeToken: cfg.adminTokens[0] ?? '',
    });
    const server = new grpc.Server();
    server.addService(WorkspaceServiceService, unaryHandlers({
      createWorkspace: async (c) => workspaces.createWorkspace((c.request as CreateWorkspaceRequest).name),
      createApiUser: async (c) => {
        const r = c.request as CreateApiUserRequest;
        return workspaces.createApiUser(r.workspaceId, r.name);
      },
      issuePairingToken: async (c) => workspaces.issuePairingToken((c.request as IssuePairingTokenRequest).apiUserId),
      getPublicKeys: async (c) => workspaces.getPublicKeys((c.request as GetPublicKeysRequest).workspaceId),
      completePairing: async (c) => workspaces.completePairing(c.request as CompletePairingRequest),
      createTransfer: async (c) => originator.createTransfer(c.request as CreateTransferRequest),
      createConfigChange: async (c) => originator.createConfigChange(c.request as CreateConfigChangeRequest),
      getTransaction: async (c) => originator.getTransaction((c.request as GetTransactionRequest).requestId),
    }, {
      host: cfg.host ?? '127.0.0.1',
      port: cfg.port ?? DEFAULT_WORKSPACE_PORT,
      adminTokens: cfg.adminTokens,
      publicMethods: PUBLIC_METHODS,
      onError: (method, err) => log.error('request failed', { method, err }),
    }));
    const host = cfg.host ?? '127.0.0.1';
    const port = await bindServer(server, host, cfg.port ?? DEFAULT_WORKSPACE_PORT);
    const resumed = await originator.resume();
    if (resumed > 0) log.info('resumed watching transactions', { count: resumed });
    let stopping: Promise<void> | undefined;
    return {
      address: `${host}:${port}`,
      port,
      workspaces,
      originator,
      stop() {
        stopping ??= (async () => {
          await shutdownServer(server);
          await originator.stop();
          workspaces.trust.close();
          await nc.drain().catch(() => undefined);
        })();
        return stopping;
      },
    };
  } catch (e) {
    await nc.close().catch(() => undefined);
    throw e;
  }
}
