/**
 * @cosigner/audit: the hash-chained audit log on the `COSIGNER_AUDIT` stream (subject
 * `cosigner.audit`), shared by every service that records decisions (pairing, the callback
 * dispatcher).
 *
 * Chain: record n carries `prev_hash` = hash of record n-1 (32 zero bytes for the first) and
 * `hash` = SHA-256(AuditRecord encoding with `hash` empty), which covers `seq`, `prev_hash` and
 * every field, so an edited, dropped or reordered record breaks the chain at that point.
 *
 * Concurrent writers (several dispatcher instances, pairing) serialize on the chain head kept in
 * KV bucket `cosigner-audit-head`, key `head`: an append is a compare-and-set of the head, then a
 * publish with `Nats-Msg-Id: audit-<seq>`. A writer that finds the head ahead of the stream (its
 * writer crashed between the two steps) republishes the head first, so the stream has no gap.
 * This is the same scheme (and byte format) as the appender pairing shipped first.
 */
import { createHash } from 'node:crypto';
import {
  JetStreamApiCodes, JetStreamApiError, StorageType, jetstream, jetstreamManager,
  type JetStreamClient, type JetStreamManager,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { AuditRecord } from '@cosigner/proto';
import { AUDIT_SUBJECT as TOPOLOGY_AUDIT_SUBJECT, BUCKETS, STREAMS, auditMsgId } from '@cosigner/platform';

// Names of the bus are declared once, in the platform's topology.
export const AUDIT_STREAM = STREAMS.audit.name;
export const AUDIT_SUBJECT = TOPOLOGY_AUDIT_SUBJECT;
export const AUDIT_HEAD_BUCKET = BUCKETS.auditHead.bucket;
export const AUDIT_HEAD_KEY = 'head';
/** Duplicate window of the audit stream (a republished head within it is absorbed). */
export const AUDIT_DUPLICATE_WINDOW_MS = 120_000;
/** CAS attempts before an append gives up (and the caller fails closed). */
export const MAX_APPEND_ATTEMPTS = 100;
const ZERO_HASH = Buffer.alloc(32);

/** An audit failure (code ERR_AUDIT_UNAVAILABLE: the caller must not proceed with the decision). */
export class AuditError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuditError';
    this.code = code;
  }
}

/** What a writer fills in; chain fields and time are set by the log. */
export type AuditInput = Partial<Omit<AuditRecord, 'seq' | 'prevHash' | 'hash' | 'atMs'>>;

/** `hash` of a record: SHA-256 of its encoding with `hash` empty. */
export function auditHash(r: AuditRecord): Buffer {
  return createHash('sha256').update(AuditRecord.encode({ ...r, hash: Buffer.alloc(0) }).finish()).digest();
}

