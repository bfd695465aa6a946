/**
 * The simulator's durable state in JetStream KV (file storage): workspaces, API users and
 * transactions survive a restart of the simulator and of nats-server.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import { SIM_BUCKETS, ensureKv } from '@cosigner/platform';
import { Transaction, Workspace } from '@cosigner/proto';
import type { ApiUserState } from '@cosigner/proto';
import { TypedKv, jsonCodec, protoCodec } from '@cosigner/platform';

// Declared with the rest of the bus (the platform's topology), which grants them to the simulator only.
export const [WORKSPACES_BUCKET, API_USERS_BUCKET, TRANSACTIONS_BUCKET] = SIM_BUCKETS;

/** The simulator's record of an API user (more than the proto shows: which token is live, who paired). */
export interface ApiUserRecord {
  apiUserId: string;
  workspaceId: string;
  name: string;
  state: ApiUserState;
  createdAtMs: number;
  /** jti of the one pairing token that may still be spent ('' when none). */
  tokenJti: string;
  tokenExpiresAtMs: number;
  /** Set once paired: who spent which token. */
  spentJti: string;
  cosignerId: string;
  cosignerIdentityKeyHex: string;
  cosignerCallbackKeyPem: string;
  pairedAtMs: number;
}

export interface SimState {
  workspaces: TypedKv<Workspace>;
  apiUsers: TypedKv<ApiUserRecord>;
  transactions: TypedKv<Transaction>;
}

export async function openState(nc: NatsConnection, prefix = '', replicas?: number): Promise<SimState> {
  const open = (bucket: string) => ensureKv(nc, { bucket: `${prefix}${bucket}`, description: 'workspace simulator state' }, replicas);
  return {
    workspaces: new TypedKv(await open(WORKSPACES_BUCKET), protoCodec(Workspace)),
    apiUsers: new TypedKv(await open(API_USERS_BUCKET), jsonCodec<ApiUserRecord>()),
    transactions: new TypedKv(await open(TRANSACTIONS_BUCKET), protoCodec(Transaction)),
  };
}
