/**
 * The pairing service: PairingService over gRPC (every method needs the admin bearer token), the
 * API user registry in JetStream KV, audit records on COSIGNER_AUDIT. `startPairing` is what
 * main.ts and the tests call; it provisions its buckets idempotently.
 */
import * as grpc from '@grpc/grpc-js';
import { StorageType, jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { PairingServiceService, type ClearCallbackRequest, type GetApiUserRequest, type ListApiUsersRequest, type PairRequest, type SetCallbackRequest, type UnpairRequest } from '@cosigner/proto';
import { createTrust, type Trust, type TrustConfig, type TrustOptions } from '@cosigner/trust';
import { AuditLog } from './audit.ts';
import { bindServer, shutdownServer, unaryHandlers } from './grpc.ts';
import { loadIdentity } from './identity.ts';
import { TypedKv } from './kv.ts';
import { jsonLogger, type Logger } from './log.ts';
import { API_USERS_BUCKET, PAIRING_CLAIMS_BUCKET, Registry, apiUserCodec, claimCodec } from './registry.ts';

export const DEFAULT_PAIRING_PORT = 50051;

export interface PairingConfig {
  natsUrl: string;
  host?: string;
  /** 0 picks a free port (tests). */
  port?: number;
  adminTokens: string[];
  trust: TrustConfig;
  /** PKCS#8 PEM file of the callback-signing RSA key (its public half is published). */
  callbackKeyFile: string;
  /** Holds the co-signer identity key. */
  dataDir: string;
  /** WorkspaceService for issuers whose trust entry names no platform (env WORKSPACE_URL). */
  workspaceUrl?: string;
  trustOptions?: TrustOptions;
  now?: () => number;
  log?: Logger;
}

export interface PairingHandle {
  address: string;
  port: number;
  cosignerId: string;
  registry: Registry;
  stop(): Promise<void>;
}

export async function startPairing(cfg: PairingConfig): Promise<PairingHandle> {
  if (cfg.adminTokens.length === 0) throw new Error('pairing: COSIGNER_ADMIN_TOKEN is required');
  const log = cfg.log ?? jsonLogger('pairing');
  const identity = await loadIdentity(cfg.dataDir, cfg.callbackKeyFile);
  const nc: NatsConnection = await connect({ servers: cfg.natsUrl, name: 'pairing', maxReconnectAttempts: -1, reconnectTimeWait: 500 });
  let trust: Trust | undefined;
  try {
    const kvm = new Kvm(jetstream(nc));
    const apiUsers = new TypedKv(await kvm.create(API_USERS_BUCKET, { history: 5, storage: StorageType.File }), apiUserCodec);
    const claims = new TypedKv(await kvm.create(PAIRING_CLAIMS_BUCKET, { history: 1, storage: StorageType.File }), claimCodec);
    const audit = await AuditLog.open(nc, 'pairing', cfg.now);
    trust = createTrust(cfg.trust, { ...(cfg.now ? { now: cfg.now } : {}), ...cfg.trustOptions });
    const registry = new Registry({
      apiUsers, claims, trust, trustConfig: cfg.trust, identity, audit, log,
      ...(cfg.workspaceUrl ? { defaultWorkspaceUrl: cfg.workspaceUrl } : {}),
      ...(cfg.now ? { now: cfg.now } : {}),
    });
    const server = new grpc.Server();
    const host = cfg.host ?? '127.0.0.1';
    server.addService(PairingServiceService, unaryHandlers({
      pair: async (c) => registry.pair((c.request as PairRequest).token),
      unpair: async (c) => ({ apiUser: await registry.unpair((c.request as UnpairRequest).apiUserId) }),
      listApiUsers: async (c) => ({ apiUsers: await registry.list((c.request as ListApiUsersRequest).workspaceId) }),
      getApiUser: async (c) => registry.get((c.request as GetApiUserRequest).apiUserId),
      setCallback: async (c) => {
        const r = c.request as SetCallbackRequest;
        return registry.setCallback(r.apiUserId, r.url, r.publicKeyPem, r.certPem);
      },
      clearCallback: async (c) => registry.clearCallback((c.request as ClearCallbackRequest).apiUserId),
      getCosignerInfo: async () => registry.info(),
    }, {
      host, port: cfg.port ?? DEFAULT_PAIRING_PORT, adminTokens: cfg.adminTokens,
      onError: (method, err) => log.error('request failed', { method, err }),
    }));
    const port = await bindServer(server, host, cfg.port ?? DEFAULT_PAIRING_PORT);
    let stopping: Promise<void> | undefined;
    const t = trust;
    return {
      address: `${host}:${port}`,
      port,
      cosignerId: identity.cosignerId,
      registry,
      stop() {
        stopping ??= (async () => {
          await shutdownServer(server);
          registry.close();
          t.close();
          await nc.drain().catch(() => undefined);
        })();
        return stopping;
      },
    };
  } catch (e) {
    trust?.close();
    await nc.close().catch(() => undefined);
    throw e;
  }
}
