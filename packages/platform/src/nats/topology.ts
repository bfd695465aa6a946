/**
 * The bus, declared once: every JetStream stream, durable consumer, KV bucket, core subject and
 * message-id convention of the co-signer, and which service may do what with each. Services
 * provision and name things from here (`provisionService`, `STREAMS`, `BUCKETS`, `requestSubject`,
 * ...), and the NATS authorization (`auth.ts`: one user per service with publish/subscribe
 * allow-lists) is generated from the same table, so a resource a service uses and the permission
 * to use it cannot drift apart.
 *
 * Ownership: a resource's owner provisions it and converges its configuration (stream UPDATE);
 * every other user may only create it when absent with the declared configuration (JetStream's
 * CREATE never changes an existing stream) and read or write what its grant says.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { ensureConsumer, ensureKv, ensureStream, openStream, type ConsumerSpec, type KvSpec, type StreamSpec } from './provision.ts';

/** Every NATS user of the system: one per service (a party is its own service), plus the CLI. */
export const SERVICES = ['pairing', 'request-intake', 'callback-dispatcher', 'mpc-signer', 'cloud-1', 'cloud-2', 'workspace-sim', 'cli'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** The MPC parties and the service (NATS user) each runs in. */
export const PARTY_SERVICE = { customer: 'mpc-signer', 'cloud-1': 'cloud-1', 'cloud-2': 'cloud-2' } as const satisfies Record<string, ServiceName>;
export type PartyName = keyof typeof PARTY_SERVICE;
export const PARTY_NAMES = Object.keys(PARTY_SERVICE) as PartyName[];

// ---- Streams and their subjects -------------------------------------------------------------

/** Request lifecycle event kinds, in order (events.proto); one subject per kind and request. */
export const REQUEST_EVENT_KINDS = ['received', 'approved', 'rejected', 'ignored', 'signed', 'failed'] as const;
export type RequestEventKind = (typeof REQUEST_EVENT_KINDS)[number];

export const REQUESTS_SUBJECT_PREFIX = 'cosigner.requests';
/** `cosigner.requests.<kind>.<requestId>`. */
export function requestSubject(kind: RequestEventKind, requestId: string): string {
  return `${REQUESTS_SUBJECT_PREFIX}.${kind}.${requestId}`;
}
/** Every request of one kind: `cosigner.requests.<kind>.>`. */
export function requestKindFilter(kind: RequestEventKind): string {
  return `${REQUESTS_SUBJECT_PREFIX}.${kind}.>`;
}
/**
 * `Nats-Msg-Id` of a lifecycle event: `<requestId>:<kind>`. One event of each kind per request:
 * JetStream absorbs a repeat inside the stream's duplicate window (a publisher's retry after a
 * lost ack, two dispatcher instances racing).
 */
export function requestMsgId(kind: RequestEventKind, requestId: string): string {
  return `${requestId}:${kind}`;
}

export const AUDIT_SUBJECT = 'cosigner.audit';
/** `Nats-Msg-Id` of an audit record: its chain sequence (two writers racing for one seq: one wins). */
export function auditMsgId(seq: number | bigint): string {
  return `audit-${seq}`;
}

export const STREAMS = {
  requests: {
    name: 'COSIGNER_REQUESTS', subjects: [`${REQUESTS_SUBJECT_PREFIX}.>`], duplicateWindowMs: 120_000,
    description: 'request lifecycle events (events.proto)',
  },
  audit: {
    name: 'COSIGNER_AUDIT', subjects: [AUDIT_SUBJECT], duplicateWindowMs: 120_000,
    description: 'hash-chained audit records (audit.proto)',
    // The trail is append-only on the server too: no single-message delete, no purge.
    denyDelete: true, denyPurge: true,
  },
} as const satisfies Record<string, StreamSpec>;
export type StreamKey = keyof typeof STREAMS;

// ---- Durable consumers ----------------------------------------------------------------------

export const CONSUMERS = {
  /** intake's status projector: every lifecycle event into the requests bucket. */
  projector: { stream: STREAMS.requests.name, durable: 'intake-projector', filterSubject: `${REQUESTS_SUBJECT_PREFIX}.>`, ackWaitMs: 30_000, maxDeliver: -1, maxAckPending: 10_000 },
  /** The dispatchers' shared consumer of received requests (ack wait set per deployment). */
  dispatcher: { stream: STREAMS.requests.name, durable: 'callback-dispatcher', filterSubject: requestKindFilter('received'), maxDeliver: -1, maxAckPending: 20_000 },
  /** The signer's consumer of approved requests (ack wait set per deployment). */
  signer: { stream: STREAMS.requests.name, durable: 'mpc-signer', filterSubject: requestKindFilter('approved'), maxDeliver: -1, maxAckPending: 256, deliverPolicy: 'all' },
} as const satisfies Record<string, ConsumerSpec>;
export type ConsumerKey = keyof typeof CONSUMERS;

// ---- KV buckets -----------------------------------------------------------------------------

export const BUCKETS = {
  apiUsers: { bucket: 'cosigner-api-users', history: 5, description: 'paired API users (ApiUser proto), written by pairing only' },
  pairingClaims: { bucket: 'cosigner-pairing-claims', ttlMs: 2 * 3600_000, description: 'pairing token claims (jti digests) of this co-signer' },
  requests: { bucket: 'cosigner-requests', history: 1, description: 'request status projection (RequestState)' },
  intakeNonces: { bucket: 'cosigner-intake-nonces', history: 1, ttlMs: 5 * 60_000, description: 'workspace token nonces seen by intake' },
  dispatch: { bucket: 'cosigner-dispatch', history: 1, description: 'callback dispatch state per request' },
  keys: { bucket: 'cosigner-keys', history: 1, description: 'key records of the mpc-signer' },
  plans: { bucket: 'cosigner-signing-plans', history: 1, ttlMs: 8 * 24 * 3_600_000, description: 'signing plans of requests in flight' },
  parties: { bucket: 'cosigner-parties', history: 1, allowRollup: false, description: 'MPC party identities (PartyInfo), each written by its party only' },
  auditHead: { bucket: 'cosigner-audit-head', history: 1, description: 'head of the audit hash chain' },
  signGate: { bucket: 'cosigner-sign-gate', history: 1, ttlMs: 8 * 24 * 3_600_000, description: 'per request: SIGNING (the signer started, shares may be out) or CANCELLED, whichever was created first' },
} as const satisfies Record<string, KvSpec>;
export type BucketKey = keyof typeof BUCKETS;

/**
 * Each party's own bucket of its sealed store's version counters (rollback protection,
 * packages/party/src/sealed.ts). Per party so that no other service, and no other party, can
 * write (roll back) them: the authorization grants `$KV.<this bucket>.>` to that party alone.
 */
export function sealedVersionsBucket(party: string): KvSpec {
  return { bucket: `cosigner-sealed-versions-${party}`, history: 1, description: `sealed-store version counters of party ${party}, written by it only` };
}
/** The one bucket every party shared before: read once by a party to carry its counters over. */
export const LEGACY_SEALED_VERSIONS_BUCKET = 'cosigner-sealed-versions';

/** The workspace simulator's buckets (its state; no other service touches them). */
export const SIM_BUCKETS = ['sim-workspaces', 'sim-api-users', 'sim-transactions'] as const;

// ---- MPC party subjects (core NATS, end-to-end encrypted envelopes) ----------------------------

export const MPC_SUBJECTS = {
  /** Protocol messages for `party` (broadcast copies and direct ones). */
  inbox: (party: string) => `cosigner.mpc.${party}.inbox`,
  /** SessionStart for `party` (request/reply). */
  start: (party: string) => `cosigner.mpc.${party}.start`,
  /** Every party's SessionOutcome at the end of every session. */
  outcome: 'cosigner.mpc.outcome',
};

/** Per-user inbox prefix: replies (JetStream API, KV, MPC session starts) reach only their requester. */
export function inboxPrefix(service: string): string {
  return `_INBOX_${service}`;
}

// ---- Who may do what ------------------------------------------------------------------------

/** One user's grant on a stream. */
export interface StreamGrant {
  stream: StreamKey;
  /** Provision and converge its configuration (stream UPDATE). */
  own?: boolean;
  /** Subjects of the stream it may publish (JetStream publishes). */
  publish?: string[];
  /** Read single messages (by sequence, last by subject). */
  get?: boolean;
  /** Read it through ephemeral (ordered) consumers: only on streams without durable consumers. */
  scan?: boolean;
  /** Durable consumers it pulls from and acks. */
  consumers?: ConsumerKey[];
}

/** One user's grant on a KV bucket. */
export interface BucketGrant {
  bucket: string;
  /** Converge its configuration (stream UPDATE). */
  own?: boolean;
  /** Put / delete: every key (true) or only these keys. */
  write?: boolean | string[];
  /** Get, keys, history, watch (default true). */
  read?: boolean;
}

export interface ServiceAccess {
  streams: StreamGrant[];
  buckets: BucketGrant[];
  /** Core NATS subjects it publishes / subscribes (no JetStream). */
  publish: string[];
  subscribe: string[];
  /** Answer requests it received (`msg.respond`) whatever the requester's inbox. */
  respond?: boolean;
  /** List streams and consumers with their counts (read-only JetStream API): the operator's status view. */
  monitor?: boolean;
}

const b = (k: BucketKey): string => BUCKETS[k].bucket;

function partyAccess(party: PartyName): Pick<ServiceAccess, 'buckets' | 'publish' | 'subscribe' | 'respond'> {
  const others = PARTY_NAMES.filter((p) => p !== party);
  return {
    buckets: [
      // The customer's party owns the bucket's configuration: it turns roll-ups off (a roll-up on
      // a party's own key would purge the others' identities).
      { bucket: b('parties'), write: [party], ...(party === 'customer' ? { own: true } : {}) },
      { bucket: sealedVersionsBucket(party).bucket, own: true, write: true },
      { bucket: LEGACY_SEALED_VERSIONS_BUCKET, read: true },
    ],
    // Only the coordinator (the customer's party) starts sessions.
    publish: [...others.map((p) => MPC_SUBJECTS.inbox(p)), ...(party === 'customer' ? others.map((p) => MPC_SUBJECTS.start(p)) : []), MPC_SUBJECTS.outcome],
    subscribe: [MPC_SUBJECTS.inbox(party), MPC_SUBJECTS.start(party), MPC_SUBJECTS.outcome],
    respond: true,
  };
}

/**
 * The access table: exactly what each service does on the bus. Anything else is refused by the
 * server once the generated authorization is in place.
 */
export const ACCESS: Record<ServiceName, ServiceAccess> = {
  pairing: {
    streams: [{ stream: 'audit', own: true, publish: [AUDIT_SUBJECT], get: true }],
    buckets: [
      { bucket: b('apiUsers'), own: true, write: true },
      { bucket: b('pairingClaims'), own: true, write: true },
      { bucket: b('auditHead'), own: true, write: true },
    ],
    publish: [], subscribe: [],
  },
  'request-intake': {
    streams: [{ stream: 'requests', own: true, publish: [requestKindFilter('received'), requestKindFilter('failed')], get: true, consumers: ['projector'] }],
    buckets: [
      { bucket: b('requests'), own: true, write: true },
      { bucket: b('intakeNonces'), own: true, write: true },
      { bucket: b('signGate'), write: true },
      { bucket: b('apiUsers') },
      { bucket: b('keys') },
    ],
    publish: [], subscribe: [],
  },
  'callback-dispatcher': {
    streams: [
      { stream: 'requests', publish: ['approved', 'rejected', 'ignored', 'failed'].map((k) => requestKindFilter(k as RequestEventKind)), consumers: ['dispatcher'] },
      { stream: 'audit', own: true, publish: [AUDIT_SUBJECT], get: true },
    ],
    buckets: [
      { bucket: b('dispatch'), own: true, write: true },
      { bucket: b('auditHead'), own: true, write: true },
      { bucket: b('apiUsers') },
      { bucket: b('requests') },
    ],
    publish: [], subscribe: [],
  },
  'mpc-signer': {
    streams: [{ stream: 'requests', publish: [requestKindFilter('signed'), requestKindFilter('failed')], get: true, consumers: ['signer'] }],
    buckets: [
      { bucket: b('keys'), own: true, write: true },
      { bucket: b('plans'), own: true, write: true },
      { bucket: b('signGate'), own: true, write: true },
      ...partyAccess('customer').buckets,
    ],
    publish: partyAccess('customer').publish,
    subscribe: partyAccess('customer').subscribe,
    respond: true,
  },
  'cloud-1': { streams: [], ...partyAccess('cloud-1') },
  'cloud-2': { streams: [], ...partyAccess('cloud-2') },
  'workspace-sim': {
    streams: [],
    buckets: SIM_BUCKETS.map((bucket) => ({ bucket, own: true, write: true })),
    publish: [], subscribe: [],
  },
  /** The operator's CLI: reads the audit chain, the parties' identities, request events and states, and lists streams. */
  cli: {
    streams: [{ stream: 'audit', get: true, scan: true }, { stream: 'requests', get: true }],
    // plans: `cosigner chaos` watches which presignature each entry is planned with (no secret in a plan).
    buckets: [{ bucket: b('parties') }, { bucket: b('requests') }, { bucket: b('plans') }, { bucket: b('auditHead') }],
    publish: [], subscribe: [],
    monitor: true,
  },
};

// ---- Provisioning from the declaration ------------------------------------------------------

export interface ProvisionServiceOptions {
  replicas?: number;
  /** Per-deployment overrides of a consumer's settings (ack wait). */
  consumers?: Partial<Record<ConsumerKey, Partial<ConsumerSpec>>>;
}

/**
 * Provisions what `service` uses, as the access table says: streams it owns are created or
 * converged, the others created only when absent (never changed); then its durable consumers.
 * Buckets are opened with `openBucket`.
 */
export async function provisionStreams(nc: NatsConnection, service: ServiceName, o: ProvisionServiceOptions = {}): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const grants = ACCESS[service].streams;
  for (const g of grants) {
    const spec = STREAMS[g.stream];
    const s: StreamSpec = { ...spec, subjects: [...spec.subjects] };
    if (g.own) await ensureStream(jsm, s, o.replicas);
    else await openStream(jsm, s, o.replicas);
  }
  for (const g of grants) {
    for (const c of g.consumers ?? []) await ensureConsumer(jsm, { ...CONSUMERS[c], ...(o.consumers?.[c] ?? {}) });
  }
}

/**
 * Opens one of the declared buckets for `service`: created when absent with the declared
 * configuration; converged to it when the service owns the bucket.
 */
export async function openBucket(nc: NatsConnection, service: ServiceName, spec: KvSpec, replicas?: number): Promise<KV> {
  const grant = ACCESS[service].buckets.find((g) => g.bucket === spec.bucket);
  return ensureKv(nc, spec, replicas, { converge: grant?.own === true });
}
