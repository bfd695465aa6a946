import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { testPrimes, generatePedersen, PaillierSecretKey, PedersenParams, isqrt, PrimePool, generateAuxiliary, auxiliaryFromPrimes } from '../src/arith/index.ts';
import { Transcript } from '../src/cmp/proofs/transcript.ts';
import { proveMod, verifyMod, encodeModProof, decodeModProof, MOD_ITERATIONS, type ModProof } from '../src/cmp/proofs/mod.ts';
import { provePrm, verifyPrm, encodePrmProof, decodePrmProof, PRM_ITERATIONS, type PrmProof } from '../src/cmp/proofs/prm.ts';
import { proveFac, verifyFac, encodeFacProof, decodeFacProof, type FacProof } from '../src/cmp/proofs/fac.ts';
import { MpcError, MpcParseError } from '../src/errors.ts';

const P = testPrimes();
const SESSION = new Uint8Array(32).fill(7);
const OTHER_SESSION = new Uint8Array(32).fill(8);
const CURVE_Q = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n; // secp256k1 order
const tr = (label: string, session = SESSION, party = 1) => Transcript.bound(label, session, party);

const sk = PaillierSecretKey.fromPrimes(P[4]!, P[5]!);
const N = sk.pub.N;
const ped = generatePedersen(P[6]!, P[7]!);
const pedPhi = (P[6]! - 1n) * (P[7]! - 1n);
const pedPub = ped.params.publicOnly();

/** Integer tamperings of a value modulo-ish n (bit flip, 0, 1, n, n+1, negative, +1). */
function variants(v: bigint, n: bigint): bigint[] {
  return [v ^ 1n, v ^ (1n << 100n), 0n, 1n, n, n + 1n, -v, v + 1n, -1n].filter((x) => x !== v);
}

test('transcript: deterministic, unambiguous, fork-independent, challenges in range', () => {
  const a = new Transcript('x').append('a', 'bc').challengeScalar(CURVE_Q);
  const b = new Transcript('x').append('ab', 'c').challengeScalar(CURVE_Q);
  const a2 = new Transcript('x').append('a', 'bc').challengeScalar(CURVE_Q);
  assert.equal(a, a2);
  assert.notEqual(a, b);
  // Same bytes, different types do not collide.
  const c1 = new Transcript('x').append('v', 1).challengeScalar(CURVE_Q);
  const c2 = new Transcript('x').append('v', 1n).challengeScalar(CURVE_Q);
  const c3 = new Transcript('x').append('v', '1').challengeScalar(CURVE_Q);
  assert.equal(new Set([c1, c2, c3]).size, 3);
  assert.notEqual(new Transcript('x').append('v', -5n).challengeScalar(CURVE_Q), new Transcript('x').append('v', 5n).challengeScalar(CURVE_Q));
  assert.notEqual(new Transcript('x').challengeScalar(CURVE_Q), new Transcript('y').challengeScalar(CURVE_Q));
  // Consecutive challenges differ and depend on the history.
  const t = new Transcript('seq');
  const f = t.fork();
  const e1 = t.challengeScalar(CURVE_Q);
  const e2 = t.challengeScalar(CURVE_Q);
  assert.notEqual(e1, e2);
  assert.equal(f.challengeScalar(CURVE_Q), e1);
  f.append('more', 1);
  assert.notEqual(f.challengeScalar(CURVE_Q), e2);
  assert.equal(tr('l').challengeSigned(CURVE_Q), tr('l').challengeSigned(CURVE_Q));
  assert.notEqual(tr('l').challengeSigned(CURVE_Q), tr('l', OTHER_SESSION).challengeSigned(CURVE_Q));
  assert.notEqual(tr('l').challengeSigned(CURVE_Q), tr('l', SESSION, 2).challengeSigned(CURVE_Q));
  let neg = 0;
  for (let i = 0; i < 200; i++) {
    const tt = new Transcript('r').append('i', i);
    const s = tt.challengeSigned(10n);
    assert.ok(s >= -10n && s <= 10n);
    if (s < 0n) neg++;
    const m = tt.challengeModN(1000003n);
    assert.ok(m >= 0n && m < 1000003n);
    assert.equal(tt.challengeBits(13).length, 13);
  }
  assert.ok(neg > 40 && neg < 160);
  assert.throws(() => new Transcript('x').append('n', -1), MpcError);
  assert.throws(() => new Transcript('x').append('n', 1.5), MpcError);
});

