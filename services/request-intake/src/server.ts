/**
 * request-intake: RequestIntakeService over gRPC, the status projector and the expiry sweeper.
 * `startIntake` is what main.ts and the tests call; it provisions its stream, consumer and
 * buckets idempotently, so any number of instances may start at once.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { RequestIntakeServiceService } from '@cosigner/proto';
import {
  ANONYMOUS, BUCKETS, authenticateAdmin, connectNats, createLogger, createServer, drainNats, openBucket, provisionStreams, service,
  type GrpcServerHandle, type Logger, type NatsConnectOptions,
} from '@cosigner/platform';
import { createTrust, type Trust, type TrustConfig, type TrustOptions } from '@cosigner/trust';
import { Intake } from './intake.ts';
import { DEFAULT_NATS_MAX_PAYLOAD, requestBudget } from './validate.ts';
import { Sweeper, startProjector } from './projector.ts';

export const DEFAULT_INTAKE_PORT = 50052;
export const API_USERS_BUCKET = BUCKETS.apiUsers.bucket;
export const KEYS_BUCKET = BUCKETS.keys.bucket;
export const NONCES_BUCKET = BUCKETS.intakeNonces.bucket;
/** Nonces are kept well past the longest token life (30 s) plus the verifier's clock tolerance. */
export const NONCE_TTL_MS = BUCKETS.intakeNonces.ttlMs;

export interface IntakeConfig {
  natsUrl: string;
  /** Full NATS connect options (credentials, TLS, inbox prefix: the platform's `natsOptions`); else `natsUrl`. */
  nats?: NatsConnectOptions;
  replicas?: number;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Bearer tokens for Get / Watch (the operator). */
  adminTokens: string[];
  trust: TrustConfig;
  trustOptions?: TrustOptions;
  now?: () => number;
  log?: Logger;
  sweepIntervalMs?: number;
  projectorConcurrency?: number;
}

export interface IntakeHandle {
  address: string;
  port: number;
  intake: Intake;
  nc: NatsConnection;
  sweeper: Sweeper;
  grpc: GrpcServerHandle;
  stop(): Promise<void>;
}

const UNAUTHENTICATED_METHODS = new Set(['SubmitTransaction', 'SubmitConfigChange', 'CancelRequest']);

export async function startIntake(cfg: IntakeConfig): Promise<IntakeHandle> {
  const log = cfg.log ?? createLogger({ service: 'request-intake' });
  const now = cfg.now ?? Date.now;
  // noAsyncTraces: no Error (stack capture) per request-reply; it dominated the profile.
  const nc = await connectNats(cfg.nats ?? { servers: cfg.natsUrl, name: 'request-intake' });
  let trust: Trust | undefined;
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    // What intake uses, as the topology declares it (the stream and its projector are intake's).
    await provisionStreams(nc, 'request-intake', { ...(cfg.replicas ? { replicas: cfg.replicas } : {}) });
    const requests = await openBucket(nc, 'request-intake', BUCKETS.requests, cfg.replicas);
    const nonces = await openBucket(nc, 'request-intake', BUCKETS.intakeNonces, cfg.replicas);
    // Owned by pairing and mpc-signer: opened as they are (created empty if we come first).
    const apiUsers = await openBucket(nc, 'request-intake', BUCKETS.apiUsers, cfg.replicas);
    const keys = await openBucket(nc, 'request-intake', BUCKETS.keys, cfg.replicas);
    trust = createTrust(cfg.trust, { ...(cfg.now ? { now: cfg.now } : {}), ...cfg.trustOptions });
    // One size budget from the server's real max payload: every event the request produces fits.
    const maxRequestBytes = requestBudget(nc.info?.max_payload ?? DEFAULT_NATS_MAX_PAYLOAD);
    const gate = await openBucket(nc, 'request-intake', BUCKETS.signGate, cfg.replicas);
    const intake = new Intake({ js, jsm, trust, requests, apiUsers, keys, nonces, now, log, maxRequestBytes, gate });
    const sweeper = new Sweeper({ js, requests, log, now, ...(cfg.sweepIntervalMs ? { intervalMs: cfg.sweepIntervalMs } : {}) });
    const projector = await startProjector({ js, requests, log, onState: (s) => sweeper.track(s), ...(cfg.projectorConcurrency ? { concurrency: cfg.projectorConcurrency } : {}) });
    await sweeper.start();
    const authConfig = { tokens: cfg.adminTokens };
    const grpc = await createServer({
      port: cfg.port ?? DEFAULT_INTAKE_PORT,
      ...(cfg.host ? { host: cfg.host } : {}),
      auth: authConfig,
      logger: log,
      services: [service(RequestIntakeServiceService, {
        submitTransaction: async (req) => intake.submitTransaction(req.request, req.authorization),
        submitConfigChange: async (req) => intake.submitConfigChange(req.request, req.authorization),
        getRequest: async (req) => intake.get(req.requestId),
        watchRequest: (req, ctx) => intake.watch(req.requestId, ctx.signal),
        cancelRequest: async (req) => intake.cancel(req.request, req.authorization),
      }, {
        // Submissions and cancels carry the workspace's JWT in the body; reads need the admin token.
        auth: (input) => {
          const method = input.path.slice(input.path.lastIndexOf('/') + 1);
          return UNAUTHENTICATED_METHODS.has(method) ? ANONYMOUS : authenticateAdmin(input, authConfig);
        },
      })],
    });
    grpc.setServing();
    let stopping: Promise<void> | undefined;
    const t = trust;
    return {
      address: grpc.address, port: grpc.port, intake, nc, sweeper, grpc,
      stop() {
        stopping ??= (async () => {
          await grpc.drain(2000);
          await grpc.stop(1000);
          await sweeper.stop();
          await projector.stop();
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
