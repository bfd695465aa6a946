/**
 * Idempotent JetStream provisioning: every service declares the streams, durable consumers and
 * KV buckets it needs and calls `provision` at start. Existing resources are updated to the
 * declared config, so a redeploy with a new limit converges. File storage always (durability is
 * the point), replicas configurable (1 locally, 3 on Kubernetes).
 */
import {
  AckPolicy, DeliverPolicy, DiscardPolicy, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType,
  jetstream, jetstreamManager,
  type ConsumerConfig, type ConsumerInfo, type JetStreamManager, type StreamConfig, type StreamInfo,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import { DomainError } from '../errors.ts';

export const DEFAULT_DUPLICATE_WINDOW_MS = 2 * 60_000;
export const DEFAULT_ACK_WAIT_MS = 30_000;
export const DEFAULT_MAX_DELIVER = -1;
export const DEFAULT_MAX_ACK_PENDING = 1000;
export const DEFAULT_REPLICAS = 1;

export interface StreamSpec {
  name: string;
  subjects: string[];
  retention?: 'limits' | 'workqueue' | 'interest';
  /** Max age of a message (ms); 0 = forever. */
  maxAgeMs?: number;
  maxMsgs?: number;
  maxBytes?: number;
  /** Window in which a repeated `Nats-Msg-Id` is absorbed (ms). */
  duplicateWindowMs?: number;
  replicas?: number;
  description?: string;
  /** Refuse deleting single messages / purging (an audit trail). Once set, NATS does not unset them. */
  denyDelete?: boolean;
  denyPurge?: boolean;
}

export interface ConsumerSpec {
  stream: string;
  durable: string;
  /** One subject filter (nats-server 2.9 has no multi-filter consumers). */
  filterSubject?: string;
  ackWaitMs?: number;
  /** -1 = unlimited redeliveries. */
  maxDeliver?: number;
  maxAckPending?: number;
  deliverPolicy?: 'all' | 'new';
  /** Redelivery backoff after ack-wait expiry (ms per attempt); needs maxDeliver > length. */
  backoffMs?: number[];
  description?: string;
}

export interface KvSpec {
  bucket: string;
  history?: number;
  /** Bucket-wide TTL (ms); nats-server 2.9 has no per-key TTL. */
  ttlMs?: number;
  maxBytes?: number;
  maxValueSize?: number;
  replicas?: number;
  description?: string;
  /**
   * `false`: the bucket's stream refuses roll-up headers. A bucket whose keys have different
   * writers needs it: `Nats-Rollup: all` on a message of one's own key purges every other key
   * of the stream, which no subject permission can prevent (the header is not a subject).
   */
  allowRollup?: boolean;
}

export interface ProvisionSpec {
  streams?: StreamSpec[];
  consumers?: ConsumerSpec[];
  kv?: KvSpec[];
  /** Default replicas for every stream / bucket that does not say. */
  replicas?: number;
}

export interface Provisioned {
  streams: Record<string, StreamInfo>;
  consumers: Record<string, ConsumerInfo>;
  kv: Record<string, KV>;
}

const RETENTION = {
  limits: RetentionPolicy.Limits,
  workqueue: RetentionPolicy.Workqueue,
  interest: RetentionPolicy.Interest,
} as const;

function isApiError(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}

function streamConfig(s: StreamSpec, replicas: number): Partial<StreamConfig> & { name: string } {
  const c: Partial<StreamConfig> & { name: string } = {
    name: s.name,
    subjects: s.subjects,
    retention: RETENTION[s.retention ?? 'limits'],
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: nanos(s.maxAgeMs ?? 0),
    max_msgs: s.maxMsgs ?? -1,
    max_bytes: s.maxBytes ?? -1,
    duplicate_window: nanos(s.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS),
    num_replicas: s.replicas ?? replicas,
  };
  if (s.description !== undefined) c.description = s.description;
  if (s.denyDelete) c.deny_delete = true;
  if (s.denyPurge) c.deny_purge = true;
  return c;
}

/** Creates the stream or updates it to the declared config. Safe to call concurrently. */
export async function ensureStream(jsm: JetStreamManager, spec: StreamSpec, replicas = DEFAULT_REPLICAS): Promise<StreamInfo> {
  const cfg = streamConfig(spec, replicas);
  for (let attempt = 0; ; attempt++) {
    try {
      await jsm.streams.info(spec.name);
    } catch (err) {
      if (!isApiError(err, JetStreamApiCodes.StreamNotFound)) throw err;
      try {
        return await jsm.streams.add(cfg);
      } catch (addErr) {
        // Another instance created it between our info and add: converge via update.
        if (attempt < 2) continue;
        throw addErr;
      }
    }
    return jsm.streams.update(spec.name, cfg);
  }
}

/**
 * Creates the stream when absent, with the declared config, and leaves an existing one as it is:
 * what a service that uses a stream it does not own does (its user may CREATE, which never
 * changes an existing stream, but not UPDATE).
 */
export async function openStream(jsm: JetStreamManager, spec: StreamSpec, replicas = DEFAULT_REPLICAS): Promise<StreamInfo> {
  const cfg = streamConfig(spec, replicas);
  for (let attempt = 0; ; attempt++) {
    try {
      return await jsm.streams.info(spec.name);
    } catch (err) {
      if (!isApiError(err, JetStreamApiCodes.StreamNotFound)) throw err;
    }
    try {
      return await jsm.streams.add(cfg);
    } catch (addErr) {
      // Created concurrently by another service: read it again.
      if (attempt < 2) continue;
      throw addErr;
    }
  }
}

function consumerConfig(c: ConsumerSpec): Partial<ConsumerConfig> {
  const cfg: Partial<ConsumerConfig> = {
    durable_name: c.durable,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(c.ackWaitMs ?? DEFAULT_ACK_WAIT_MS),
    max_deliver: c.maxDeliver ?? DEFAULT_MAX_DELIVER,
    max_ack_pending: c.maxAckPending ?? DEFAULT_MAX_ACK_PENDING,
    deliver_policy: c.deliverPolicy === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
  };
  if (c.filterSubject !== undefined) cfg.filter_subject = c.filterSubject;
  if (c.backoffMs !== undefined && c.backoffMs.length > 0) cfg.backoff = c.backoffMs.map((ms) => nanos(ms));
  if (c.description !== undefined) cfg.description = c.description;
  return cfg;
}

/** Creates the durable pull consumer or updates its mutable settings to the declared ones. */
export async function ensureConsumer(jsm: JetStreamManager, spec: ConsumerSpec): Promise<ConsumerInfo> {
  const cfg = consumerConfig(spec);
  for (let attempt = 0; ; attempt++) {
    try {
      await jsm.consumers.info(spec.stream, spec.durable);
    } catch (err) {
      if (!isApiError(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
      try {
        return await jsm.consumers.add(spec.stream, cfg);
      } catch (addErr) {
        if (attempt < 2) continue;
        throw addErr;
      }
    }
    // deliver_policy and durable_name are immutable; send only what may change.
    const { durable_name: _d, deliver_policy: _p, ack_policy: _a, ...mutable } = cfg;
    return jsm.consumers.update(spec.stream, spec.durable, mutable);
  }
}

/**
 * Opens (creating if needed) a KV bucket and converges its backing stream to the declared limits;
 * `converge: false` (a bucket the service does not own) leaves an existing bucket as it is.
 */
/**
 * Refuses a bucket whose stream is not a plain KV stream of its own subjects. Any service allowed
 * to create a bucket's stream (the bus grants STREAM.CREATE by name; no permission constrains the
 * configuration) could create it first with extra subjects, sources, a mirror or a republish: it
 * would capture another service's subjects (a party's inbox, a service's replies) into a stream it
 * may read, or block another service's stream (overlapping subjects). Every opener checks.
 * Throws DomainError ERR_BUS_TAMPERED.
 */
export async function assertKvStreamIntact(nc: NatsConnection, bucket: string): Promise<void> {
  const c = (await (await jetstreamManager(nc)).streams.info(`KV_${bucket}`)).config;
  const subjects = c.subjects ?? [];
  const own = subjects.length === 1 && subjects[0] === `$KV.${bucket}.>`;
  if (!own || c.mirror || (c.sources?.length ?? 0) > 0 || c.republish) {
    throw new DomainError('ERR_BUS_TAMPERED', `bucket ${bucket}: its stream is not a plain KV stream of its own subjects (subjects ${JSON.stringify(subjects)}${c.mirror ? ', a mirror' : ''}${c.sources?.length ? ', sources' : ''}${c.republish ? ', a republish' : ''}); refusing to use it`);
  }
}

export async function ensureKv(nc: NatsConnection, spec: KvSpec, replicas = DEFAULT_REPLICAS, o: { converge?: boolean } = {}): Promise<KV> {
  const js = jetstream(nc);
  const kvm = new Kvm(js);
  const r = spec.replicas ?? replicas;
  const kv = await kvm.create(spec.bucket, {
    history: spec.history ?? 1,
    ttl: spec.ttlMs ?? 0,
    replicas: r,
    storage: StorageType.File,
    ...(spec.maxBytes !== undefined ? { max_bytes: spec.maxBytes } : {}),
    ...(spec.maxValueSize !== undefined ? { maxValueSize: spec.maxValueSize } : {}),
    ...(spec.description !== undefined ? { description: spec.description } : {}),
  });
  await assertKvStreamIntact(nc, spec.bucket);
  if (o.converge === false) return kv;
  // Kvm.create opens an existing bucket as is; converge the limits it would have set.
  const jsm = await jetstreamManager(nc);
  const name = `KV_${spec.bucket}`;
  const info = await jsm.streams.info(name);
  const want = {
    max_msgs_per_subject: spec.history ?? 1,
    max_age: nanos(spec.ttlMs ?? 0),
    num_replicas: r,
    max_bytes: spec.maxBytes ?? -1,
  };
  const c = info.config;
  const rollup = spec.allowRollup === false ? { allow_rollup_hdrs: false } : {};
  if (c.max_msgs_per_subject !== want.max_msgs_per_subject || c.max_age !== want.max_age ||
      c.num_replicas !== want.num_replicas || c.max_bytes !== want.max_bytes || (spec.allowRollup === false && c.allow_rollup_hdrs)) {
    await jsm.streams.update(name, { ...c, ...want, ...rollup });
  }
  return kv;
}

/**
 * Turns roll-up headers off on an existing bucket (its owner's part of `KvSpec.allowRollup`
 * false; Kvm.create always creates KV streams with them on). Idempotent.
 */
export async function denyRollups(nc: NatsConnection, bucket: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const name = `KV_${bucket}`;
  const c = (await jsm.streams.info(name)).config;
  if (c.allow_rollup_hdrs) await jsm.streams.update(name, { ...c, allow_rollup_hdrs: false });
}

/** Provisions everything a service declares, streams first (consumers depend on them). */
export async function provision(nc: NatsConnection, spec: ProvisionSpec): Promise<Provisioned> {
  const replicas = spec.replicas ?? DEFAULT_REPLICAS;
  const jsm = await jetstreamManager(nc);
  const out: Provisioned = { streams: {}, consumers: {}, kv: {} };
  for (const s of spec.streams ?? []) out.streams[s.name] = await ensureStream(jsm, s, replicas);
  for (const c of spec.consumers ?? []) out.consumers[`${c.stream}/${c.durable}`] = await ensureConsumer(jsm, c);
  for (const k of spec.kv ?? []) out.kv[k.bucket] = await ensureKv(nc, k, replicas);
  return out;
}
