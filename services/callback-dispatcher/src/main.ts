/**
 * callback-dispatcher process entry. Environment: NATS_URL and the platform's NATS_* credentials/TLS
 * (NATS_NKEY_SEED_FILE, NATS_INBOX_PREFIX, NATS_TLS_CA_FILE, ...), COSIGNER_CALLBACK_KEY_FILE,
 * COSIGNER_APPROVAL_KEY_FILE, DISPATCHER_IN_FLIGHT (16), CALLBACK_DEADLINE_MS (30000),
 * CALLBACK_RETRY_INTERVAL_MS (180000), CALLBACK_MAX_RETRIES (20), DISPATCHER_ACK_WAIT_MS,
 * DISPATCHER_INSTANCE_ID (or INSTANCE_ID; default host/pid), COSIGNER_CALLBACK_ALLOW (callback egress
 * allow-list: CIDRs, addresses, `loopback`, `private`; empty = public addresses only),
 * COSIGNER_OWN_LISTENERS (`host:port` / `*:port` never called back), COSIGNER_TRUST (the trusted
 * workspaces: every request's origination is verified against them).
 */
import { createLogger, loadConfig, natsOptions, platformSchema, runService } from '@cosigner/platform';
import { parseTrustConfig } from '@cosigner/trust';
import { splitList } from './egress.ts';
import { startDispatcher } from './server.ts';

const env = process.env;
function num(name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer`);
  return n;
}
const log = createLogger({ service: 'callback-dispatcher' });
// NATS settings through the platform's validated loader (credentials, TLS, replicas).
const platform = loadConfig(platformSchema, env);
const opt = {
  inFlight: num('DISPATCHER_IN_FLIGHT'),
  deadlineMs: num('CALLBACK_DEADLINE_MS'),
  retryIntervalMs: num('CALLBACK_RETRY_INTERVAL_MS'),
  maxRetries: num('CALLBACK_MAX_RETRIES'),
  ackWaitMs: num('DISPATCHER_ACK_WAIT_MS'),
};

runService({
  name: 'callback-dispatcher',
  logger: log,
  start: async () => {
    const h = await startDispatcher({
      natsUrl: platform.natsUrl.join(','),
      nats: natsOptions(platform, 'callback-dispatcher'),
      replicas: platform.jsReplicas,
      trust: parseTrustConfig(env.COSIGNER_TRUST ?? ''),
      ...(env.COSIGNER_CALLBACK_KEY_FILE ? { callbackKeyFile: env.COSIGNER_CALLBACK_KEY_FILE } : {}),
      ...(env.COSIGNER_APPROVAL_KEY_FILE ? { approvalKeyFile: env.COSIGNER_APPROVAL_KEY_FILE } : {}),
      ...((env.DISPATCHER_INSTANCE_ID ?? env.INSTANCE_ID) ? { instanceId: (env.DISPATCHER_INSTANCE_ID ?? env.INSTANCE_ID)! } : {}),
      callbackAllow: splitList(env.COSIGNER_CALLBACK_ALLOW),
      ownListeners: splitList(env.COSIGNER_OWN_LISTENERS),
      ...Object.fromEntries(Object.entries(opt).filter(([, v]) => v !== undefined)),
      log,
    });
    log.info('dispatching callbacks', { instance: h.instanceId });
    return { drain: () => h.consumer.stop(), stop: () => h.stop() };
  },
});
