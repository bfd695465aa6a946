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
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import {
  BUCKETS, adminAuthSchema, createLogger, int, list, loadConfig, openBucket, platformSchema, provisionStreams, serverAuth, str, type GrpcServerHandle, type Logger,
} from '@cosigner/platform';
import { startPartyFromEnv, type PartyProcess } from '@cosigner/party';
import { announceSignerFaults, signerFaults } from './faults.ts';
import { startGrpc } from './grpc.ts';
import { KeyStore } from './keys.ts';
import { KeyManager } from './manager.ts';
import { PresignPool } from './pool.ts';
import { PlanStore } from './plans.ts';
import { Signer, consumeApproved } from './signer.ts';
import { collectSignerMetrics, type SignerMetrics } from './metrics.ts';
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

/**
 * The requests stream as the topology declares it (created when absent, never changed: intake
 * owns it) and the signer's consumer: created, or converged in place (a changed ack wait);
 * deleting and recreating it would replay every approval in the stream.
 */
async function ensureRequestsStream(nc: NatsConnection, ackWaitMs: number, replicas: number): Promise<void> {
  await provisionStreams(nc, 'mpc-signer', { replicas, consumers: { signer: { ackWaitMs } } });
}

export async function startMpcSigner(env: NodeJS.ProcessEnv = process.env, o: { logger?: Logger } = {}): Promise<MpcSignerHandle> {
  const cfg = loadConfig(signerSchema, env);
  const logger = o.logger ?? createLogger({ service: 'mpc-signer' });
  const auth = serverAuth(cfg);
  const tokens = [...(cfg.cosignerAdminTokens ?? []), ...(auth.tokens ?? [])];
  const log = (level: 'info' | 'warn' | 'error', msg: string, f?: Record<string, unknown>) => logger[level](msg, f);
  const faults = signerFaults(env);
  announceSignerFaults(faults, log);
  const party = await startPartyFromEnv({ env, defaults: { partyId: 'customer', index: 1 }, log });
  try {
    const nc = party.nc;
    const js = jetstream(nc);
    const replicas = loadConfig(platformSchema, env).jsReplicas;
    await ensureRequestsStream(nc, cfg.ackWaitMs, replicas);
    const keys = new KeyStore(await openBucket(nc, 'mpc-signer', BUCKETS.keys, replicas));
    // Plans live as long as a request can (finished ones are deleted); the bucket's age limit
    // clears what a crash left behind, and the delete markers.
    const plans = new PlanStore(await openBucket(nc, 'mpc-signer', BUCKETS.plans, replicas));
    const pool = new PresignPool(party.node, keys, {
      target: cfg.poolTarget,
      lowWater: cfg.poolLowWater ?? Math.floor(cfg.poolTarget / 2),
      concurrency: cfg.poolConcurrency,
      batch: cfg.presignBatch,
      log: (m, f) => log('warn', m, f),
    });
    const manager = new KeyManager(party.node, keys, pool);
    const counters: SignerMetrics = { signed: 0, failed: 0, moves: 0 };
    const gate = await openBucket(nc, 'mpc-signer', BUCKETS.signGate, replicas);
    const signer = new Signer({ faults, node: party.node, keys, pool, plans, js, gate, approvalKey: loadApprovalKey(party.env.approvalPublicKeyFile), log, onSigned: () => { counters.signed++; }, onFailed: () => { counters.failed++; }, onMoved: () => { counters.moves++; } });
    const uncollect = collectSignerMetrics(pool, counters);
    await pool.start(await plans.presignatures());
    const consumer = await consumeApproved(js, signer, { concurrency: cfg.signConcurrency, log, nc, workingMs: Math.max(200, Math.floor(cfg.ackWaitMs / 3)), logger });
    manager.schedule(cfg.refreshIntervalMs, (m, f) => log('warn', m, f));
    // A crash between recording a refreshed epoch and committing it leaves old shares on the
    // parties: commit every refreshed key's current epoch again (idempotent), in the background.
    void manager.commitPending((m, f) => log('warn', m, f), true);
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
        uncollect();
        await grpc.stop(1000);
        await party.stop();
      },
    };
  } catch (e) {
    await party.stop();
    throw e;
  }
}
