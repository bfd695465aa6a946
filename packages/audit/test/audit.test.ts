import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AuditRecord } from '@cosigner/proto';
import { startNats, type NatsServerHandle } from '@cosigner/platform/testing';
import { AUDIT_SUBJECT, AuditLog, auditHash, verifyAuditChain } from '../src/index.ts';

let nats: NatsServerHandle;
let a: NatsConnection;
let b: NatsConnection;

before(async () => {
  nats = await startNats();
  a = await connect({ servers: nats.url });
  b = await connect({ servers: nats.url });
});
after(async () => {
  await a?.close();
  await b?.close();
  await nats?.stop();
});

test('concurrent writers on two connections build one unbroken chain', async () => {
  const logs = [await AuditLog.open(a, 'w1'), await AuditLog.open(b, 'w2'), await AuditLog.open(b, 'w3')];
  await Promise.all(logs.flatMap((l, i) => Array.from({ length: 40 }, (_, n) => l.append({ kind: 'callback', requestId: `r${i}-${n}`, outcome: 'APPROVE' }))));
  const res = await verifyAuditChain(a);
  assert.equal(res.ok, true, res.reason);
  assert.equal(res.records, 120);
  assert.equal(res.head?.seq, 120);
});

test('an inserted or edited record is detected at its position', async () => {
  const before = await verifyAuditChain(a);
  const forged: AuditRecord = {
    seq: before.records + 1, prevHash: Buffer.alloc(32, 1), hash: Buffer.alloc(0), atMs: Date.now(), requestId: 'x', apiUserId: '',
    handlerUrl: '', attempt: 1, outcome: 'APPROVE', latencyMs: 0, reason: '', actor: 'evil', kind: 'callback',
  };
  forged.hash = auditHash(forged);
  await jetstream(a).publish(AUDIT_SUBJECT, AuditRecord.encode(forged).finish());
  const res = await verifyAuditChain(a);
  assert.equal(res.ok, false);
  assert.equal(res.firstBadSeq, before.records + 1);
});