test('Π^mod: honest proof verifies and round-trips; wrong transcript / N refused', () => {
  const proof = proveMod({ N, p: sk.p, q: sk.q }, tr('mod'));
  // 128 repetitions (issue 13 item 5): a proof of the paper's 80 is refused, whatever its rounds.
  assert.equal(MOD_ITERATIONS, 128);
  assert.equal(proof.x.length, MOD_ITERATIONS);
  const cut = <T,>(v: readonly T[]): T[] => v.slice(0, 80);
  assert.ok(!verifyMod(N, { w: proof.w, x: cut(proof.x), a: cut(proof.a), b: cut(proof.b), z: cut(proof.z) }, tr('mod')));
  assert.ok(verifyMod(N, proof, tr('mod')));
  const dec = decodeModProof(encodeModProof(proof));
  assert.deepEqual(dec, proof);
  assert.ok(verifyMod(N, dec, tr('mod')));
  assert.ok(!verifyMod(N, proof, tr('mod', OTHER_SESSION)));
  assert.ok(!verifyMod(N, proof, tr('mod', SESSION, 2)));
  assert.ok(!verifyMod(N, proof, tr('prm')));
  const other = PaillierSecretKey.fromPrimes(P[8]!, P[9]!).pub.N;
  assert.ok(!verifyMod(other, proof, tr('mod')));
  assert.ok(!verifyMod(N + 2n, proof, tr('mod')));
  assert.ok(!verifyMod(P[4]!, proof, tr('mod'))); // a prime is not a Blum modulus
  assert.throws(() => proveMod({ N: 13n * 17n, p: 13n, q: 17n }, tr('mod')), MpcError); // 17 ≡ 1 mod 4
});

test('Π^mod: every tampered field is refused', () => {
  const proof = proveMod({ N, p: sk.p, q: sk.q }, tr('mod'));
  const bad: Array<[string, ModProof]> = [];
  for (const w of variants(proof.w, N)) bad.push([`w=${w === 0n ? '0' : '…'}`, { ...proof, w }]);
  bad.push(['w=x0', { ...proof, w: proof.x[0]! }]);
  for (const i of [0, 41]) {
    const set = <T,>(arr: readonly T[], v: T) => arr.map((o, j) => (j === i ? v : o));
    for (const v of variants(proof.x[i]!, N)) bad.push([`x[${i}]`, { ...proof, x: set(proof.x, v) }]);
    for (const v of variants(proof.z[i]!, N)) bad.push([`z[${i}]`, { ...proof, z: set(proof.z, v) }]);
    bad.push([`a[${i}]`, { ...proof, a: set(proof.a, !proof.a[i]) }]);
    bad.push([`b[${i}]`, { ...proof, b: set(proof.b, !proof.b[i]) }]);
    bad.push([`swap x/z[${i}]`, { ...proof, x: proof.z, z: proof.x }]);
    bad.push([`x[${i}]=N-x`, { ...proof, x: set(proof.x, N - proof.x[i]!) }]); // x^4 unchanged? no: (-x)^4 = x^4, so must still verify
  }
  bad.push(['short', { ...proof, x: proof.x.slice(1), a: proof.a.slice(1), b: proof.b.slice(1), z: proof.z.slice(1) }]);
  for (const [name, p] of bad) {
    const ok = verifyMod(N, p, tr('mod'));
    if (name.includes('=N-x')) assert.ok(ok, 'the other fourth root is also valid');
    else assert.ok(!ok, name);
  }
});

test('Π^mod: strict decoding', () => {
  const enc = encodeModProof(proveMod({ N, p: sk.p, q: sk.q }, tr('mod')));
  assert.throws(() => decodeModProof(enc.subarray(0, enc.length - 1)), MpcParseError);
  assert.throws(() => decodeModProof(Uint8Array.from([...enc, 0])), MpcParseError);
  assert.throws(() => decodeModProof(Uint8Array.from([0x62, ...enc.subarray(1)])), MpcParseError);
  const badCount = Uint8Array.from(enc);
  badCount[2] = 79;
  assert.throws(() => decodeModProof(badCount), MpcParseError);
  const badFlags = Uint8Array.from(enc);
  const wLen = (badFlags[3]! << 24) | (badFlags[4]! << 16) | (badFlags[5]! << 8) | badFlags[6]!;
  badFlags[7 + wLen] = 4;
  assert.throws(() => decodeModProof(badFlags), MpcParseError);
  assert.throws(() => decodeModProof(new Uint8Array(0)), MpcParseError);
});

