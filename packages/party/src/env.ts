/** Party process configuration from the environment (one place, clear errors). */
import { isAbsolute, join } from 'node:path';
import { PartyError } from './errors.ts';
import { parseTrustConfig, TrustError, type TrustConfig } from '@cosigner/trust';
import { partyFaults, type PartyFaults } from './faults.ts';
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
  /**
   * COSIGNER_DEV_TOFU=1: local development only: without pins, peers' identities are pinned on
   * first sight. Otherwise a party refuses to start without COSIGNER_PARTY_PINS.
   */
  devTofu: boolean;
  /**
   * COSIGNER_TRUST: the workspaces this party trusts (the same format as intake's). Origination
   * of every request is verified against them before this party contributes to a signature.
   */
  trust: TrustConfig;
  /** TEST ONLY: fault injection (faults.ts), off unless a COSIGNER_UNSAFE_TEST_* setting is set. */
  faults: PartyFaults;
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
    devTofu: flag(env, 'COSIGNER_DEV_TOFU'),
    trust: trustOf(env.COSIGNER_TRUST ?? ''),
    gcIntervalMs: nonNegative(env, 'COSIGNER_GC_INTERVAL_MS'),
    bindRetentionMs: nonNegative(env, 'COSIGNER_BIND_RETENTION_MS'),
    faults: partyFaults(env),
  };
}

function nonNegative(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 0) throw new PartyError('ERR_CONFIG', `${name} must be a whole number of milliseconds`);
  return v;
}

function flag(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = (env[name] ?? '').trim();
  if (raw === '' || raw === '0' || raw === 'false') return false;
  if (raw === '1' || raw === 'true') return true;
  throw new PartyError('ERR_CONFIG', `${name} must be 1 or 0`);
}

function trustOf(raw: string): TrustConfig {
  try {
    return parseTrustConfig(raw);
  } catch (e) {
    throw new PartyError('ERR_CONFIG', e instanceof TrustError ? e.message : 'COSIGNER_TRUST is invalid', { cause: e });
  }
}
