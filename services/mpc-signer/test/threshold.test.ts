/**
 * 2-of-3 keys through the signer service (gRPC CreateKey with threshold 2, three party processes):
 * ECDSA and EdDSA sign with one cloud party down: the signer moves to the other cloud party when
 * the one of the usual signing set does not answer. Every signature verified by OpenSSL and noble.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { RequestFailed, RequestSigned, type GetPublicKeyResponse, type KeyInfo } from '@cosigner/proto';
import { approvedEvent } from '../../../packages/party/test/helpers.ts';
import { signingSet } from '../src/signer.ts';
import { freePort } from '@cosigner/platform/testing';
import { startSystem, type System } from './system.ts';
import { countOn, waitEvent, waitPool } from './util.ts';

test('signingSet: the customer first, cloud parties in key order, unavailable ones left out, undefined when too few', () => {
  const all = ['customer', 'cloud-1', 'cloud-2'];
  assert.deepEqual(signingSet(all, 0), all);
  assert.deepEqual(signingSet(all, 2), ['customer', 'cloud-1']);
  assert.deepEqual(signingSet(all, 2, new Set(['cloud-1'])), ['customer', 'cloud-2']);
  assert.equal(signingSet(all, 2, new Set(['cloud-1', 'cloud-2'])), undefined);
  assert.equal(signingSet(all, 3, new Set(['cloud-2'])), undefined);
  // The customer is never left out, whatever is said about it.
  assert.deepEqual(signingSet(all, 2, new Set(['customer'])), ['customer', 'cloud-1']);
});

async function signed(s: System, id: string): Promise<RequestSigned> {
  const e = await waitEvent(s, id, 60_000);
  assert.equal(e.kind, 'signed', e.kind === 'failed' ? RequestFailed.decode(e.data).reason : '');
  assert.equal(await countOn(s, `cosigner.requests.signed.${id}`), 1);
  return RequestSigned.decode(e.data);
}

test('2-of-3 keys over gRPC: ECDSA and EdDSA sign with either cloud party down (failover to the other one)', async (t) => {
  const metricsPort = await freePort();
  const s = await startSystem({ env: { COSIGNER_POOL_TARGET: '2', COSIGNER_PRESIGN_BATCH: '2', COSIGNER_ROUND_TIMEOUT_MS: '20000' }, partyEnv: { customer: { METRICS_PORT: String(metricsPort) } } });
  const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  t.after(() => s.stop());
  const ek = await s.call<KeyInfo>('createKey', { workspaceId: 'ws1', algorithm: 'ECDSA_SECP256K1', threshold: 2, keyId: 'k_ecdsa_2of3' });
  const dk = await s.call<KeyInfo>('createKey', { workspaceId: 'ws1', algorithm: 'EDDSA_ED25519', threshold: 2, keyId: 'k_eddsa_2of3' });
  assert.equal(ek.threshold, 2);
  assert.equal(dk.threshold, 2);
  assert.deepEqual([...ek.parties].sort(), ['cloud-1', 'cloud-2', 'customer']);

  // The ECDSA pool fills with presignatures of the signing set customer + cloud-1.
  await waitPool(s, ek.keyId, 2);

  const signEcdsa = async (id: string, path: number[]): Promise<void> => {
    const preimage = Buffer.from(`transfer ${id}`);
    const digest = createHash('sha256').update(preimage).digest();
    const ev = approvedEvent({ key: s.ak.privateKey, requestId: id, workspaceId: 'ws1', entries: [{ keyId: ek.keyId, path, payload: digest, algorithm: 'ECDSA_SECP256K1' }] });
    await s.js.publish(`cosigner.requests.approved.${id}`, ev.bytes, { msgID: `${id}:approved` });
    const sig = (await signed(s, id)).signatures[0]!;
    const pk = await s.call<GetPublicKeyResponse>('getPublicKey', { keyId: ek.keyId, path });
    const rs = Buffer.concat([sig.r, sig.s]);
    assert.ok(secp256k1.verify(rs, digest, pk.publicKey, { prehash: false }));
    const aff = secp256k1.Point.fromBytes(pk.publicKey).toAffine();
    const b64 = (v: bigint): string => Buffer.from(v.toString(16).padStart(64, '0'), 'hex').toString('base64url');
    const jwk = createPublicKey({ key: { kty: 'EC', crv: 'secp256k1', x: b64(aff.x), y: b64(aff.y) }, format: 'jwk' });
    assert.ok(nodeVerify('sha256', preimage, { key: jwk, dsaEncoding: 'ieee-p1363' }, rs));
  };
  const signEddsa = async (id: string, path: number[]): Promise<void> => {
    const msg = Buffer.from(`stake ${id}`);
    const ev = approvedEvent({ key: s.ak.privateKey, requestId: id, workspaceId: 'ws1', entries: [{ keyId: dk.keyId, path, payload: msg, algorithm: 'EDDSA_ED25519' }] });
    await s.js.publish(`cosigner.requests.approved.${id}`, ev.bytes, { msgID: `${id}:approved` });
    const sig = (await signed(s, id)).signatures[0]!;
    const pk = await s.call<GetPublicKeyResponse>('getPublicKey', { keyId: dk.keyId, path });
    assert.ok(ed25519.verify(sig.signature, msg, pk.publicKey));
    const spki = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pk.publicKey).toString('base64url') }, format: 'jwk' });
    assert.ok(nodeVerify(null, msg, spki, sig.signature));
  };

  // cloud-2 down: both keys sign with customer + cloud-1.
  await s.procs['cloud-2']!.kill9();
  await signEcdsa('e-1', [44, 60, 0, 0, 1]);
  await signEddsa('d-1', [44, 501, 0, 0, 1]);
  await s.start('cloud-2');

  // cloud-1 down: both keys' usual set is customer + cloud-1; the signer moves to cloud-2. ECDSA
  // drops the pool presignature it had taken (nothing of it was sent) and makes one for the new set.
  await s.procs['cloud-1']!.kill9();
  await signEcdsa('e-2', [44, 60, 0, 0, 2]);
  assert.match(s.procs.customer!.stderr(), /signing set changed: a party did not answer/);
  await signEddsa('d-2', [44, 501, 0, 0, 2]);
  // Remembered for a while: the next requests go to cloud-2 directly.
  await signEcdsa('e-3', []);
  await signEddsa('d-3', []);
  assert.equal(s.procs.customer!.stderr().match(/signing set changed/g)?.length, 1, 'one failed attempt, then cloud-1 is left out');
  // Operators see it: the silent party and the moves.
  const m = await metrics();
  assert.match(m, /^cosigner_party_unavailable\{party="cloud-1"\} 1$/m);
  assert.match(m, /^cosigner_signing_set_moves_total [1-9]\d*$/m);
  await s.start('cloud-1');
  await signEddsa('d-4', [44, 501, 1, 0, 4]);
  await signEcdsa('e-4', [44, 60, 1, 0, 4]);
});

test('2-of-3 ECDSA failover survives kill -9 of the customer while it moves to the other cloud party: one signature per request', async (t) => {
  const slow = { COSIGNER_UNSAFE_TEST_SLOW_MS: '300' };
  const s = await startSystem({
    // A pool of one: after the first move it is empty and cannot refill (cloud-1 is down), so the
    // restarted signer also has to learn it from a failed refill, not only from a failed session.
    env: { COSIGNER_POOL_TARGET: '1', COSIGNER_PRESIGN_BATCH: '1', COSIGNER_ROUND_TIMEOUT_MS: '20000', COSIGNER_SIGNER_ACK_WAIT_MS: '3000' },
    partyEnv: { customer: slow, 'cloud-2': slow },
  });
  t.after(() => s.stop());
  const key = await s.call<KeyInfo>('createKey', { workspaceId: 'ws1', algorithm: 'ECDSA_SECP256K1', threshold: 2, keyId: 'k_fo_crash' });
  await waitPool(s, key.keyId, 1);
  await s.procs['cloud-1']!.kill9();
  // Kill the customer at different points of the move: during the presigning for the new set,
  // and later (plan recorded with its set, or signing under way). Wherever it lands, the request
  // ends signed, once, under the derived key.
  for (const [n, afterMs] of [[1, 400], [2, 1500]] as const) {
    const id = `fo-crash-${n}`;
    const digest = createHash('sha256').update(id).digest();
    const path = [44, 60, 0, 0, n];
    // A fresh customer process: it does not know yet that cloud-1 is down.
    if (n > 1) {
      await s.procs.customer!.kill9();
      await s.start('customer');
    }
    const seen = s.procs.customer!.stderr().match(/signing set changed/g)?.length ?? 0;
    const ev = approvedEvent({ key: s.ak.privateKey, requestId: id, workspaceId: 'ws1', entries: [{ keyId: key.keyId, path, payload: digest, algorithm: 'ECDSA_SECP256K1' }] });
    await s.js.publish(`cosigner.requests.approved.${id}`, ev.bytes, { msgID: `${id}:approved` });
    // The restarted customer does not remember that cloud-1 is down: it finds out again.
    for (let i = 0; (s.procs.customer!.stderr().match(/signing set changed/g)?.length ?? 0) <= seen; i++) {
      assert.ok(i < 600, 'the signer never moved to cloud-2');
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, afterMs));
    await s.procs.customer!.kill9();
    await s.start('customer');
    const sig = (await signed(s, id)).signatures[0]!;
    assert.equal(await countOn(s, `cosigner.requests.failed.${id}`), 0);
    const pk = await s.call<GetPublicKeyResponse>('getPublicKey', { keyId: key.keyId, path });
    assert.ok(secp256k1.verify(Buffer.concat([sig.r, sig.s]), digest, pk.publicKey, { prehash: false }));
  }
});
