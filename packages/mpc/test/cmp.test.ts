/**
 * CMP end to end: keygen (3-of-3 secp256k1, 2-of-3 secp256r1), presigning (single and batched),
 * online signing with and without an HD path, verification under OpenSSL (node:crypto) and
 * @noble/curves, derivation against @scure/bip32, presignature single use, codecs, refresh.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, verify as osslVerify } from 'node:crypto';
import { HDKey } from '@scure/bip32';
import { createBase58check } from '@scure/base';
import { sha256 } from '@noble/hashes/sha2.js';
import { SECP256K1, SECP256R1, type Curve, type Point } from '../src/curve.ts';
import { MpcError } from '../src/errors.ts';
import {
  decodeKeyShare, decodePresignature, deriveEcdsa, encodeKeyShare, encodePresignature, parsePath, publicInfo, rerandomize, signShare,
  type CmpPresignature, type EcdsaSignature,
} from '../src/cmp/index.ts';
import { keygen, presign, refresh, sign } from './cmp-helpers.ts';

const SPKI_PREFIX: Record<string, string> = {
  secp256k1: '3056301006072a8648ce3d020106052b8104000a034200',
  secp256r1: '3059301306072a8648ce3d020106082a8648ce3d030107034200',
};

/** DER SubjectPublicKeyInfo of an EC public key (uncompressed point). */
export function spki(c: Curve, P: Point): Buffer {
  return Buffer.concat([Buffer.from(SPKI_PREFIX[c.name]!, 'hex'), Buffer.from(P.toBytes(false))]);
}

function checkSig(c: Curve, pub: Point, preimage: Buffer, digest: Uint8Array, sig: EcdsaSignature): void {
  assert.ok(osslVerify('sha256', preimage, { key: spki(c, pub), format: 'der', type: 'spki' }, sig.der), 'OpenSSL verify');
  assert.ok(c.ecdsa.verify(sig.der, digest, pub.toBytes(true), { prehash: false, format: 'der' }), 'noble verify');
  assert.ok(sig.s <= c.n >> 1n, 'low S');
  const compact = new Uint8Array([...c.encodeScalar(sig.r), ...c.encodeScalar(sig.s)]);
  const rec = c.ecdsa.Signature.fromBytes(compact, 'compact').addRecoveryBit(sig.recoveryId).recoverPublicKey(digest);
  assert.ok(rec.equals(pub), 'recovery id');
}

const pick = (m: Map<number, CmpPresignature[]>, b: number): Map<number, CmpPresignature> => new Map([...m].map(([i, p]) => [i, p[b]!]));

test('3-of-3 secp256k1: keygen, presign, sign with path; OpenSSL, noble, BIP32', () => {
  const c = SECP256K1;
  const shares = keygen(c, 3, 3);
  const s1 = shares.get(1)!;
  for (const s of shares.values()) {
    assert.ok(s.publicKey.equals(s1.publicKey));
    assert.deepEqual(s.chainCode, s1.chainCode);
  }
  const info = publicInfo(s1);
  assert.equal(info.threshold, 3);
  assert.deepEqual(info.parties, [1, 2, 3]);
  // Share codec round trip, and strictness.
  const enc = encodeKeyShare(s1);
  const dec = decodeKeyShare(enc);
  assert.equal(dec.secret, s1.secret);
  assert.deepEqual(encodeKeyShare(dec), enc);
  assert.throws(() => decodeKeyShare(enc.subarray(0, enc.length - 1)), (e: MpcError) => e.code === 'ERR_MPC_PARSE');
  assert.throws(() => decodeKeyShare(new Uint8Array([...enc, 0])), (e: MpcError) => e.code === 'ERR_MPC_PARSE');

  // BIP32: the derived key equals @scure/bip32's public derivation from an xpub of (P, c).
  const path = parsePath('44/60/0/0/7');
  const d = deriveEcdsa(c, s1.publicKey, s1.chainCode, path);
  const xpubBytes = new Uint8Array([0x04, 0x88, 0xb2, 0x1e, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...s1.chainCode, ...c.encodePoint(s1.publicKey)]);
  const hd = HDKey.fromExtendedKey(createBase58check(sha256).encode(xpubBytes));
  const child = hd.derive('m/44/60/0/0/7');
  assert.deepEqual(child.publicKey, c.encodePoint(d.publicKey));
  assert.deepEqual(child.chainCode, d.chainCode);
  assert.ok(d.publicKey.equals(s1.publicKey.add(c.G.multiply(d.tweak))));

  const pres = presign(shares, [1, 2, 3]);
  const preimage = Buffer.from('transfer 1 ETH');
  const digest = createHash('sha256').update(preimage).digest();
  const sigs = sign(shares, pick(pres, 0), [1, 2, 3], digest, d.tweak);
  const sig = sigs.get(1)!;
  for (const s of sigs.values()) assert.deepEqual(s, sig);
  checkSig(c, d.publicKey, preimage, digest, sig);
});

