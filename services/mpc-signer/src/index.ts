/**
 * mpc-signer: the customer's MPC party and the signing coordinator. Holds the customer's shares
 * behind the enclave interface, runs DKG / refresh / presigning / signing with the two cloud
 * parties over NATS, consumes approved requests and publishes signed / failed.
 *
 * Configuration (environment): the platform's NATS_* / LOG_LEVEL / SHUTDOWN_GRACE /
 * OTEL_EXPORTER_OTLP_ENDPOINT; the party's PARTY_ID / PARTY_INDEX / COSIGNER_DATA_DIR /
 * COSIGNER_SEALING_KEY_FILE / COSIGNER_APPROVAL_PUBLIC_KEY_FILE (packages/party env.ts);
 * GRPC_HOST (127.0.0.1) / GRPC_PORT (50053); admin auth by COSIGNER_ADMIN_TOKEN or ADMIN_TOKENS
 * and/or mTLS (GRPC_TLS_CERT_FILE, GRPC_TLS_KEY_FILE, GRPC_TLS_CLIENT_CA_FILE); the pool and
 * signer settings below.
 */
import { JetStreamApiError, jetstream, jetstreamManager, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import {
  adminAuthSchema, createLogger, ensureConsumer, int, list, loadConfig, serverAuth, str, type GrpcServerHandle, type Logger,
} from '@cosigner/platform';
import { startPartyFromEnv, type PartyProcess } from '@cosigner/party';
import { startGrpc } from './grpc.ts';
import { KeyStore, KEYS_BUCKET } from './keys.ts';
import { KeyManager } from './manager.ts';
import { PresignPool } from './pool.ts';
import { PLANS_BUCKET, PLANS_TTL_MS, PlanStore } from './plans.ts';
import { Kvm } from '@nats-io/kv';
import { REQUESTS_STREAM, SIGNER_CONSUMER, Signer, consumeApproved } from './signer.ts';
import { openKv } from '@cosigner/party';
import { startMetrics, type SignerMetrics } from './metrics.ts';
import { loadApprovalKey } from '@cosigner/party';

export { KeyStore, ethereumAddress, derive, KEYS_BUCKET } from './keys.ts';
export { Signer, entrySignature } from './signer.ts';

export const DEFAULT_KEYS_PORT = 50053;

/** The signer's own settings (the party's and the platform's are read where they are used). */
export const signerSchema = {
  ...adminAuthSchema,
  host: str('GRPC_HOST', { default: '127.0.0.1' }),
  port: int('GRPC_PORT', { default: DEFAULT_KEYS_PORT, min: 0, max: 65535 }),
  cosignerAdminTokens: list('COSIGNER_ADMIN_TOKEN', { secret: true }),
  ackWaitMs: int('COSIGNER_SIGNER_ACK_WAIT_MS', { default: 30_000, min: 1000 }),
  poolTarget: int('COSIGNER_POOL_TARGET', { default: 20, min: 0 }),
  poolLowWater: int('COSIGNER_POOL_LOW_WATER', { min: 0 }),
  poolConcurrency: int('COSIGNER_POOL_CONCURRENCY', { default: 1, min: 1, max: 16 }),
  presignBatch: int('COSIGNER_PRESIGN_BATCH', { default: 8, min: 1, max: 64 }),
  signConcurrency: int('COSIGNER_SIGN_CONCURRENCY', { default: 64, min: 1, max: 1024 }),
  refreshIntervalMs: int('COSIGNER_REFRESH_INTERVAL_MS', { default: 0, min: 0 }),
  metricsPort: int('METRICS_PORT', { min: 0, max: 65535 }),
  metricsHost: str('METRICS_HOST', { default: '127.0.0.1' }),
};

export interface MpcSignerHandle {
  party: PartyProcess;
  manager: KeyManager;
  pool: PresignPool;
  signer: Signer;
  grpc: GrpcServerHandle;
  grpcPort: number;
  /** Stop taking approved requests and wait for the ones in flight (each still acks). */
  drain(): Promise<void>;
  stop(): Promise<void>;
}

async function ensureRequestsStream(jsm: JetStreamManager, ackWaitMs: number): Promise<void> {
  try {
    await jsm.streams.info(REQUESTS_STREAM);
  } catch (e) {
    if (!(e instanceof JetStreamApiError)) throw e;
    try {
      await jsm.streams.add({ name: REQUESTS_STREAM, subjects: ['cosigner.requests.>'], storage: StorageType.File, duplicate_window: nanos(120_000) });
    } catch {
      await jsm.streams.info(REQUESTS_STREAM); // created concurrently by another service
    }
  }
  // Created, or converged in place (a changed ack wait): deleting and recreating it would replay
  // every approval in the stream.
  await ensureConsumer(jsm, {
    stream: REQUESTS_STREAM, durable: SIGNER_CONSUMER, filterSubject: 'cosigner.requests.approved.>',
    ackWaitMs, maxDeliver: -1, maxAckPending: 256, deliverPolicy: 'all',
  });
}

export async function startMpcSigner(env: NodeJS.ProcessEnv = process.env, o: { logger?: Logger } = {}): Promise<MpcSignerHandle> {
  const cfg = loadConfig(signerSchema, env);
  const logger = o.logger ?? createLogger({ service: 'mpc-signer' });
  const auth = serverAuth(cfg);
  const tokens = [...(cfg.cosignerAdminTokens ?? []), ...(auth.tokens ?? [])];
  const log = (level: 'info' | 'warn' | 'error', msg: string, f?: Record<string, unknown>) => logger[level](msg, f);
  const party = await startPartyFromEnv({ env, defaults: { partyId: 'customer', index: 1 }, log });
  try {
    const nc = party.nc;
    const js = jetstream(nc);
    await ensureRequestsStream(await jetstreamManager(nc), cfg.ackWaitMs);
    const keys = new KeyStore(await openKv(nc, KEYS_BUCKET));
    // Plans live as long as a request can (finished ones are deleted); the bucket's age limit
    // clears what a crash left behind, and the delete markers.
    const plans = new PlanStore(await new Kvm(js).create(PLANS_BUCKET, { history: 1, ttl: PLANS_TTL_MS }));
    const pool = new PresignPool(party.node, keys, {
      target: cfg.poolTarget,
      lowWater: cfg.poolLowWater ?? Math.floor(cfg.poolTarget / 2),
      concurrency: cfg.poolConcurrency,
      batch: cfg.presignBatch,
      log: (m, f) => log('warn', m, f),
    });
    const manager = new KeyManager(party.node, keys, pool);
    const counters: SignerMetrics = { signed: 0, failed: 0, moves: 0 };
    const signer = new Signer({ node: party.node, keys, pool, plans, js, approvalKey: loadApprovalKey(party.env.approvalPublicKeyFile), log, onSigned: () => { counters.signed++; }, onFailed: () => { counters.failed++; }, onMoved: () => { counters.moves++; } });
    const metrics = cfg.metricsPort !== undefined ? await startMetrics(cfg.metricsPort, cfg.metricsHost, pool, counters) : undefined;
    await pool.start(await plans.presignatures());
    const consumer = await consumeApproved(js, signer, { concurrency: cfg.signConcurrency, log, nc, workingMs: Math.max(200, Math.floor(cfg.ackWaitMs / 3)), logger });
    manager.schedule(cfg.refreshIntervalMs, (m, f) => log('warn', m, f));
    const grpc = await startGrpc(manager, { host: cfg.host, port: cfg.port, auth: { ...auth, tokens }, logger });
    log('info', 'mpc-signer started', { grpcPort: grpc.port, party: party.env.partyId });
    let drained: Promise<void> | undefined;
    const drain = () => (drained ??= (async () => {
      manager.stop();
      pool.stop();
      await consumer.stop();
    })());
    return {
      party, manager, pool, signer, grpc, grpcPort: grpc.port,
      drain,
      async stop() {
        await drain();
        metrics?.close();
        await grpc.stop(1000);
        await party.stop();
      },
    };
  } catch (e) {
    await party.stop();
    throw e;
  }
}
