/**
 * Audit you can trust (issue 15 item 2), against a real nats-server: the stream refuses deleting
 * and purging records; removing the tail, rewriting the chain from a forged record and reordering
 * (done the only way left: deleting the stream and re-creating it) are detected by the writers'
 * head and by an operator's checkpoint; verify never hangs, also on a purged stream.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AuditRecord } from '@cosigner/proto';
import { startNats, type NatsServerHandle } from '@cosigner/platform/testing';
import { AUDIT_HEAD_BUCKET, AUDIT_STREAM, AUDIT_SUBJECT, AuditLog, auditHash, parseCheckpoint, verifyAuditChain, type AuditCheckpoint } from '../src/index.ts';

let nats: NatsServerHandle;
let nc: NatsConnection;

before(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
});
after(async () => {
  await nc?.close();
  await nats?.stop();
});

async function records(): Promise<AuditRecord[]> {
  const jsm = await jetstreamManager(nc);
  const st = (await jsm.streams.info(AUDIT_STREAM)).state;
  const out: AuditRecord[] = [];
  for (let s = st.first_seq; s <= st.last_seq; s++) out.push(AuditRecord.decode((await jsm.streams.getMessage(AUDIT_STREAM, { seq: s }))!.data));
  return out;
}

/** What an attacker with the bus's admin rights can still do: drop the stream and write another. */
async function recreate(recs: AuditRecord[], o: { flags?: boolean } = {}): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(AUDIT_STREAM);
  await jsm.streams.add({ name: AUDIT_STREAM, subjects: [AUDIT_SUBJECT], storage: StorageType.File, ...(o.flags === false ? {} : { deny_delete: true, deny_purge: true }) });
  for (const r of recs) await jetstream(nc).publish(AUDIT_SUBJECT, AuditRecord.encode(r).finish());
}

async function timed<T>(p: Promise<T>): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => { t = setTimeout(() => rej(new Error('verify hung')), 20_000); })]);
  } finally {
    clearTimeout(t);
  }
}

let checkpoint: AuditCheckpoint;
let original: AuditRecord[];

test('the stream refuses deleting and purging records; a checkpoint of the head verifies', async () => {
  const log = await AuditLog.open(nc, 'w1');
  for (let i = 0; i < 10; i++) await log.append({ kind: 'pairing', apiUserId: `u${i}`, outcome: 'PAIRED' });
  const jsm = await jetstreamManager(nc);
  const cfg = (await jsm.streams.info(AUDIT_STREAM)).config;
  assert.equal(cfg.deny_delete, true);
  assert.equal(cfg.deny_purge, true);
  await assert.rejects(jsm.streams.deleteMessage(AUDIT_STREAM, 10));
  await assert.rejects(jsm.streams.deleteMessage(AUDIT_STREAM, 3, false));
  await assert.rejects(jsm.streams.purge(AUDIT_STREAM));
  await assert.rejects(jsm.streams.purge(AUDIT_STREAM, { keep: 5 }));
  const r = await verifyAuditChain(nc);
  assert.equal(r.ok, true, r.reason);
  assert.equal(r.records, 10);
  checkpoint = parseCheckpoint(JSON.stringify(r.head));
  assert.equal(checkpoint.seq, 10);
  assert.equal((await verifyAuditChain(nc, { checkpoint })).ok, true);
  original = await records();
});

test('a stream created before without the flags gets them when a writer opens it', async () => {
  await recreate(original, { flags: false });
  await AuditLog.open(nc, 'w2');
  const cfg = (await (await jetstreamManager(nc)).streams.info(AUDIT_STREAM)).config;
  assert.equal(cfg.deny_delete, true);
  assert.equal(cfg.deny_purge, true);
});

test('truncation (the last record gone) is a missing tail: by the head, and by the checkpoint even with the head rolled back', async () => {
  await recreate(original.slice(0, 9));
  const r = await timed(verifyAuditChain(nc));
  assert.equal(r.ok, false);
  assert.equal(r.firstBadSeq, 10);
  assert.match(r.reason!, /missing tail/);
  // The attacker also rolls the writers' head back to record 9: only the kept checkpoint tells.
  const head = await new Kvm(jetstream(nc)).open(AUDIT_HEAD_BUCKET);
  await head.put('head', AuditRecord.encode(original[8]!).finish());
  assert.equal((await timed(verifyAuditChain(nc))).ok, true, 'without a checkpoint a consistent shorter chain is all there is');
  const c = await timed(verifyAuditChain(nc, { checkpoint }));
  assert.equal(c.ok, false);
  assert.match(c.reason!, /missing tail: the checkpoint/);
  await head.put('head', AuditRecord.encode(original[9]!).finish());
});

test('a chain re-hashed from a forged record verifies as a chain but not against the head or the checkpoint', async () => {
  const forged = original.map((r) => ({ ...r }));
  forged[4] = { ...forged[4]!, outcome: 'UNPAIRED', apiUserId: 'someone-else' };
  for (let i = 4; i < forged.length; i++) {
    if (i > 0) forged[i]!.prevHash = forged[i - 1]!.hash;
    forged[i]!.hash = auditHash(forged[i]!);
  }
  await recreate(forged);
  const r = await timed(verifyAuditChain(nc));
  assert.equal(r.ok, false);
  assert.match(r.reason!, /differs from the writers' head/);
  const c = await timed(verifyAuditChain(nc, { checkpoint }));
  assert.equal(c.ok, false);
});

test('reordered records break the chain at the first swapped position', async () => {
  const swapped = [...original];
  [swapped[3], swapped[6]] = [swapped[6]!, swapped[3]!];
  await recreate(swapped);
  const r = await timed(verifyAuditChain(nc));
  assert.equal(r.ok, false);
  assert.equal(r.firstBadSeq, 4);
});

test('a purged stream (made without the flags) is reported at once, never waited on', async () => {
  await recreate(original, { flags: false });
  await (await jetstreamManager(nc)).streams.purge(AUDIT_STREAM);
  const r = await timed(verifyAuditChain(nc));
  assert.equal(r.ok, false);
  assert.equal(r.records, 0);
  assert.match(r.reason!, /missing tail|purged/);
  await recreate(original);
  assert.equal((await timed(verifyAuditChain(nc, { checkpoint }))).ok, true, 'the genuine trail still verifies');
});

test('a malformed checkpoint is refused with its code', () => {
  for (const bad of ['', '{}', '{"stream":"COSIGNER_AUDIT","seq":0,"hash":"00"}', '{"stream":"X","seq":1,"hash":"' + '0'.repeat(64) + '"}']) {
    assert.throws(() => parseCheckpoint(bad), (e: unknown) => (e as { code?: string }).code === 'ERR_AUDIT_CHECKPOINT', bad);
  }
});