test('2-of-3 secp256r1: any 2 signers, batched presigning, master and derived keys', () => {
  const c = SECP256R1;
  const shares = keygen(c, 3, 2);
  const pub = shares.get(1)!.publicKey;
  const pres = presign(shares, [1, 3], 2);
  assert.equal(pres.get(1)!.length, 2);
  const pre1 = Buffer.from('one');
  const d1 = createHash('sha256').update(pre1).digest();
  checkSig(c, pub, pre1, d1, sign(shares, pick(pres, 0), [1, 3], d1).get(3)!);
  const der = deriveEcdsa(c, pub, shares.get(1)!.chainCode, [0, 1]);
  const pre2 = Buffer.from('two');
  const d2 = createHash('sha256').update(pre2).digest();
  checkSig(c, der.publicKey, pre2, d2, sign(shares, pick(pres, 1), [1, 3], d2, der.tweak).get(1)!);
  // Another pair of signers.
  const p23 = presign(shares, [2, 3]);
  checkSig(c, pub, pre1, d1, sign(shares, pick(p23, 0), [2, 3], d1).get(2)!);
  // Too few signers is a usage error.
  assert.throws(() => presign(shares, [2]), (e: MpcError) => e.code === 'ERR_MPC_USAGE');
});

test('a presignature signs exactly one message; binding survives encoding', () => {
  const c = SECP256K1;
  const shares = keygen(c, 2, 2);
  const pres = presign(shares, [1, 2]);
  const p = pres.get(1)![0]!;
  const bytes = encodePresignature(p);
  const q = decodePresignature(bytes);
  assert.deepEqual(encodePresignature(q), bytes);
  const dA = createHash('sha256').update('A').digest();
  const dB = createHash('sha256').update('B').digest();
  const s1 = signShare(p, dA, 0n);
  assert.equal(signShare(p, dA, 0n), s1, 'same message: same share');
  assert.throws(() => signShare(p, dB, 0n), (e: MpcError) => e.code === 'ERR_MPC_PRESIGNATURE_USED');
  assert.throws(() => signShare(p, dA, 1n), (e: MpcError) => e.code === 'ERR_MPC_PRESIGNATURE_USED');
  const persisted = decodePresignature(encodePresignature(p));
  assert.equal(signShare(persisted, dA, 0n), s1);
  assert.throws(() => signShare(persisted, dB, 0n), (e: MpcError) => e.code === 'ERR_MPC_PRESIGNATURE_USED');
  // The signing protocol refuses a second message too.
  const sigA = sign(shares, pick(pres, 0), [1, 2], dA).get(1)!;
  assert.ok(c.ecdsa.verify(sigA.der, dA, shares.get(1)!.publicKey.toBytes(true), { prehash: false, format: 'der' }));
  assert.throws(() => sign(shares, pick(pres, 0), [1, 2], dB), (e: MpcError) => e.code === 'ERR_MPC_PRESIGNATURE_USED');
  // Strict decoding.
  assert.throws(() => decodePresignature(bytes.subarray(1)), (e: MpcError) => e.code === 'ERR_MPC_PARSE');
  assert.throws(() => decodePresignature(new Uint8Array([...bytes, 1])), (e: MpcError) => e.code === 'ERR_MPC_PARSE');
});

test('refresh: same key, new shares and Paillier keys; old shares stop working', () => {
  const c = SECP256K1;
  const shares = keygen(c, 2, 2);
  const fresh = refresh(shares);
  for (const i of [1, 2]) {
    assert.ok(fresh.get(i)!.publicKey.equals(shares.get(i)!.publicKey));
    assert.notEqual(fresh.get(i)!.secret, shares.get(i)!.secret);
    assert.notEqual(fresh.get(i)!.paillier.pub.N, shares.get(i)!.paillier.pub.N);
    assert.equal(fresh.get(i)!.epoch, 1);
  }
  const digest = createHash('sha256').update('after refresh').digest();
  const sig = sign(fresh, pick(presign(fresh, [1, 2]), 0), [1, 2], digest).get(1)!;
  assert.ok(c.ecdsa.verify(sig.der, digest, fresh.get(1)!.publicKey.toBytes(true), { prehash: false, format: 'der' }));
  // An old share mixed with a new one: presigning aborts.
  const mixed = new Map([[1, fresh.get(1)!], [2, shares.get(2)!]]);
  assert.throws(() => presign(mixed, [1, 2]), (e: MpcError) => e.code === 'ERR_MPC_PROOF' || e.code === 'ERR_MPC_PARSE');
  // And old shares combined with their secrets no longer match the new public shares.
  assert.ok(!c.G.multiply(shares.get(1)!.secret).equals(fresh.get(1)!.publicShares.get(1)!));
});

