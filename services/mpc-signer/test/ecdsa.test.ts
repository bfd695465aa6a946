/**
 * ECDSA (CMP) end to end with three party processes: secp256k1 and secp256r1 keys, presignature
 * pool, signatures on several paths verified independently (noble, OpenSSL via node:crypto for
 * SHA-256 preimages, and for ETH the sender recovered by viem from the signed EIP-1559
 * transaction equals the key's address); refresh keeps the public key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p256 } from '@noble/curves/nist.js';
import { keccak256, parseTransaction, recoverTransactionAddress, serializeTransaction, type TransactionSerializableEIP1559 } from 'viem';
import { RequestFailed, RequestSigned, type GetPublicKeyResponse, type KeyInfo, type PoolStatusResponse } from '@cosigner/proto';
import { approvedEvent } from '../../../packages/party/test/helpers.ts';
import { startSystem } from './system.ts';
import { countOn, waitEvent } from './util.ts';

function spkiOf(curve: 'secp256k1' | 'prime256v1', compressed: Uint8Array): ReturnType<typeof createPublicKey> {
  const pt = (curve === 'secp256k1' ? secp256k1 : p256).Point.fromBytes(compressed);
  const aff = pt.toAffine();
  const b64 = (v: bigint) => Buffer.from(v.toString(16).padStart(64, '0'), 'hex').toString('base64url');
  return createPublicKey({ key: { kty: 'EC', crv: curve === 'secp256k1' ? 'secp256k1' : 'P-256', x: b64(aff.x), y: b64(aff.y) }, format: 'jwk' });
}

test('ECDSA secp256k1 + secp256r1: keygen, pool, signing on several paths, ETH transaction sender, refresh', async (t) => {
  const s = await startSystem({ env: { COSIGNER_POOL_TARGET: '4', COSIGNER_PRESIGN_BATCH: '2', COSIGNER_POOL_CONCURRENCY: '1', COSIGNER_ROUND_TIMEOUT_MS: '60000' } });
  t.after(() => s.stop());
  const k1 = await s.call<KeyInfo>('createKey', { workspaceId: 'ws1', algorithm: 'ECDSA_SECP256K1', threshold: 0, keyId: 'k_eth' });
  assert.equal(k1.publicKey.length, 33);
  const r1 = await s.call<KeyInfo>('createKey', { workspaceId: 'ws1', algorithm: 'ECDSA_SECP256R1', threshold: 0, keyId: 'k_p256' });

  // ETH: a real EIP-1559 transaction; the payload is keccak256 of its unsigned serialization.
  const path = [44, 60, 0, 0, 3];
  const pk = await s.call<GetPublicKeyResponse>('getPublicKey', { keyId: k1.keyId, path });
  assert.match(pk.address, /^0x[0-9a-fA-F]{40}$/);
  const tx: TransactionSerializableEIP1559 = { type: 'eip1559', chainId: 11155111, nonce: 7, to: '0x000000000000000000000000000000000000dEaD', value: 10n ** 15n, maxFeePerGas: 30_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n, gas: 21000n };
  const unsigned = serializeTransaction(tx);
  const digest = Buffer.from(keccak256(unsigned).slice(2), 'hex');
  const ev = approvedEvent({ key: s.ak.privateKey, requestId: 'eth-1', workspaceId: 'ws1', entries: [{ keyId: k1.keyId, path, payload: digest, rawTx: Buffer.from(unsigned.slice(2), 'hex'), algorithm: 'ECDSA_SECP256K1' }] });
  await s.js.publish('cosigner.requests.approved.eth-1', ev.bytes, { msgID: 'eth-1:approved' });
  const e = await waitEvent(s, 'eth-1', 120_000);
  assert.equal(e.kind, 'signed', e.kind === 'failed' ? RequestFailed.decode(e.data).reason : '');
  const sig = RequestSigned.decode(e.data).signatures[0]!;
  const signedTx = serializeTransaction(tx, { r: `0x${Buffer.from(sig.r).toString('hex')}`, s: `0x${Buffer.from(sig.s).toString('hex')}`, yParity: sig.recoveryId & 1 });
  assert.equal((await recoverTransactionAddress({ serializedTransaction: signedTx as `0x02${string}` })).toLowerCase(), pk.address.toLowerCase());
  assert.equal(parseTransaction(signedTx).nonce, 7);

  // Several paths, both curves; SHA-256 preimages verified by OpenSSL (DER) and noble.
  const jobs: { id: string; key: KeyInfo; path: number[]; pre: Buffer }[] = [];
  for (let i = 0; i < 4; i++) {
    const key = i % 2 === 0 ? k1 : r1;
    jobs.push({ id: `ec-${i}`, key, path: [44, 60, i % 3, 0, i], pre: Buffer.from(`preimage ${i}`) });
  }
  for (const j of jobs) {
    const d = createHash('sha256').update(j.pre).digest();
    const a = approvedEvent({ key: s.ak.privateKey, requestId: j.id, workspaceId: 'ws1', entries: [{ keyId: j.key.keyId, path: j.path, payload: d }] });
    await s.js.publish(`cosigner.requests.approved.${j.id}`, a.bytes, { msgID: `${j.id}:approved` });
  }
  for (const j of jobs) {
    const r = await waitEvent(s, j.id, 180_000);
    assert.equal(r.kind, 'signed', r.kind === 'failed' ? RequestFailed.decode(r.data).reason : '');
    const g = RequestSigned.decode(r.data).signatures[0]!;
    const want = await s.call<GetPublicKeyResponse>('getPublicKey', { keyId: j.key.keyId, path: j.path });
    assert.deepEqual(Buffer.from(g.publicKey), Buffer.from(want.publicKey));
    const curve = j.key.algorithm === 'ECDSA_SECP256K1' ? 'secp256k1' : 'prime256v1';
    assert.ok(nodeVerify('sha256', j.pre, spkiOf(curve, want.publicKey), g.der), `OpenSSL verify ${j.id}`);
    const noble = j.key.algorithm === 'ECDSA_SECP256K1' ? secp256k1 : p256;
    assert.ok(noble.verify(g.signature, createHash('sha256').update(j.pre).digest(), want.publicKey, { prehash: false }));
    assert.equal(await countOn(s, `cosigner.requests.signed.${j.id}`), 1);
  }
  const pool = await s.call<PoolStatusResponse>('getPoolStatus', { keyId: '' });
  assert.equal(pool.pools.length, 2);
  assert.ok(pool.pools.every((p) => p.target === 4));

  // Refresh: same public key, new epoch; signing still works.
  const before = await s.call<GetPublicKeyResponse>('getPublicKey', { keyId: k1.keyId, path });
  const rk = await s.call<KeyInfo>('refreshKey', { keyId: k1.keyId });
  assert.equal(rk.epoch, 1);
  assert.deepEqual(Buffer.from(rk.publicKey), Buffer.from(k1.publicKey));
  const after = await s.call<GetPublicKeyResponse>('getPublicKey', { keyId: k1.keyId, path });
  assert.deepEqual(after.publicKey, before.publicKey);
  const d2 = createHash('sha256').update('after refresh').digest();
  const a2 = approvedEvent({ key: s.ak.privateKey, requestId: 'ec-refreshed', workspaceId: 'ws1', entries: [{ keyId: k1.keyId, path, payload: d2 }] });
  await s.js.publish('cosigner.requests.approved.ec-refreshed', a2.bytes, { msgID: 'ec-refreshed:approved' });
  const r2 = await waitEvent(s, 'ec-refreshed', 120_000);
  assert.equal(r2.kind, 'signed', r2.kind === 'failed' ? RequestFailed.decode(r2.data).reason : '');
});
