/**
 * Hash-chained audit records on the `COSIGNER_AUDIT` stream (subject `cosigner.audit`).
 *
 * A local appender until a shared one exists: the head of the chain (the last record, with its
 * hash) lives in KV bucket `cosigner-audit-head`, key `head`; an append is a compare-and-set of
 * the head (so concurrent writers, across services, serialize), then a publish with
 * `Nats-Msg-Id: audit-<seq>`. A writer that finds the head ahead of the stream (a crash between
 * the two steps) republishes the head first, so the stream has no gaps.
 *
 * hash = SHA-256(AuditRecord encoding with `hash` empty), which covers `prev_hash` and `seq`.
 */
import { createHash } from 'node:crypto';
import { JetStreamApiCodes, JetStreamApiError, StorageType, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { AuditRecord } from '@cosigner/proto';
import { TypedKv, protoCodec } from './kv.ts';

export const AUDIT_STREAM = 'COSIGNER_AUDIT';
export const AUDIT_SUBJECT = 'cosigner.audit';
export const AUDIT_HEAD_BUCKET = 'cosigner-audit-head';
const HEAD_KEY = 'head';
const ZERO_HASH = Buffer.alloc(32);

export type AuditInput = Partial<Omit<AuditRecord, 'seq' | 'prevHash' | 'hash' | 'atMs'>>;

export function auditHash(r: AuditRecord): Buffer {
  return createHash('sha256').update(AuditRecord.encode({ ...r, hash: Buffer.alloc(0) }).finish()).digest();
}

export class AuditLog {
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #head: TypedKv<AuditRecord>;
  readonly #actor: string;
  readonly #now: () => number;

  private constructor(js: JetStreamClient, jsm: JetStreamManager, head: TypedKv<AuditRecord>, actor: string, now: () => number) {
    this.#js = js;
    this.#jsm = jsm;
    this.#head = head;
    this.#actor = actor;
    this.#now = now;
  }

  /** Opens (creating when absent) the stream and the head bucket. */
  static async open(nc: NatsConnection, actor: string, now: () => number = Date.now): Promise<AuditLog> {
    const jsm = await jetstreamManager(nc);
    try {
      await jsm.streams.info(AUDIT_STREAM);
    } catch (e) {
      if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound)) throw e;
      try {
        await jsm.streams.add({ name: AUDIT_STREAM, subjects: [AUDIT_SUBJECT], storage: StorageType.File, duplicate_window: 120_000_000_000 });
      } catch {
        await jsm.streams.info(AUDIT_STREAM); // created concurrently by another service
      }
    }
    const kv = await new Kvm(jetstream(nc)).create(AUDIT_HEAD_BUCKET, { history: 1, storage: StorageType.File });
    return new AuditLog(jetstream(nc), jsm, new TypedKv(kv, protoCodec(AuditRecord)), actor, now);
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
    await this.#js.publish(AUDIT_SUBJECT, AuditRecord.encode(r).finish(), { msgID: `audit-${r.seq}`, expect: { streamName: AUDIT_STREAM } });
  }

  /** Appends one record; resolves once it is stored in the stream (fail closed: throws otherwise). */
  async append(input: AuditInput): Promise<AuditRecord> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const head = await this.#head.get(HEAD_KEY);
      if (head && (await this.#lastPublishedSeq()) < head.value.seq) await this.#publish(head.value);
      const rec: AuditRecord = {
        requestId: '', apiUserId: '', handlerUrl: '', attempt: 0, outcome: '', latencyMs: 0, reason: '', kind: '',
        ...input,
        actor: input.actor || this.#actor,
        seq: (head?.value.seq ?? 0) + 1,
        prevHash: head ? Buffer.from(head.value.hash) : ZERO_HASH,
        hash: Buffer.alloc(0),
        atMs: this.#now(),
      };
      rec.hash = auditHash(rec);
      const rev = head ? await this.#head.update(HEAD_KEY, rec, head.revision) : await this.#head.create(HEAD_KEY, rec);
      if (rev === undefined) continue; // another writer appended first; chain onto theirs
      await this.#publish(rec);
      return rec;
    }
    throw new Error('audit: too many concurrent writers');
  }
}