/** R of a finished signature, recomputed from (r, s) and the derived key (SEC 1 §4.1.4 step 1.5). */
function noncePoint(c: Curve, pub: Point, digest: Uint8Array, sig: EcdsaSignature): Point {
  const e = c.mod(BigInt('0x' + Buffer.from(digest).toString('hex')));
  const w = c.inv(sig.s);
  return c.G.multiply(c.mod(e * w)).add(pub.multiply(c.mod(sig.r * w)));
}

for (const [c, n, t, signers] of [[SECP256K1, 3, 2, [1, 3]], [SECP256R1, 3, 3, [1, 2, 3]]] as const) {
  test(`Groth-Shoup re-randomization (${c.name}, ${t}-of-${n}): R' = ρ·R differs from the presignature's R, depends on digest and path; OpenSSL and noble verify at master and derived keys`, () => {
    const shares = keygen(c, n, t);
    const s1 = shares.get(1)!;
    const pres = presign(shares, [...signers], 4);
    const paths = [[], [0], [44, 60, 0, 0, 7], [2147483647, 1]];
    for (let b = 0; b < 4; b++) {
      const d = deriveEcdsa(c, s1.publicKey, s1.chainCode, paths[b]!);
      const preimage = Buffer.from(`message ${b} on ${c.name}`);
      const digest = createHash('sha256').update(preimage).digest();
      const raw = pick(pres, b).get(1)!;
      // Before signing, anyone may compute ρ for a candidate request, but only with the digest and
      // tweak: R' for another digest, or for another path, is another point.
      const rr = rerandomize(raw, digest, d.tweak);
      const other = createHash('sha256').update(preimage).update('x').digest();
      const R1 = rr.point();
      assert.ok(!R1.equals(raw.R), 'R\' is not the raw presignature R');
      assert.equal(c.xModN(R1), rr.r, 'r\' (OpenSSL ECDH) is x(ρ·R) (noble)');
      assert.notEqual(rerandomize(raw, other, d.tweak).r, rr.r, 'another digest gives another R\'');
      assert.notEqual(rerandomize(raw, digest, c.mod(d.tweak + 1n)).r, rr.r, 'another tweak gives another R\'');
      assert.ok(R1.equals(raw.R.multiply(rr.rho)));
      // Every signer derives the same ρ from its own copy.
      for (const i of signers) assert.equal(rerandomize(pick(pres, b).get(i)!, digest, d.tweak).rho, rr.rho);
      const sigs = sign(shares, pick(pres, b), [...signers], digest, d.tweak);
      const sig = sigs.get(signers[0])!;
      for (const s of sigs.values()) assert.deepEqual(s, sig);
      checkSig(c, d.publicKey, preimage, digest, sig);
      // The signature was made with R' (not R): its nonce point recomputed from (r, s) is ±R'.
      const N = noncePoint(c, d.publicKey, digest, sig);
      assert.ok(N.equals(R1) || N.equals(R1.negate()), 'signature nonce is R\'');
      assert.notEqual(sig.r, c.xModN(raw.R), 'r is not x(R) of the raw presignature');
    }
  });
}

test('a presignature bound under version 1 (a share released over the raw R) is refused; an unused one still reads', () => {
  const shares = keygen(SECP256K1, 2, 2);
  const p = presign(shares, [1, 2]).get(1)![0]!;
  const v2 = encodePresignature(p);
  const v1 = Uint8Array.from(v2);
  v1[0] = 1;
  assert.equal(decodePresignature(v1).binding, undefined);
  signShare(p, createHash('sha256').update('m').digest(), 0n);
  const bound = encodePresignature(p);
  bound[0] = 1;
  assert.throws(() => decodePresignature(bound), (e: MpcError) => e.code === 'ERR_MPC_PARSE');
});

test('HD path parsing refuses hardened indices', () => {
  assert.deepEqual(parsePath('m/44/60/0/0/0'), [44, 60, 0, 0, 0]);
  assert.deepEqual(parsePath(''), []);
  assert.throws(() => parsePath("44'/60"), (e: MpcError) => e.code === 'ERR_MPC_USAGE');
  assert.throws(() => parsePath('2147483648'), (e: MpcError) => e.code === 'ERR_MPC_USAGE');
});