function eq(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function isCasConflict(e: unknown): boolean {
  return e instanceof JetStreamApiError &&
    (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

/** Creates the audit stream when absent (same config every writer uses). */
export async function ensureAuditStream(jsm: JetStreamManager): Promise<void> {
  try {
    await jsm.streams.info(AUDIT_STREAM);
    return;
  } catch (e) {
    if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound)) throw e;
  }
  try {
    await jsm.streams.add({ name: AUDIT_STREAM, subjects: [AUDIT_SUBJECT], storage: StorageType.File, duplicate_window: AUDIT_DUPLICATE_WINDOW_MS * 1_000_000 });
  } catch {
    await jsm.streams.info(AUDIT_STREAM); // created concurrently by another writer
  }
}

export class AuditLog {
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #head: KV;
  readonly #actor: string;
  readonly #now: () => number;

  private constructor(js: JetStreamClient, jsm: JetStreamManager, head: KV, actor: string, now: () => number) {
    this.#js = js;
    this.#jsm = jsm;
    this.#head = head;
    this.#actor = actor;
    this.#now = now;
  }

  /** Opens (creating when absent) the stream and the head bucket. */
  static async open(nc: NatsConnection, actor: string, now: () => number = Date.now): Promise<AuditLog> {
    const jsm = await jetstreamManager(nc);
    await ensureAuditStream(jsm);
    const kv = await new Kvm(jetstream(nc)).create(AUDIT_HEAD_BUCKET, { history: 1, storage: StorageType.File });
    return new AuditLog(jetstream(nc), jsm, kv, actor, now);
  }

  async #lastPublishedSeq(): Promise<number> {
    try {
      const m = await this.#jsm.streams.getMessage(AUDIT_STREAM, { last_by_subj: AUDIT_SUBJECT });
      return m ? AuditRecord.decode(m.data).seq : 0;
    } catch (e) {
      if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.NoMessageFound) return 0;
      throw e;
    }
  }

  async #publish(r: AuditRecord): Promise<void> {
    await this.#js.publish(AUDIT_SUBJECT, AuditRecord.encode(r).finish(), { msgID: auditMsgId(r.seq), expect: { streamName: AUDIT_STREAM } });
  }

  async #readHead(): Promise<{ rec: AuditRecord; revision: number } | undefined> {
    const e = await this.#head.get(AUDIT_HEAD_KEY);
    if (!e || e.operation !== 'PUT' || e.value.length === 0) return undefined;
    return { rec: AuditRecord.decode(e.value), revision: e.revision };
  }

  /**
   * Appends one record; resolves once it is stored in the stream. Throws AuditError
   * ERR_AUDIT_UNAVAILABLE otherwise: a decision that cannot be audited must not be acted on.
   *
   * Appends of one writer are serialized (and never contend with each other): the writer keeps
   * the head it last wrote and its KV revision, so an uncontended append costs one CAS and one
   * publish. Only when another writer moved the head is it read again.
   */
  append(input: AuditInput): Promise<AuditRecord> {
    const p = this.#queue.then(() => this.#appendOne(input));
    this.#queue = p.catch(() => undefined);
    return p;
  }

  #queue: Promise<unknown> = Promise.resolve();
  #cached: { rec: AuditRecord; revision: number } | undefined;

  async #appendOne(input: AuditInput): Promise<AuditRecord> {
    let head = this.#cached;
    try {
      for (let attempt = 0; attempt < MAX_APPEND_ATTEMPTS; attempt++) {
        if (!head) {
          head = await this.#readHead();
          // Its writer may have crashed between the CAS and the publish: close the gap first.
          if (head && (await this.#lastPublishedSeq()) < head.rec.seq) await this.#publish(head.rec);
        }
        const rec: AuditRecord = {
          requestId: '', apiUserId: '', handlerUrl: '', attempt: 0, outcome: '', latencyMs: 0, reason: '', kind: '',
          ...input,
          actor: input.actor || this.#actor,
          seq: (head?.rec.seq ?? 0) + 1,
          prevHash: head ? head.rec.hash : ZERO_HASH,
          hash: Buffer.alloc(0),
          atMs: this.#now(),
        };
        rec.hash = auditHash(rec);
        const bytes = AuditRecord.encode(rec).finish();
        let revision: number;
        try {
          revision = head ? await this.#head.update(AUDIT_HEAD_KEY, bytes, head.revision) : await this.#head.create(AUDIT_HEAD_KEY, bytes);
        } catch (e) {
          if (!isCasConflict(e)) throw e;
          // Another writer appended first: chain onto theirs (random pause against lockstep).
          head = undefined;
          this.#cached = undefined;
          if (attempt > 1) await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, attempt * 2)));
          continue;
        }
        await this.#publish(rec);
        this.#cached = { rec, revision };
        return rec;
      }
    } catch (e) {
      this.#cached = undefined;
      throw new AuditError('ERR_AUDIT_UNAVAILABLE', 'audit record could not be written', { cause: e });
    }
    this.#cached = undefined;
    throw new AuditError('ERR_AUDIT_UNAVAILABLE', 'audit: too many concurrent writers');
  }
}

export interface AuditVerifyResult {
  ok: boolean;
  /** Records read (a re-published duplicate of the previous record is not counted). */
  records: number;
  /** Chain position (audit seq) where the chain first breaks. */
  firstBadSeq?: number;
  /** Why it breaks there. */
  reason?: string;
}

/**
 * Reads the whole audit stream in order and checks the chain: consecutive seq from 1, each
 * `prev_hash` equal to the previous `hash`, each `hash` recomputed. An exact re-publication of the
 * previous record (a head republished after its writer crashed, outside the duplicate window) is
 * tolerated; anything else is reported at the first bad position.
 */
export async function verifyAuditChain(nc: NatsConnection, o: { onRecord?: (r: AuditRecord) => void } = {}): Promise<AuditVerifyResult> {
  const jsm = await jetstreamManager(nc);
  let last: number;
  try {
    last = (await jsm.streams.info(AUDIT_STREAM)).state.last_seq;
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound) return { ok: true, records: 0 };
    throw e;
  }
  let records = 0;
  let prev: AuditRecord | undefined;
  if (last === 0) return { ok: true, records: 0 };
  const consumer = await jetstream(nc).consumers.get(AUDIT_STREAM);
  const iter = await consumer.consume({ max_messages: 512 });
  const bad = (seq: number, reason: string): AuditVerifyResult => ({ ok: false, records, firstBadSeq: seq, reason });
  let result: AuditVerifyResult | undefined;
  try {
    for await (const m of iter) {
      const expected = (prev?.seq ?? 0) + 1;
      let r: AuditRecord;
      try {
        r = AuditRecord.decode(m.data);
      } catch {
        result = bad(expected, 'record does not decode');
        break;
      }
      if (prev && r.seq === prev.seq && eq(r.hash, prev.hash) && eq(AuditRecord.encode(r).finish(), AuditRecord.encode(prev).finish())) {
        // identical re-publication: skip
      } else {
        if (r.seq !== expected) { result = bad(expected, `expected seq ${expected}, found ${r.seq}`); break; }
        if (!eq(r.prevHash, prev ? prev.hash : ZERO_HASH)) { result = bad(expected, 'prev_hash does not match the previous record'); break; }
        if (!eq(r.hash, auditHash(r))) { result = bad(expected, 'hash does not match the record'); break; }
        records++;
        prev = r;
        o.onRecord?.(r);
      }
      if (m.seq >= last || m.info.pending === 0) break;
    }
  } finally {
    await iter.close().catch(() => undefined);
  }
  return result ?? { ok: true, records };
}