test('Π^prm: honest proof verifies; tampering, other params and transcripts are refused', () => {
  const proof = provePrm(ped.params, ped.lambda, pedPhi, tr('prm'));
  assert.equal(PRM_ITERATIONS, 128);
  assert.equal(proof.A.length, PRM_ITERATIONS);
  assert.ok(!verifyPrm(pedPub, { A: proof.A.slice(0, 80), z: proof.z.slice(0, 80) }, tr('prm')));
  assert.ok(verifyPrm(pedPub, proof, tr('prm')));
  const dec = decodePrmProof(encodePrmProof(proof));
  assert.deepEqual(dec, proof);
  assert.ok(verifyPrm(PedersenParams.decode(pedPub.encode()), dec, tr('prm')));
  assert.ok(!verifyPrm(pedPub, proof, tr('prm', OTHER_SESSION)));
  assert.ok(!verifyPrm(pedPub, proof, tr('prm', SESSION, 3)));
  const { N: Nh, s, t } = pedPub;
  assert.ok(!verifyPrm(new PedersenParams(Nh, t, s), proof, tr('prm')));
  assert.ok(!verifyPrm(new PedersenParams(Nh, (s * t) % Nh, t), proof, tr('prm')));
  const other = generatePedersen(P[8]!, P[9]!).params.publicOnly();
  assert.ok(!verifyPrm(other, proof, tr('prm')));
  const bad: Array<[string, PrmProof]> = [];
  for (const i of [0, 40]) {
    const set = (arr: readonly bigint[], v: bigint) => arr.map((o, j) => (j === i ? v : o));
    for (const v of variants(proof.A[i]!, Nh)) bad.push([`A[${i}]`, { ...proof, A: set(proof.A, v) }]);
    for (const v of variants(proof.z[i]!, Nh)) bad.push([`z[${i}]`, { ...proof, z: set(proof.z, v) }]);
  }
  bad.push(['swap', { A: proof.z, z: proof.A }]);
  bad.push(['short', { A: proof.A.slice(1), z: proof.z.slice(1) }]);
  for (const [name, p] of bad) assert.ok(!verifyPrm(pedPub, p, tr('prm')), name);
  // A prover that does not know λ (s not in <t>) cannot answer: wrong λ is caught at proving time.
  assert.throws(() => provePrm(ped.params, ped.lambda + 1n, pedPhi, tr('prm')), MpcError);
  assert.throws(() => provePrm(ped.params, ped.lambda, pedPhi + 2n, tr('prm')), MpcError);
  const enc = encodePrmProof(proof);
  assert.throws(() => decodePrmProof(enc.subarray(0, enc.length - 3)), MpcParseError);
  assert.throws(() => decodePrmProof(Uint8Array.from([...enc, 1])), MpcParseError);
  assert.throws(() => decodePrmProof(Uint8Array.from([0x61, ...enc.subarray(1)])), MpcParseError);
});

