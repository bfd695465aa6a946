/** Three parties in one process over a real nats-server: FROST keygen, signing, tamper, sealed store. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, verify as nodeVerify, createPublicKey } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { startNats } from '@cosigner/platform/testing';
import { ed25519 } from '@noble/curves/ed25519.js';
import { PartyNode, SoftwareEnclaveProvider, schemeFor, decodeSignResult, DEFAULT_PARTIES, PartyError, SealedStore, kvVersionCounter, openKv } from '../src/index.ts';
import { PartyEnvelope } from '@cosigner/proto';
import { approvalKeys, approvedEvent, testTrust } from './helpers.ts';
import { enclaveOf, sealedStoreOf } from '../src/testing.ts';

test('three parties: FROST keygen + sign over NATS, forged approval and wrong workspace refused, no plaintext in sealed files, rollback refused', async (t) => {
  const nats = await startNats();
  t.after(() => nats.stop());
  const ak = approvalKeys();
  const conns = await Promise.all(DEFAULT_PARTIES.map(() => connect({ servers: nats.url })));
  t.after(async () => { for (const c of conns) await c.close(); });
  const dirs = DEFAULT_PARTIES.map(() => mkdtempSync(join(tmpdir(), 'cosigner-party-')));
  const providers = DEFAULT_PARTIES.map(() => new SoftwareEnclaveProvider(randomBytes(32)));
  const nodes = await Promise.all(DEFAULT_PARTIES.map((p, i) => PartyNode.start({
    nc: conns[i]!, partyId: p.id, index: p.index, dataDir: dirs[i]!, provider: providers[i]!,
    approvalKey: ak.publicKey, trust: testTrust(), allowTofu: true, scheme: schemeFor, roundTimeoutMs: 3000, log: () => undefined,
  })));
  t.after(async () => { for (const n of nodes) await n.stop(); });
  const [customer] = nodes;
  const keyId = 'k_test1';
  const kg = await customer!.coordinate({
    kind: 'KEYGEN', keyId, parties: DEFAULT_PARTIES.map((p) => p.id), context: Buffer.alloc(0), workspaceId: 'ws1', algorithm: 'EDDSA_ED25519',
    threshold: 3, count: 0, entryIndex: 0, presignatureId: Buffer.alloc(0), requestId: '', epoch: 0,
  });
  const { publicKey, chainCode } = JSON.parse(new TextDecoder().decode(kg)) as { publicKey: string; chainCode: string };
  const pub = Buffer.from(publicKey, 'base64');
  assert.equal(pub.length, 32);

  const msg = new TextEncoder().encode('hello frost');
  const ev = approvedEvent({ key: ak.privateKey, requestId: 'r1', workspaceId: 'ws1', entries: [{ keyId, path: [44, 501, 0, 0, 0], payload: Buffer.from(msg), algorithm: 'EDDSA_ED25519' }] });
  const signStart = (context: Uint8Array, requestId = 'r1') => ({
    kind: 'SIGN' as const, keyId, parties: DEFAULT_PARTIES.map((p) => p.id), context: Buffer.from(context), workspaceId: 'ws1', algorithm: 'EDDSA_ED25519' as const,
    threshold: 3, count: 0, entryIndex: 0, presignatureId: Buffer.alloc(0), requestId, epoch: 0,
  });
  const res = decodeSignResult((await customer!.coordinate(signStart(ev.bytes)))!);
  const derived = schemeFor('EDDSA_ED25519').derivePublicKey(pub, Buffer.from(chainCode, 'base64'), 'm/44/501/0/0/0');
  assert.deepEqual(Buffer.from(res.publicKey), Buffer.from(derived.publicKey));
  assert.ok(ed25519.verify(res.signature, msg, res.publicKey));
  const spki = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(res.publicKey).toString('base64url') }, format: 'jwk' });
  assert.ok(nodeVerify(null, msg, spki, res.signature));

  // Forged approval: signed by another key. The customer's own enclave refuses before anyone else is asked.
  const forged = approvedEvent({ key: approvalKeys().privateKey, requestId: 'r2', workspaceId: 'ws1', entries: [{ keyId, path: [], payload: Buffer.from(msg) }] });
  await assert.rejects(customer!.coordinate(signStart(forged.bytes, 'r2')), (e: PartyError) => e.code === 'ERR_APPROVAL_INVALID');
  // Wrong workspace.
  const other = approvedEvent({ key: ak.privateKey, requestId: 'r3', workspaceId: 'ws2', entries: [{ keyId, path: [], payload: Buffer.from(msg) }] });
  await assert.rejects(customer!.coordinate(signStart(other.bytes, 'r3')), (e: PartyError) => e.code === 'ERR_WRONG_WORKSPACE');

  // Sealed files hold no plaintext share: the share's public key bytes are not even visible.
  for (const d of dirs) for (const f of readdirSync(d)) {
    const b = readFileSync(join(d, f));
    assert.equal(b.includes(pub), false);
    assert.equal(b.includes(Buffer.from(publicKey)), false);
  }

  // Rollback: keep a copy of the pins record, write a new version, put the old bytes back: refused.
  const store = sealedStoreOf(customer!);
  await store.put('test.rollback', new TextEncoder().encode('v1'));
  const f1 = readdirSync(dirs[0]!).find((f) => f.startsWith('test.rollback.'))!;
  const old = readFileSync(join(dirs[0]!, f1));
  await store.put('test.rollback', new TextEncoder().encode('v2'));
  const f2 = readdirSync(dirs[0]!).find((f) => f.startsWith('test.rollback.'))!;
  writeFileSync(join(dirs[0]!, f2), old);
  const fresh = new SealedStore({ dir: dirs[0]!, party: 'customer', provider: providers[0]!, counter: kvVersionCounter(await openKv(conns[0]!, 'cosigner-sealed-versions-customer')) });
  await assert.rejects(fresh.get('test.rollback'), (e: PartyError) => e.code === 'ERR_SEALED_ROLLBACK');
  writeFileSync(join(dirs[0]!, f2), readFileSync(join(dirs[0]!, f2)).fill(0, 20, 21));
  await assert.rejects(fresh.get('test.rollback'), (e: PartyError) => e.code === 'ERR_SEALED_ROLLBACK');
});

test('FROST 2-of-3 over NATS: the customer with either cloud party signs; the signature shares travel only to the customer, encrypted; a set without the customer is refused', async (t) => {
  const nats = await startNats();
  t.after(() => nats.stop());
  const ak = approvalKeys();
  const conns = await Promise.all(DEFAULT_PARTIES.map(() => connect({ servers: nats.url })));
  const watcher = await connect({ servers: nats.url });
  t.after(async () => { for (const c of [...conns, watcher]) await c.close(); });
  const nodes = await Promise.all(DEFAULT_PARTIES.map((p, i) => PartyNode.start({
    nc: conns[i]!, partyId: p.id, index: p.index, dataDir: mkdtempSync(join(tmpdir(), 'cosigner-party-')), provider: new SoftwareEnclaveProvider(randomBytes(32)),
    approvalKey: ak.publicKey, trust: testTrust(), allowTofu: true, scheme: schemeFor, roundTimeoutMs: 3000, log: () => undefined,
  })));
  t.after(async () => { for (const n of nodes) await n.stop(); });
  const [customer, cloud1] = nodes;
  const keyId = 'k_2of3';
  const kg = await customer!.coordinate({
    kind: 'KEYGEN', keyId, parties: DEFAULT_PARTIES.map((p) => p.id), context: Buffer.alloc(0), workspaceId: 'ws1', algorithm: 'EDDSA_ED25519',
    threshold: 2, count: 0, entryIndex: 0, presignatureId: Buffer.alloc(0), requestId: '', epoch: 0,
  });
  const { publicKey, chainCode } = JSON.parse(new TextDecoder().decode(kg)) as { publicKey: string; chainCode: string };
  const seen: PartyEnvelope[] = [];
  const sub = watcher.subscribe('cosigner.mpc.*.inbox', { callback: (_e, m) => { seen.push(PartyEnvelope.decode(m.data)); } });
  await watcher.flush();
  const start = (parties: string[], requestId: string, context: Uint8Array) => ({
    kind: 'SIGN' as const, keyId, parties, context: Buffer.from(context), workspaceId: 'ws1', algorithm: 'EDDSA_ED25519' as const,
    threshold: 2, count: 0, entryIndex: 0, presignatureId: Buffer.alloc(0), requestId, epoch: 0,
  });
  for (const cloud of ['cloud-1', 'cloud-2']) {
    seen.length = 0;
    const requestId = `r-${cloud}`;
    const msg = new TextEncoder().encode(`two of three with ${cloud}`);
    const ev = approvedEvent({ key: ak.privateKey, requestId, workspaceId: 'ws1', entries: [{ keyId, path: [44, 501, 0, 0, 1], payload: Buffer.from(msg), algorithm: 'EDDSA_ED25519' }] });
    const res = decodeSignResult((await customer!.coordinate(start(['customer', cloud], requestId, ev.bytes)))!);
    const derived = schemeFor('EDDSA_ED25519').derivePublicKey(Buffer.from(publicKey, 'base64'), Buffer.from(chainCode, 'base64'), 'm/44/501/0/0/1');
    assert.deepEqual(Buffer.from(res.publicKey), Buffer.from(derived.publicKey));
    const spki = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(res.publicKey).toString('base64url') }, format: 'jwk' });
    assert.ok(nodeVerify(null, msg, spki, res.signature));
    await watcher.flush();
    const sign = seen.filter((e) => e.kind === 'SIGN');
    // Round 1: the commitments, both ways. Round 2: one share, from the cloud party to the customer, encrypted.
    assert.deepEqual(sign.filter((e) => e.round === 1).map((e) => e.fromParty).sort(), ['customer', cloud].sort());
    const r2 = sign.filter((e) => e.round === 2);
    assert.deepEqual(r2.map((e) => [e.fromParty, e.toParty, e.encrypted]), [[cloud, 'customer', true]]);
    assert.equal(sign.some((e) => ![cloud, 'customer'].includes(e.fromParty)), false, 'the third party took no part');
  }
  sub.unsubscribe();
  // Without the customer party: its own enclave refuses to coordinate, and a cloud party refuses to join.
  const ev = approvedEvent({ key: ak.privateKey, requestId: 'r-clouds', workspaceId: 'ws1', entries: [{ keyId, path: [], payload: Buffer.from('x'), algorithm: 'EDDSA_ED25519' }] });
  await assert.rejects(customer!.coordinate(start(['cloud-1', 'cloud-2'], 'r-clouds', ev.bytes)), (e: PartyError) => e.code === 'ERR_SIGNING_SET');
  const startOnCloud = { ...start(['cloud-1', 'cloud-2'], 'r-clouds', ev.bytes), sessionId: Buffer.from(randomBytes(32)), initiator: 'customer', deadlineMs: 0, traceparent: '' };
  await assert.rejects(enclaveOf(cloud1!).sign(startOnCloud, { coordinator: false }), (e: PartyError) => e.code === 'ERR_SIGNING_SET');
});
