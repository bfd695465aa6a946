/**
 * Presignature binding (CMP): a presignature signs the (request, entry, digest, path) it was first
 * used for and nothing else, on every party; a repeated session for the same entry (a restart)
 * gets the same shares back, hence the same signature.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { startNats } from '@cosigner/platform/testing';
import { PartyNode, SoftwareEnclaveProvider, schemeFor, decodeSignResult, DEFAULT_PARTIES, primeExtras, type PartyError } from '../src/index.ts';
import { approvalKeys, approvedEvent, testTrust } from './helpers.ts';
import { enclaveOf } from '../src/testing.ts';

/** nats-server and the three parties in this process (fixture primes), stopped after the test. */
async function threeParties(t: TestContext): Promise<{ ak: ReturnType<typeof approvalKeys>; nodes: PartyNode[] }> {
  const nats = await startNats();
  t.after(() => nats.stop());
  const ak = approvalKeys();
  const conns = await Promise.all(DEFAULT_PARTIES.map(() => connect({ servers: nats.url })));
  t.after(async () => { for (const c of conns) await c.close(); });
  const extras = primeExtras({ COSIGNER_TEST_PRIMES: '1' });
  const nodes = await Promise.all(DEFAULT_PARTIES.map((p, i) => PartyNode.start({
    nc: conns[i]!, partyId: p.id, index: p.index, dataDir: mkdtempSync(join(tmpdir(), 'cosigner-bind-')), provider: new SoftwareEnclaveProvider(randomBytes(32)),
    approvalKey: ak.publicKey, trust: testTrust(), allowTofu: true, scheme: schemeFor, roundTimeoutMs: 60_000, log: () => undefined, keygenExtras: extras,
  })));
  t.after(async () => { for (const n of nodes) await n.stop(); });
  return { ak, nodes };
}

test('CMP presignature: bound on first use, refused for another message, same signature when the entry is signed again', async (t) => {
  const { ak, nodes } = await threeParties(t);
  const [customer, cloud1] = nodes;
  const keyId = 'k_bind';
  const base = { keyId, parties: DEFAULT_PARTIES.map((p) => p.id), workspaceId: 'ws1', algorithm: 'ECDSA_SECP256K1' as const, threshold: 3, entryIndex: 0, epoch: 0 };
  const kg = JSON.parse(new TextDecoder().decode(await customer!.coordinate({ ...base, kind: 'KEYGEN', context: Buffer.alloc(0), count: 0, presignatureId: Buffer.alloc(0), requestId: '' }))) as { publicKey: string; chainCode: string };
  const pre = JSON.parse(new TextDecoder().decode(await customer!.coordinate({ ...base, kind: 'PRESIGN', context: Buffer.alloc(0), count: 2, presignatureId: Buffer.alloc(0), requestId: '' }))) as { presignatureIds: string[] };
  assert.equal(pre.presignatureIds.length, 2);
  const [p1] = pre.presignatureIds;
  const path = [44, 60, 0, 0, 1];
  const d1 = createHash('sha256').update('one').digest();
  const a1 = approvedEvent({ key: ak.privateKey, requestId: 'r1', workspaceId: 'ws1', entries: [{ keyId, path, payload: d1 }] });
  const sid = (presig: string, requestId: string) => createHash('sha256').update('cosigner-sign').update(presig).update(requestId).update('0').digest();
  const sign = (ctx: Uint8Array, requestId: string, presig: string) =>
    customer!.coordinate({ ...base, sessionId: sid(presig, requestId), kind: 'SIGN', context: Buffer.from(ctx), count: 0, presignatureId: Buffer.from(presig), requestId });
  const s1 = decodeSignResult((await sign(a1.bytes, 'r1', p1!))!);
  const derived = schemeFor('ECDSA_SECP256K1').derivePublicKey(Buffer.from(kg.publicKey, 'base64'), Buffer.from(kg.chainCode, 'base64'), 'm/44/60/0/0/1');
  assert.ok(secp256k1.verify(s1.signature, d1, derived.publicKey, { prehash: false }));

  // The same presignature for another request: refused by the coordinator's own enclave ...
  const d2 = createHash('sha256').update('two').digest();
  const a2 = approvedEvent({ key: ak.privateKey, requestId: 'r2', workspaceId: 'ws1', entries: [{ keyId, path, payload: d2 }] });
  await assert.rejects(sign(a2.bytes, 'r2', p1!), (e: PartyError) => e.code === 'ERR_PRESIGNATURE_BOUND');
  // ... and by a cloud party asked directly.
  await assert.rejects(enclaveOf(cloud1!).sign({ ...base, sessionId: Buffer.from(randomBytes(32)), initiator: 'customer', deadlineMs: 0, traceparent: '', kind: 'SIGN', context: Buffer.from(a2.bytes), count: 0, presignatureId: Buffer.from(p1!), requestId: 'r2' }, { coordinator: false }),
    (e: PartyError) => e.code === 'ERR_PRESIGNATURE_BOUND');

  // The same entry again (as after a coordinator restart): the cloud parties resend their stored shares.
  const again = decodeSignResult((await sign(a1.bytes, 'r1', p1!))!);
  assert.deepEqual(Buffer.from(again.signature), Buffer.from(s1.signature));
});

test('a presignature made for another signing set is refused by the coordinator itself, before anyone is asked (ERR_PRESIGNATURE_OTHER_SET, nothing sent); its own set signs with it', async (t) => {
  const { ak, nodes } = await threeParties(t);
  const customer = nodes[0]!;
  const keyId = 'k_other_set';
  const all = DEFAULT_PARTIES.map((p) => p.id);
  const base = { keyId, workspaceId: 'ws1', algorithm: 'ECDSA_SECP256K1' as const, threshold: 2, entryIndex: 0, epoch: 0 };
  const kg = JSON.parse(new TextDecoder().decode(await customer.coordinate({ ...base, parties: all, kind: 'KEYGEN', context: Buffer.alloc(0), count: 0, presignatureId: Buffer.alloc(0), requestId: '' }))) as { publicKey: string; chainCode: string };
  const pre = JSON.parse(new TextDecoder().decode(await customer.coordinate({ ...base, parties: ['customer', 'cloud-2'], kind: 'PRESIGN', context: Buffer.alloc(0), count: 1, presignatureId: Buffer.alloc(0), requestId: '' }))) as { presignatureIds: string[] };
  const p = pre.presignatureIds[0]!;
  const digest = createHash('sha256').update('other set').digest();
  const a = approvedEvent({ key: ak.privateKey, requestId: 'r-os', workspaceId: 'ws1', entries: [{ keyId, path: [], payload: digest }] });
  const sign = (parties: string[]) => customer.coordinate({ ...base, parties, kind: 'SIGN', context: Buffer.from(a.bytes), count: 0, presignatureId: Buffer.from(p), requestId: 'r-os' });
  await assert.rejects(sign(['customer', 'cloud-1']), (e: PartyError) => e.code === 'ERR_PRESIGNATURE_OTHER_SET' && e.nothingSent);
  const s = decodeSignResult((await sign(['customer', 'cloud-2']))!);
  assert.ok(secp256k1.verify(s.signature, digest, Buffer.from(kg.publicKey, 'base64'), { prehash: false }));
});