test('Π^fac: honest proof verifies (public and CRT verifier); tampering and wrong statements refused', () => {
  const proof = proveFac({ N, p: sk.p, q: sk.q }, pedPub, tr('fac'), CURVE_Q);
  assert.ok(verifyFac(N, pedPub, proof, tr('fac'), CURVE_Q));
  assert.ok(verifyFac(N, ped.params, proof, tr('fac'), CURVE_Q)); // verifier's own factors → CRT
  const dec = decodeFacProof(encodeFacProof(proof));
  assert.deepEqual(dec, proof);
  assert.ok(verifyFac(N, ped.params, dec, tr('fac'), CURVE_Q));
  assert.ok(!verifyFac(N, ped.params, proof, tr('fac', OTHER_SESSION), CURVE_Q));
  assert.ok(!verifyFac(N, ped.params, proof, tr('fac', SESSION, 2), CURVE_Q));
  assert.ok(!verifyFac(N + 2n, ped.params, proof, tr('fac'), CURVE_Q));
  assert.ok(!verifyFac(N, generatePedersen(P[8]!, P[9]!).params, proof, tr('fac'), CURVE_Q));
  assert.ok(!verifyFac(N, ped.params, proof, tr('fac'), CURVE_Q - 2n));
  const Nh = pedPub.N;
  const fields = ['P', 'Q', 'A', 'B', 'T', 'sigma', 'z1', 'z2', 'w1', 'w2', 'v'] as const;
  let n = 0;
  for (const f of fields) {
    const mod_ = ['P', 'Q', 'A', 'B', 'T'].includes(f) ? Nh : N;
    for (const v of variants(proof[f], mod_)) {
      const p: FacProof = { ...proof, [f]: v };
      assert.ok(!verifyFac(N, ped.params, p, tr('fac'), CURVE_Q), `${f} tampered`);
      n++;
    }
  }
  assert.ok(!verifyFac(N, ped.params, { ...proof, P: proof.Q, Q: proof.P }, tr('fac'), CURVE_Q));
  assert.ok(!verifyFac(N, ped.params, { ...proof, z1: proof.z2, z2: proof.z1 }, tr('fac'), CURVE_Q));
  assert.ok(!verifyFac(N, ped.params, { ...proof, w1: proof.w2, w2: proof.w1 }, tr('fac'), CURVE_Q));
  assert.ok(n > 80);
  const enc = encodeFacProof(proof);
  assert.throws(() => decodeFacProof(enc.subarray(0, enc.length - 1)), MpcParseError);
  assert.throws(() => decodeFacProof(Uint8Array.from([...enc, 0])), MpcParseError);
  assert.throws(() => decodeFacProof(Uint8Array.from([0x61, ...enc.subarray(1)])), MpcParseError);
});

test('Π^fac: a modulus with a small factor fails even with an honestly computed proof', () => {
  // p of 128 bits, q the cofactor of ~1920 bits: z2 = β + e·q leaves the ±√N0·2^{ℓ+ε} range.
  const p = BigInt('0x' + randomBytes(16).toString('hex')) | 1n | (1n << 127n);
  const q = BigInt('0x' + randomBytes(240).toString('hex')) | 1n | (1n << 1919n);
  const N0 = p * q;
  let fails = 0;
  for (let i = 0; i < 3; i++) {
    const proof = proveFac({ N: N0, p, q }, pedPub, tr('fac', SESSION, i + 1), CURVE_Q);
    if (!verifyFac(N0, ped.params, proof, tr('fac', SESSION, i + 1), CURVE_Q)) fails++;
  }
  assert.equal(fails, 3);
  // Sanity: the bound really is about √N0.
  assert.ok(q > isqrt(N0) << 512n);
});

test('auxiliary material: one modulus for Paillier and ring-Pedersen, all three proofs pass', async () => {
  const pool = new PrimePool({ target: 0 });
  pool.add([P[10]!, P[11]!]);
  const aux = await generateAuxiliary({ pool });
  assert.equal(pool.size, 0);
  const N0 = aux.paillier.pub.N;
  assert.equal(aux.pedersen.N, N0);
  assert.equal(aux.pedersen.s, aux.pedersen.pow(aux.pedersen.t, aux.lambda));
  const key = { N: N0, p: aux.paillier.p, q: aux.paillier.q };
  assert.ok(verifyMod(N0, proveMod(key, tr('aux', SESSION, 3)), tr('aux', SESSION, 3)));
  const prm = provePrm(aux.pedersen, aux.lambda, aux.paillier.phi, tr('aux', SESSION, 3));
  assert.ok(verifyPrm(aux.pedersen.publicOnly(), decodePrmProof(encodePrmProof(prm)), tr('aux', SESSION, 3)));
  // Π^fac is proven to each other party under that party's parameters.
  const fac = proveFac(key, pedPub, tr('aux-fac', SESSION, 3), CURVE_Q);
  assert.ok(verifyFac(N0, ped.params, fac, tr('aux-fac', SESSION, 3), CURVE_Q));
  assert.throws(() => auxiliaryFromPrimes(P[10]!, P[10]!), MpcError);
});
