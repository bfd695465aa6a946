/**
 * The pairing service: PairingService over gRPC (platform server: every method needs the admin
 * bearer token or mTLS; health service; traces), the API user registry in JetStream KV, audit
 * records on COSIGNER_AUDIT. `startPairing` is what main.ts and the tests call; it provisions its
 * buckets idempotently.
 */
import { BUCKETS, connectNats, createLogger, createServer, drainNats, openBucket, service, type GrpcServerHandle, type Logger, type NatsConnectOptions, type ServerAuthConfig } from '@cosigner/platform';
import { PairingServiceService } from '@cosigner/proto';
import { createTrust, type Trust, type TrustConfig, type TrustOptions } from '@cosigner/trust';
import { AuditLog } from '@cosigner/audit';
import { loadIdentity } from './identity.ts';
import { TypedKv } from '@cosigner/platform';
import { Registry, apiUserCodec, claimCodec } from './registry.ts';

export const DEFAULT_PAIRING_PORT = 50051;
export const DEFAULT_PAIRING_HOST = '127.0.0.1';
/** Twice the pairing token lifetime. */
export const CLAIMS_TTL_MS = BUCKETS.pairingClaims.ttlMs;

export interface PairingConfig {
  natsUrl: string;
  /** Full connect options (credentials, TLS); `natsUrl` when absent. */
  nats?: NatsConnectOptions;
  /** JetStream replicas of the buckets (3 on a NATS cluster). */
  replicas?: number;
  host?: string;
  /** 0 picks a free port (tests). */
  port?: number;
  adminTokens: string[];
  /** TLS / mTLS for the admin API (deployments). */
  serverTls?: ServerAuthConfig['tls'];
  trust: TrustConfig;
  /** PKCS#8 PEM file of the callback-signing RSA key (its public half is published). */
  callbackKeyFile: string;
  /** Holds the co-signer identity key (unless `identityKeyFile` is given). */
  dataDir: string;
  /** A mounted Ed25519 PKCS#8 identity key (replicas share it). */
  identityKeyFile?: string;
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
  grpc: GrpcServerHandle;
  stop(): Promise<void>;
}

export async function startPairing(cfg: PairingConfig): Promise<PairingHandle> {
  if (cfg.adminTokens.length === 0 && !cfg.serverTls?.requireClientCert) throw new Error('pairing: COSIGNER_ADMIN_TOKEN (or mTLS) is required');
  const log = cfg.log ?? createLogger({ service: 'pairing' });
  const identity = await loadIdentity(cfg.dataDir, cfg.callbackKeyFile, cfg.identityKeyFile);
  const nc = await connectNats(cfg.nats ?? { servers: cfg.natsUrl, name: 'pairing', reconnectTimeWaitMs: 500 });
  let trust: Trust | undefined;
  try {
    const apiUsers = new TypedKv(await openBucket(nc, 'pairing', BUCKETS.apiUsers, cfg.replicas), apiUserCodec);
    // A claim outlives its token (1 h + clock tolerance); after that the token is refused as expired anyway.
    const claims = new TypedKv(await openBucket(nc, 'pairing', BUCKETS.pairingClaims, cfg.replicas), claimCodec);
    const audit = await AuditLog.open(nc, 'pairing', cfg.now);
    trust = createTrust(cfg.trust, { ...(cfg.now ? { now: cfg.now } : {}), ...cfg.trustOptions });
    const registry = new Registry({
      apiUsers, claims, trust, trustConfig: cfg.trust, identity, audit, log,
      ...(cfg.workspaceUrl ? { defaultWorkspaceUrl: cfg.workspaceUrl } : {}),
      ...(cfg.now ? { now: cfg.now } : {}),
    });
    const grpc = await createServer({
      host: cfg.host ?? DEFAULT_PAIRING_HOST,
      port: cfg.port ?? DEFAULT_PAIRING_PORT,
      auth: { tokens: cfg.adminTokens, ...(cfg.serverTls ? { tls: cfg.serverTls } : {}) },
      logger: log,
      services: [service(PairingServiceService, {
        pair: (req) => registry.pair(req.token, req.autoApprove === true),
        unpair: async (req) => ({ apiUser: await registry.unpair(req.apiUserId) }),
        listApiUsers: async (req) => ({ apiUsers: await registry.list(req.workspaceId) }),
        getApiUser: (req) => registry.get(req.apiUserId),
        setCallback: (req) => registry.setCallback(req.apiUserId, req.url, req.publicKeyPem, req.certPem),
        clearCallback: (req) => registry.clearCallback(req.apiUserId, req.autoApprove === true),
        getCosignerInfo: () => registry.info(),
      }, { auth: 'admin' })],
    });
    grpc.setServing();
    log.info(`PairingService on ${grpc.address} as ${identity.cosignerId}`, { trusted: trust.describe() });
    let stopping: Promise<void> | undefined;
    const t = trust;
    return {
      address: grpc.address,
      port: grpc.port,
      cosignerId: identity.cosignerId,
      registry,
      grpc,
      stop() {
        stopping ??= (async () => {
          await grpc.stop(2000);
          registry.close();
          t.close();
          await drainNats(nc);
        })();
        return stopping;
      },
    };
  } catch (e) {
    trust?.close();
    await drainNats(nc);
    throw e;
  }
}
