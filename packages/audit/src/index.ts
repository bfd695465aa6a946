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
import { isCasConflict } from '@cosigner/platform';
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

/**
 * Creates the audit stream when absent (same config every writer uses), with `deny_delete` and
 * `deny_purge`: the server refuses removing records (a stream created before without them gets
 * them here; NATS never lets them be unset again).
 */
export async function ensureAuditStream(jsm: JetStreamManager): Promise<void> {
  let info;
  try {
    info = await jsm.streams.info(AUDIT_STREAM);
  } catch (e) {
    if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound)) throw e;
  }
  if (info) {
    if (!info.config.deny_delete || !info.config.deny_purge) await jsm.streams.update(AUDIT_STREAM, { ...info.config, deny_delete: true, deny_purge: true });
    return;
  }
  try {
    await jsm.streams.add({ name: AUDIT_STREAM, subjects: [AUDIT_SUBJECT], storage: StorageType.File, duplicate_window: AUDIT_DUPLICATE_WINDOW_MS * 1_000_000, deny_delete: true, deny_purge: true });
  } catch (e) {
    // Created concurrently by another writer (then it has the flags, or gets them here).
    const again = await jsm.streams.info(AUDIT_STREAM).catch(() => { throw e; });
    if (!again.config.deny_delete || !again.config.deny_purge) await jsm.streams.update(AUDIT_STREAM, { ...again.config, deny_delete: true, deny_purge: true });
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
  /** The last good record: what `cosigner audit checkpoint` keeps. */
  head?: AuditCheckpoint;
}

/**
 * A checkpoint of the chain head, kept by the operator outside the co-signer (a file, a ticket, a
 * WORM bucket). A later verify with it proves the chain still holds that record at that position
 * unchanged: truncation below it, or a chain re-hashed from a forged earlier record, fails.
 */
export interface AuditCheckpoint {
  stream: string;
  seq: number;
  /** hex SHA-256 of the record at `seq` (its `hash`, which covers every earlier record). */
  hash: string;
  atMs: number;
}

/** Parses a checkpoint document; throws AuditError ERR_AUDIT_CHECKPOINT on anything else. */
export function parseCheckpoint(text: string): AuditCheckpoint {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new AuditError('ERR_AUDIT_CHECKPOINT', 'checkpoint is not JSON', { cause: e });
  }
  const c = v as Partial<AuditCheckpoint>;
  if (!c || c.stream !== AUDIT_STREAM || !Number.isSafeInteger(c.seq) || (c.seq ?? 0) < 1 || typeof c.hash !== 'string' || !/^[0-9a-f]{64}$/.test(c.hash)) {
    throw new AuditError('ERR_AUDIT_CHECKPOINT', 'checkpoint must be {"stream":"COSIGNER_AUDIT","seq":N,"hash":"<64 hex>","atMs":T}');
  }
  return { stream: c.stream, seq: c.seq!, hash: c.hash, atMs: Number(c.atMs ?? 0) };
}

/**
 * Reads the whole audit stream in order, one direct get per stream sequence (bounded: it never
 * waits for messages that are not there, so a purged or truncated stream cannot make it hang),
 * and checks:
 * - the chain: consecutive seq from 1, each `prev_hash` equal to the previous `hash`, each `hash`
 *   recomputed (a rewritten, dropped or reordered record breaks it there; an exact re-publication
 *   of the previous record, a head republished after its writer crashed, is tolerated);
 * - the tail: the writers' head (KV `cosigner-audit-head`) must be the last record, so records
 *   removed from the end (or the whole stream purged or re-created shorter) are reported;
 * - the checkpoint, when given: the record at its seq must exist with its hash.
 */
export async function verifyAuditChain(nc: NatsConnection, o: { onRecord?: (r: AuditRecord) => void; checkpoint?: AuditCheckpoint } = {}): Promise<AuditVerifyResult> {
  const jsm = await jetstreamManager(nc);
  let first = 0;
  let last = 0;
  try {
    const st = (await jsm.streams.info(AUDIT_STREAM)).state;
    first = st.first_seq;
    last = st.last_seq;
  } catch (e) {
    if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound)) throw e;
  }
  let head: AuditRecord | undefined;
  try {
    const kv = await new Kvm(jetstream(nc)).open(AUDIT_HEAD_BUCKET);
    const e = await kv.get(AUDIT_HEAD_KEY);
    if (e && e.operation === 'PUT' && e.value.length > 0) head = AuditRecord.decode(e.value);
  } catch {
    head = undefined; // no head bucket: nothing was ever appended through AuditLog
  }
  let records = 0;
  let prev: AuditRecord | undefined;
  let atCheckpoint: AuditRecord | undefined;
  const cp = (r: AuditRecord): AuditCheckpoint => ({ stream: AUDIT_STREAM, seq: Number(r.seq), hash: Buffer.from(r.hash).toString('hex'), atMs: Number(r.atMs) });
  const bad = (seq: number, reason: string): AuditVerifyResult => ({ ok: false, records, firstBadSeq: seq, reason, ...(prev ? { head: cp(prev) } : {}) });
  for (let s = first; last > 0 && s <= last; s++) {
    let data: Uint8Array | undefined;
    try {
      data = (await jsm.streams.getMessage(AUDIT_STREAM, { seq: s }))?.data;
    } catch (e) {
      if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.NoMessageFound) continue; // a gap: the chain check names it
      throw e;
    }
    if (!data) continue;
    const expected = (prev ? Number(prev.seq) : 0) + 1;
    let r: AuditRecord;
    try {
      r = AuditRecord.decode(data);
    } catch {
      return bad(expected, 'record does not decode');
    }
    if (prev && r.seq === prev.seq && eq(r.hash, prev.hash) && eq(AuditRecord.encode(r).finish(), AuditRecord.encode(prev).finish())) continue;
    if (Number(r.seq) !== expected) return bad(expected, `expected seq ${expected}, found ${r.seq}`);
    if (!eq(r.prevHash, prev ? prev.hash : ZERO_HASH)) return bad(expected, 'prev_hash does not match the previous record');
    if (!eq(r.hash, auditHash(r))) return bad(expected, 'hash does not match the record');
    records++;
    prev = r;
    if (o.checkpoint && Number(r.seq) === o.checkpoint.seq) atCheckpoint = r;
    o.onRecord?.(r);
  }
  const lastSeq = prev ? Number(prev.seq) : 0;
  if (head && Number(head.seq) > lastSeq) return bad(lastSeq + 1, `missing tail: the writers' head is record ${head.seq}, the stream ends at ${lastSeq}`);
  if (head && Number(head.seq) === lastSeq && prev && !eq(head.hash, prev.hash)) return bad(lastSeq, 'the last record differs from the writers\' head');
  if (o.checkpoint) {
    if (lastSeq < o.checkpoint.seq) return bad(lastSeq + 1, `missing tail: the checkpoint holds record ${o.checkpoint.seq}, the stream ends at ${lastSeq}`);
    if (!atCheckpoint || Buffer.from(atCheckpoint.hash).toString('hex') !== o.checkpoint.hash) return bad(o.checkpoint.seq, 'the record at the checkpoint differs from it (the chain was rewritten)');
  }
  if (!prev && last > 0) return bad(1, `the stream holds no records but ${last} were written (purged)`);
  return { ok: true, records, ...(prev ? { head: cp(prev) } : {}) };
}
