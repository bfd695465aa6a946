/** Starting a party process from its environment: NATS, software enclave, approval key, node. */
import type { NatsConnection } from '@nats-io/nats-core';
import { connectNats, loadConfig, natsOptions, platformSchema } from '@cosigner/platform';
import { createTrust } from '@cosigner/trust';
import { loadApprovalKey } from './approval.ts';
import type { Algorithm } from './enclave.ts';
import { partyEnv, type PartyEnv } from './env.ts';
import { PartyNode } from './node.ts';
import { SoftwareEnclaveProvider } from './sealed.ts';
import { schemeFor } from './schemes.ts';
import type { Log } from './transport.ts';
import { primeExtras } from './primes.ts';
import { allowBigintBackend, requireMpcBackend } from './backend.ts';

export interface PartyProcess {
  env: PartyEnv;
  nc: NatsConnection;
  node: PartyNode;
  stop(): Promise<void>;
}

export interface StartPartyOptions {
  env?: NodeJS.ProcessEnv;
  defaults?: { partyId?: string; index?: number };
  keygenExtras?: (a: Algorithm, kind: 'keygen' | 'refresh', self: number) => Promise<Record<string, unknown>>;
  log?: Log;
}

export async function startPartyFromEnv(o: StartPartyOptions = {}): Promise<PartyProcess> {
  const env = partyEnv(o.env ?? process.env, o.defaults ?? {});
  // No secret arithmetic on variable-time BigInt unless explicitly allowed (development).
  requireMpcBackend(allowBigintBackend(o.env ?? process.env), o.log ?? ((level, msg, f) => process.stderr.write(`${JSON.stringify({ level, party: env.partyId, msg, ...f })}\n`)));
  // Configuration errors first (clear startup errors), then the network.
  const provider = SoftwareEnclaveProvider.fromFile(env.sealingKeyFile);
  const approvalKey = loadApprovalKey(env.approvalPublicKeyFile);
  const log: Log = o.log ?? ((level, msg, f) => process.stderr.write(`${JSON.stringify({ level, party: env.partyId, msg, ...f })}\n`));
  if (env.trust.entries.length === 0) log('warn', 'COSIGNER_TRUST is empty: this party will refuse to sign anything (no workspace signature can be verified)');
  if (env.devTofu && env.partyPins.size === 0) log('warn', 'COSIGNER_DEV_TOFU=1: party identities are trusted on first use (local development only; configure COSIGNER_PARTY_PINS elsewhere)');
  const trust = createTrust(env.trust);
  // NATS credentials and TLS the same way as every other service (NATS_CREDS_FILE, NATS_USER /
  // NATS_PASSWORD, NATS_TLS_*); NATS_URL as partyEnv read it.
  const platform = loadConfig(platformSchema, { ...(o.env ?? process.env), NATS_URL: env.natsUrl });
  let nc: NatsConnection;
  try {
    nc = await connectNats({ ...natsOptions(platform, `party-${env.partyId}`), reconnectTimeWaitMs: 500 });
  } catch (e) {
    trust.close();
    throw e;
  }
  try {
    const node = await PartyNode.start({
      nc, partyId: env.partyId, index: env.index, dataDir: env.dataDir, provider, approvalKey, trust, scheme: schemeFor,
      ...(env.roundTimeoutMs ? { roundTimeoutMs: env.roundTimeoutMs } : {}),
      keygenExtras: o.keygenExtras ?? primeExtras(o.env ?? process.env),
      log,
      gc: {
        ...(env.gcIntervalMs !== undefined ? { intervalMs: env.gcIntervalMs } : {}),
        ...(env.bindRetentionMs !== undefined ? { bindRetentionMs: env.bindRetentionMs } : {}),
      },
      partyPins: env.partyPins,
      allowTofu: env.devTofu,
      faults: env.faults,
    });
    return {
      env, nc, node,
      async stop() {
        await node.stop();
        await nc.drain().catch(() => undefined);
        trust.close();
      },
    };
  } catch (e) {
    await nc.close();
    trust.close();
    throw e;
  }
}
