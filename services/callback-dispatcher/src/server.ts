/**
 * callback-dispatcher: a durable JetStream consumer on `cosigner.requests.received.>` shared by
 * every instance (any number may run; JetStream hands each message to one of them at a time),
 * with a bounded number of callbacks in flight per instance. `startDispatcher` is what main.ts and
 * the tests call.
 */
import { createPrivateKey, randomUUID, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import {
  BUCKETS, CONSUMERS, RetryLater, connectNats, createLogger, defaultNakDelay, drainNats, openBucket, provisionStreams, startConsumer,
  type ConsumerHandle, type Logger, type NatsConnectOptions,
} from '@cosigner/platform';
import { AuditLog } from '@cosigner/audit';
import { EgressGuard } from './egress.ts';
import { createTrust, type Trust, type TrustConfig } from '@cosigner/trust';
import { DEFAULT_CALLBACK_DEADLINE_MS, Dispatcher, REQUESTS_STREAM } from './dispatcher.ts';

export const DISPATCHER_CONSUMER = CONSUMERS.dispatcher.durable;
export const DISPATCH_BUCKET = BUCKETS.dispatch.bucket;
export const API_USERS_BUCKET = BUCKETS.apiUsers.bucket;
export const REQUESTS_BUCKET = BUCKETS.requests.bucket;
export const DEFAULT_IN_FLIGHT = 16;
/** Ack wait beyond the callback deadline (working() is also sent while a callback runs). */
export const ACK_WAIT_MARGIN_MS = 30_000;

export interface DispatcherConfig {
  natsUrl: string;
  /** Full NATS connect options (credentials, TLS, inbox prefix: the platform's `natsOptions`); else `natsUrl`. */
  nats?: NatsConnectOptions;
  replicas?: number;
  /** PKCS#8 PEM of the callback-signing RSA key (or its file: COSIGNER_CALLBACK_KEY_FILE). */
  callbackKeyPem?: string;
  callbackKeyFile?: string;
  /** PKCS#8 PEM of the Ed25519 approval key (or its file: COSIGNER_APPROVAL_KEY_FILE). */
  approvalKeyPem?: string;
  approvalKeyFile?: string;
  instanceId?: string;
  /**
   * The trusted workspaces (COSIGNER_TRUST, parsed), or a verifier built from them: every
   * `received` must carry a submission a trusted workspace signed. Empty: every request fails.
   */
  trust: TrustConfig | Trust;
  /** Callbacks in flight per instance. */
  inFlight?: number;
  deadlineMs?: number;
  retryIntervalMs?: number;
  maxRetries?: number;
  configRetryMs?: number;
  /**
   * Callback egress allow-list (COSIGNER_CALLBACK_ALLOW): CIDRs, addresses, `loopback`, `private`.
   * Empty (the default): only public addresses are called.
   */
  callbackAllow?: string[];
  /** The co-signer's own listeners (COSIGNER_OWN_LISTENERS, `host:port` / `*:port`); the NATS address is always added. */
  ownListeners?: string[];
  /** Consumer ack wait; default deadline + 30 s. Shared by every instance (last writer wins). */
  ackWaitMs?: number;
  now?: () => number;
  log?: Logger;
}

export interface DispatcherHandle {
  instanceId: string;
  dispatcher: Dispatcher;
  consumer: ConsumerHandle;
  nc: NatsConnection;
  stop(): Promise<void>;
}

function loadKey(pem: string | undefined, file: string | undefined, what: string, type: string): KeyObject {
  const text = pem ?? (file ? readFileSync(file, 'utf8') : undefined);
  if (!text) throw new Error(`${what} is required`);
  const k = createPrivateKey(text);
  if (k.asymmetricKeyType !== type) throw new Error(`${what} must be an ${type} private key`);
  return k;
}

/** `host:port` of every server in a NATS URL list: the bus is one of the co-signer's own listeners. */
export function natsListeners(urls: string): string[] {
  const out: string[] = [];
  for (const u of urls.split(',')) {
    try {
      const p = new URL(u.includes('://') ? u.trim() : `nats://${u.trim()}`);
      out.push(`${p.hostname.includes(':') && !p.hostname.startsWith('[') ? `[${p.hostname}]` : p.hostname}:${p.port || '4222'}`);
    } catch {
      // connectNats refuses a malformed URL itself.
    }
  }
  return out;
}

export async function startDispatcher(cfg: DispatcherConfig): Promise<DispatcherHandle> {
  const instanceId = cfg.instanceId ?? `callback-dispatcher/${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  const log = cfg.log ?? createLogger({ service: 'callback-dispatcher', fields: { instance: instanceId } });
  const callbackKey = loadKey(cfg.callbackKeyPem, cfg.callbackKeyFile, 'COSIGNER_CALLBACK_KEY_FILE', 'rsa');
  const approvalKey = loadKey(cfg.approvalKeyPem, cfg.approvalKeyFile, 'COSIGNER_APPROVAL_KEY_FILE', 'ed25519');
  const deadlineMs = cfg.deadlineMs ?? DEFAULT_CALLBACK_DEADLINE_MS;
  const guard = new EgressGuard({ allow: cfg.callbackAllow ?? [], ownListeners: [...(cfg.ownListeners ?? []), ...natsListeners(cfg.natsUrl)] });
  await guard.resolveOwn();
  if ((cfg.callbackAllow ?? []).length > 0) log.warn('callbacks to non-public addresses allowed', { allow: cfg.callbackAllow });
  const ownTrust = 'entries' in cfg.trust ? createTrust(cfg.trust) : undefined;
  const trust: Trust = ownTrust ?? (cfg.trust as Trust);
  if (ownTrust && (cfg.trust as TrustConfig).entries.length === 0) log.warn('COSIGNER_TRUST is empty: every request will fail (no workspace signature can be verified)');
  // noAsyncTraces: no Error (stack capture) per request-reply; it dominated the profile.
  const nc = await connectNats(cfg.nats ?? { servers: cfg.natsUrl, name: 'callback-dispatcher' });
  try {
    const js = jetstream(nc);
    // What the dispatcher uses, as the topology declares it; its consumer's ack wait follows the deadline.
    await provisionStreams(nc, 'callback-dispatcher', {
      ...(cfg.replicas ? { replicas: cfg.replicas } : {}),
      consumers: { dispatcher: { ackWaitMs: cfg.ackWaitMs ?? deadlineMs + ACK_WAIT_MARGIN_MS } },
    });
    const dispatch = await openBucket(nc, 'callback-dispatcher', BUCKETS.dispatch, cfg.replicas);
    const apiUsers = await openBucket(nc, 'callback-dispatcher', BUCKETS.apiUsers, cfg.replicas);
    const requests = await openBucket(nc, 'callback-dispatcher', BUCKETS.requests, cfg.replicas);
    const audit = await AuditLog.open(nc, instanceId, cfg.now);
    const dispatcher = new Dispatcher({
      js, apiUsers, requests, dispatch, audit, callbackKey, approvalKey, guard, trust, instanceId, log, deadlineMs,
      ...(cfg.now ? { now: cfg.now } : {}),
      ...(cfg.retryIntervalMs !== undefined ? { retryIntervalMs: cfg.retryIntervalMs } : {}),
      ...(cfg.maxRetries !== undefined ? { maxRetries: cfg.maxRetries } : {}),
      ...(cfg.configRetryMs !== undefined ? { configRetryMs: cfg.configRetryMs } : {}),
    });
    await dispatcher.watchApiUsers();
    const consumer = await startConsumer(js, {
      stream: REQUESTS_STREAM,
      consumer: DISPATCHER_CONSUMER,
      concurrency: cfg.inFlight ?? DEFAULT_IN_FLIGHT,
      logger: log,
      handler: (m) => dispatcher.handle(m),
      nakDelayMs: (n, err) => (err instanceof RetryLater && err.delayMs !== undefined ? err.delayMs : defaultNakDelay(n)),
    });
    let stopping: Promise<void> | undefined;
    return {
      instanceId, dispatcher, consumer, nc,
      stop() {
        stopping ??= (async () => {
          await consumer.stop();
          dispatcher.stopWatch();
          ownTrust?.close();
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
