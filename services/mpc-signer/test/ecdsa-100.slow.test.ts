/**
 * Slow suite (npm run test:slow): 100 ECDSA secp256k1 requests across several derivation paths,
 * with three party processes, the presignature pool refilling as it goes, and every signature
 * verified independently (OpenSSL through node:crypto over the SHA-256 preimage, and noble), with
 * exactly one `signed` event per request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { RequestFailed, RequestSigned, type GetPublicKeyResponse, type KeyInfo } from '@cosigner/proto';
import { approvedEvent } from '../../../packages/party/test/helpers.ts';
import { startSystem } from './system.ts';
import { countOn, waitEvent } from './util.ts';

/** SEC1 compressed secp256k1 point as an SPKI KeyObject, through JWK (OpenSSL parses it). */
function spki(compressed: Uint8Array): ReturnType<typeof createPublicKey> {
  const p = secp256k1.Point.fromBytes(compressed).toAffine();
  const b64 = (v: bigint) => Buffer.from(v.toString(16).padStart(64, '0'), 'hex').toString('base64url');
  return createPublicKey({ key: { kty: 'EC', crv: 'secp256k1', x: b64(p.x), y: b64(p.y) }, format: 'jwk' });
}

test('ECDSA: 100 requests across derivation paths, each verified by OpenSSL and noble, one signature each', { timeout: 1_800_000 }, async (t) => {
  const s = await startSystem({ env: { COSIGNER_POOL_TARGET: '20', COSIGNER_PRESIGN_BATCH: '5', COSIGNER_POOL_CONCURRENCY: '1', COSIGNER_ROUND_TIMEOUT_MS: '120000' } });
  t.after(() => s.stop());
  const key = await s.call<KeyInfo>('createKey', { workspaceId: 'ws1', algorithm: 'ECDSA_SECP256K1', threshold: 0, keyId: 'k_hundred' });
  const N = 100;
  const jobs = Array.from({ length: N }, (_, i) => ({ id: `ec100-${i}`, path: [44, 60, i % 4, 0, i], pre: Buffer.from(`ecdsa preimage ${i}`) }));
  for (const j of jobs) {
    const digest = createHash('sha256').update(j.pre).digest();
    const ev = approvedEvent({ key: s.ak.privateKey, requestId: j.id, workspaceId: 'ws1', entries: [{ keyId: key.keyId, path: j.path, payload: digest, algorithm: 'ECDSA_SECP256K1' }] });
    await s.js.publish(`cosigner.requests.approved.${j.id}`, ev.bytes, { msgID: `${j.id}:approved` });
  }
  for (const j of jobs) {
    const r = await waitEvent(s, j.id, 900_000);
    assert.equal(r.kind, 'signed', r.kind === 'failed' ? RequestFailed.decode(r.data).reason : '');
    const sig = RequestSigned.decode(r.data).signatures[0]!;
    const want = await s.call<GetPublicKeyResponse>('getPublicKey', { keyId: key.keyId, path: j.path });
    assert.deepEqual(Buffer.from(sig.publicKey), Buffer.from(want.publicKey));
    assert.ok(nodeVerify('sha256', j.pre, spki(want.publicKey), sig.der), `OpenSSL ${j.id}`);
    assert.ok(secp256k1.verify(sig.signature, createHash('sha256').update(j.pre).digest(), want.publicKey, { prehash: false }), `noble ${j.id}`);
    assert.equal(await countOn(s, `cosigner.requests.signed.${j.id}`), 1);
  }
});
