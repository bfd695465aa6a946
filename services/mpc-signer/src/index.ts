/**
 * mpc-signer: the customer's MPC party and the signing coordinator. Holds the customer's shares
 * behind the enclave interface, runs DKG / refresh / presigning / signing with the two cloud
 * parties over NATS, consumes approved requests and publishes signed / failed.
 */
import { AckPolicy, DeliverPolicy, JetStreamApiError, jetstream, jetstreamManager, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import type * as grpc from '@grpc/grpc-js';
import { startPartyFromEnv, type PartyProcess } from '@cosigner/party';
import { startGrpc, keyService } from './grpc.ts';
import { KeyStore, KEYS_BUCKET } from './keys.ts';
import { KeyManager } from './manager.ts';
import { PresignPool } from './pool.ts';
import { REQUESTS_STREAM, SIGNER_CONSUMER, Signer, consumeApproved } from './signer.ts';
import { openKv } from '@cosigner/party';
import { startMetrics, type SignerMetrics } from './metrics.ts';
import { loadApprovalKey } from '@cosigner/party';

export { KeyStore, ethereumAddress, derive, KEYS_BUCKET } from './keys.ts';
export { Signer, entrySignature } from './signer.ts';

export interface MpcSignerHandle {
  party: PartyProcess;
  manager: KeyManager;
  pool: PresignPool;
  signer: Signer;
  grpcPort: number;
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
  try {
    await jsm.consumers.info(REQUESTS_STREAM, SIGNER_CONSUMER);
  } catch {
    await jsm.consumers.add(REQUESTS_STREAM, {
      durable_name: SIGNER_CONSUMER, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All,
      filter_subject: 'cosigner.requests.approved.>', ack_wait: nanos(ackWaitMs), max_deliver: -1, max_ack_pending: 256,
    });
  }
}

export async function startMpcSigner(env: NodeJS.ProcessEnv = process.env): Promise<MpcSignerHandle> {
  const tokens = (env.COSIGNER_ADMIN_TOKEN ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const party = await startPartyFromEnv({ env, defaults: { partyId: 'customer', index: 1 } });
  const log = (level: 'info' | 'warn' | 'error', msg: string, f?: Record<string, unknown>) =>
    process.stderr.write(`${JSON.stringify({ level, service: 'mpc-signer', msg, ...f })}\n`);
  try {
    const nc = party.nc;
    const js = jetstream(nc);
    await ensureRequestsStream(await jetstreamManager(nc), Number(env.COSIGNER_SIGNER_ACK_WAIT_MS ?? 30_000));
    const keys = new KeyStore(await openKv(nc, KEYS_BUCKET));
    const target = Number(env.COSIGNER_POOL_TARGET ?? 20);
    const pool = new PresignPool(party.node, keys, {
      target,
      lowWater: Number(env.COSIGNER_POOL_LOW_WATER ?? Math.floor(target / 2)),
      concurrency: Number(env.COSIGNER_POOL_CONCURRENCY ?? 1),
      batch: Number(env.COSIGNER_PRESIGN_BATCH ?? 8),
      log: (m, f) => log('warn', m, f),
    });
    const manager = new KeyManager(party.node, keys, pool);
    const counters: SignerMetrics = { signed: 0, failed: 0 };
    const signer = new Signer({ node: party.node, keys, pool, js, approvalKey: loadApprovalKey(party.env.approvalPublicKeyFile), log, onSigned: () => { counters.signed++; }, onFailed: () => { counters.failed++; } });
    const metrics = env.METRICS_PORT ? await startMetrics(Number(env.METRICS_PORT), env.METRICS_HOST ?? '127.0.0.1', pool, counters) : undefined;
    await pool.start();
    const consumer = await consumeApproved(js, signer, { concurrency: Number(env.COSIGNER_SIGN_CONCURRENCY ?? 64), log, workingMs: Math.max(200, Math.floor(Number(env.COSIGNER_SIGNER_ACK_WAIT_MS ?? 30_000) / 3)) });
    manager.schedule(Number(env.COSIGNER_REFRESH_INTERVAL_MS ?? 0), (m, f) => log('warn', m, f));
    const { server, port } = await startGrpc(keyService(manager, tokens), env.GRPC_HOST ?? '127.0.0.1', Number(env.GRPC_PORT ?? 50053));
    log('info', 'mpc-signer ready', { grpcPort: port, party: party.env.partyId });
    return {
      party, manager, pool, signer, grpcPort: port,
      async stop() {
        manager.stop();
        pool.stop();
        metrics?.close();
        await new Promise<void>((r) => (server as grpc.Server).tryShutdown(() => r()));
        await consumer.stop();
        await party.stop();
      },
    };
  } catch (e) {
    await party.stop();
    throw e;
  }
}
