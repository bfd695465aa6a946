/** Party process configuration from the environment (one place, clear errors). */
import { isAbsolute, join } from 'node:path';
import { PartyError } from './errors.ts';
import { parsePartyPins } from './transport.ts';

export interface PartyEnv {
  natsUrl: string;
  partyId: string;
  index: number;
  dataDir: string;
  sealingKeyFile: string | undefined;
  approvalPublicKeyFile: string | undefined;
  roundTimeoutMs: number | undefined;
  /** Sealed-store garbage collection: every COSIGNER_GC_INTERVAL_MS (0 turns it off), bindings kept COSIGNER_BIND_RETENTION_MS. */
  gcIntervalMs: number | undefined;
  bindRetentionMs: number | undefined;
  /** COSIGNER_PARTY_PINS: every party's Ed25519 identity key (`customer=<hex>,cloud-1=<hex>,...`); empty: TOFU. */
  partyPins: Map<string, Uint8Array>;
  /** TEST ONLY: this party corrupts its outgoing protocol messages. */
  tamper: string;
  /** TEST ONLY: delay each outgoing protocol step (kill -9 windows). */
  testSendDelayMs: number;
}

export function partyEnv(env: NodeJS.ProcessEnv = process.env, defaults: { partyId?: string; index?: number } = {}): PartyEnv {
  const partyId = env.PARTY_ID ?? defaults.partyId;
  if (!partyId || !/^[a-z0-9-]{1,32}$/.test(partyId)) throw new PartyError('ERR_CONFIG', 'PARTY_ID must be set (customer, cloud-1, cloud-2)');
  const index = Number(env.PARTY_INDEX ?? defaults.index);
  if (!Number.isInteger(index) || index < 1 || index > 255) throw new PartyError('ERR_CONFIG', 'PARTY_INDEX must be 1..255');
  const base = env.COSIGNER_DATA_DIR ?? join(process.cwd(), '.data');
  return {
    natsUrl: env.NATS_URL ?? 'nats://127.0.0.1:4222',
    partyId,
    index,
    dataDir: isAbsolute(base) ? base : join(process.cwd(), base),
    sealingKeyFile: env.COSIGNER_SEALING_KEY_FILE,
    approvalPublicKeyFile: env.COSIGNER_APPROVAL_PUBLIC_KEY_FILE,
    roundTimeoutMs: env.COSIGNER_ROUND_TIMEOUT_MS ? Number(env.COSIGNER_ROUND_TIMEOUT_MS) : undefined,
    partyPins: parsePartyPins(env.COSIGNER_PARTY_PINS ?? ''),
    gcIntervalMs: nonNegative(env, 'COSIGNER_GC_INTERVAL_MS'),
    bindRetentionMs: nonNegative(env, 'COSIGNER_BIND_RETENTION_MS'),
    tamper: env.COSIGNER_UNSAFE_TEST_TAMPER ?? '',
    testSendDelayMs: Number(env.COSIGNER_UNSAFE_TEST_SLOW_MS ?? 0),
  };
}

function nonNegative(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 0) throw new PartyError('ERR_CONFIG', `${name} must be a whole number of milliseconds`);
  return v;
}
