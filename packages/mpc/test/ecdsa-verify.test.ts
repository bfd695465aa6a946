/**
 * The signer's release check for ECDSA (`verifyRecoverable`): signatures made by noble with the
 * derived private key pass; any change to r, s, the recovery id, the digest, the path, or a
 * high-S form fails. The expected recovery ids come from noble's own recovery.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p256 } from '@noble/curves/nist.js';
import { SECP256K1, SECP256R1, cmp, ecdsaSecp256k1Scheme, ecdsaSecp256r1Scheme } from '../src/index.ts';

for (const [name, noble, curve, scheme] of [
  ['secp256k1', secp256k1, SECP256K1, ecdsaSecp256k1Scheme],
  ['secp256r1', p256 as unknown as typeof secp256k1, SECP256R1, ecdsaSecp256r1Scheme],
] as const) {
  test(`verifyRecoverable (${name}): accepts exactly the signature and recovery id of the derived key`, () => {
    const x = BigInt(`0x${randomBytes(32).toString('hex')}`) % curve.n;
    const master = curve.encodePoint(curve.G.multiply(x));
    const chain = randomBytes(32);
    const path = 'm/44/60/0/0/7';
    const d = cmp.deriveEcdsa(curve, master, chain, cmp.parsePath(path));
    const dk = Buffer.from(((x + d.tweak) % curve.n).toString(16).padStart(64, '0'), 'hex');
    let seen = 0;
    for (let i = 0; i < 24; i++) {
      const digest = createHash('sha256').update(`m${i}`).digest();
      const rec = noble.sign(digest, dk, { prehash: false, format: 'recovered' }) as Uint8Array;
      const v = rec[0]!;
      const sig = rec.subarray(1);
      seen |= 1 << v;
      // noble agrees the recovery id recovers the derived key (independent check of the fixture).
      assert.deepEqual(noble.Signature.fromBytes(sig, 'compact').addRecoveryBit(v).recoverPublicKey(digest).toBytes(true), curve.encodePoint(d.publicKey));
      assert.equal(scheme.verifyRecoverable!(master, chain, path, digest, sig, v), true);
      assert.equal(scheme.verifyRecoverable!(master, chain, path, digest, sig, v ^ 1), false, 'wrong parity');
      assert.equal(scheme.verifyRecoverable!(master, chain, 'm/44/60/0/0/8', digest, sig, v), false, 'other path');
      const other = createHash('sha256').update(`x${i}`).digest();
      assert.equal(scheme.verifyRecoverable!(master, chain, path, other, sig, v), false, 'other digest');
      const bent = Uint8Array.from(sig);
      bent[40] = bent[40]! ^ 1;
      assert.equal(scheme.verifyRecoverable!(master, chain, path, digest, bent, v), false, 'changed s');
      // The high-S twin verifies under plain ECDSA but is refused (the system releases low S only).
      const s = BigInt(`0x${Buffer.from(sig.subarray(32)).toString('hex')}`);
      const high = Buffer.concat([sig.subarray(0, 32), Buffer.from((curve.n - s).toString(16).padStart(64, '0'), 'hex')]);
      assert.equal(scheme.verifyRecoverable!(master, chain, path, digest, high, v ^ 1), false, 'high S');
      assert.equal(scheme.verifyRecoverable!(master, chain, path, digest, new Uint8Array(64), v), false, 'zero r, s');
    }
    assert.ok((seen & 3) === 3, 'both parities were exercised');
  });
}
