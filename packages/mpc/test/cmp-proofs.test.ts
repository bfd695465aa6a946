import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomSigned, randomUnit, mod, modInv } from '../src/arith/bigint.ts';
import { testPrimes } from '../src/arith/primes.ts';
import { PaillierSecretKey } from '../src/arith/paillier.ts';
import { generatePedersen } from '../src/arith/pedersen.ts';
import { Transcript } from '../src/cmp/proofs/transcript.ts';
import { SECP256K1 as c } from '../src/curve.ts';
import { paillierCtx, encWith, ELL_PRIME, EPS, powN2, isUnit, isUnitN2, UnitBatch, type PedersenCtx } from '../src/cmp/proofs/common.ts';
import { proveEnc, verifyEnc, encodeEncProof, decodeEncProof } from '../src/cmp/proofs/enc.ts';
import { proveLogStar, verifyLogStar, encodeLogStarProof, decodeLogStarProof } from '../src/cmp/proofs/log-star.ts';
import { proveAffG, verifyAffG, encodeAffGProof, decodeAffGProof } from '../src/cmp/proofs/aff-g.ts';
import { proveMul, verifyMul, proveMulStar, verifyMulStar, encodeMulProof, decodeMulProof, encodeMulStarProof, decodeMulStarProof } from '../src/cmp/proofs/mul.ts';
import { proveDec, verifyDec, encodeDecProof, decodeDecProof, DEC_MASK_BITS, DEC_REPS } from '../src/cmp/proofs/dec.ts';
import { forgeDec } from './cmp-forge.ts';
import { schCommit, schProve, schVerify } from '../src/cmp/proofs/sch.ts';

const pr = testPrimes();
const skA = PaillierSecretKey.fromPrimes(pr[0]!, pr[1]!);
const skB = PaillierSecretKey.fromPrimes(pr[2]!, pr[3]!);
const pedB = generatePedersen(pr[2]!, pr[3]!);
const KA = paillierCtx(skA.pub.N, skA.p, skA.q);
const KApub = paillierCtx(skA.pub.N);
const KB = paillierCtx(skB.pub.N, skB.p, skB.q);
const KBpub = paillierCtx(skB.pub.N);
const PB: PedersenCtx = { N: pedB.params.N, s: pedB.params.s, t: pedB.params.t, lambda: pedB.lambda, p: skB.p, q: skB.q };
const PBpub: PedersenCtx = { N: pedB.params.N, s: pedB.params.s, t: pedB.params.t };
const T = (): Transcript => new Transcript('test');

test('sch', () => {
  const x = c.randomScalar();
  const X = c.G.multiply(x);
  const com = schCommit(c);
  const z = schProve(c, T(), X, com, x);
  assert.ok(schVerify(c, T(), X, com.A, z));
  assert.ok(!schVerify(c, T(), X, com.A, c.mod(z + 1n)));
});

test('enc', () => {
  const k = c.randomScalar();
  const { c: K, rho } = skA.pub.encrypt(k);
  const pf = proveEnc(T(), c.n, KA, PBpub, K, k, rho);
  const pf2 = decodeEncProof(encodeEncProof(pf));
  assert.ok(verifyEnc(T(), c.n, KApub, PB, K, pf2));
  assert.ok(verifyEnc(T(), c.n, KApub, PBpub, K, pf2));
  assert.ok(!verifyEnc(T(), c.n, KApub, PB, mod(K * 2n, KA.N2), pf2));
  assert.ok(!verifyEnc(T(), c.n, KApub, PB, K, { ...pf2, z1: pf2.z1 + 1n }));
});

test('log*', () => {
  const x = c.randomScalar();
  const g = c.G.multiply(c.randomScalar());
  const { c: C, rho } = skA.pub.encrypt(x);
  const X = g.multiply(x);
  const pf = decodeLogStarProof(encodeLogStarProof(proveLogStar(T(), c, KA, PBpub, C, X, g, x, rho)));
  assert.ok(verifyLogStar(T(), c, KApub, PB, C, X, g, pf));
  assert.ok(!verifyLogStar(T(), c, KApub, PB, C, X.add(c.G), g, pf));
});

test('aff-g', () => {
  // B's ciphertext K, A applies x and y.
  const k = c.randomScalar();
  const K = skB.pub.encrypt(k).c;
  const x = c.randomScalar();
  const y = randomSigned(ELL_PRIME);
  const rho = randomUnit(KB.N);
  const rhoY = randomUnit(KA.N);
  const D = mod(powN2(KBpub, K, x) * encWith(KBpub, y, rho), KB.N2);
  const Y = encWith(KA, y, rhoY);
  const st = { N0: KBpub, N1: KA, C: K, D, Y, X: c.G.multiply(x) };
  const pf = decodeAffGProof(encodeAffGProof(proveAffG(T(), c, PBpub, st, x, y, rho, rhoY)));
  const stV = { ...st, N0: KB, N1: KApub };
  assert.ok(verifyAffG(T(), c, PB, stV, pf));
  assert.equal(skB.decrypt(D), k * x + y);
  assert.ok(!verifyAffG(T(), c, PB, { ...stV, D: mod(D * K, KB.N2) }, pf));
});

test('mul, mul*, dec', () => {
  const k = c.randomScalar();
  const g = c.randomScalar();
  const { c: X, rho: rx } = skA.pub.encrypt(k);
  const Y = skA.pub.encrypt(g).c;
  const rho = randomUnit(KA.N);
  const C = mod(powN2(KA, Y, k) * powN2(KA, rho, KA.N), KA.N2);
  const pf = decodeMulProof(encodeMulProof(proveMul(T(), c.n, KA, X, Y, C, k, rx, rho)));
  assert.ok(verifyMul(T(), c.n, KApub, X, Y, C, pf));
  assert.ok(!verifyMul(T(), c.n, KApub, X, Y, mod(C * Y, KA.N2), pf));
  const x = c.randomScalar();
  const D = mod(powN2(KA, X, x) * powN2(KA, rho, KA.N), KA.N2);
  const ps = decodeMulStarProof(encodeMulStarProof(proveMulStar(T(), c, KA, PBpub, X, D, c.G.multiply(x), x, rho)));
  assert.ok(verifyMulStar(T(), c, KApub, PB, X, D, c.G.multiply(x), ps));
  assert.ok(!verifyMulStar(T(), c, KApub, PB, X, D, c.G.multiply(x + 1n), ps));
  const { m, rho: r2 } = skA.decryptWithNonce(C);
  assert.equal(m, k * g);
  const pd = decodeDecProof(encodeDecProof(proveDec(T(), c.n, KA, PBpub, [{ C, a: 1n }], c.mod(m), [{ y: m, rho: r2 }])));
  assert.ok(verifyDec(T(), c.n, KApub, PB, [{ C, a: 1n }], c.mod(k * g), pd));
  assert.ok(!verifyDec(T(), c.n, KApub, PB, [{ C, a: 1n }], c.mod(k * g + 1n), pd));
  assert.ok(!verifyDec(T(), c.n, KApub, PB, [{ C, a: 2n }], c.mod(k * g), pd));
});

test('dec with two terms (the signing statement): a·ỹ1 + b·ỹ2 ≡ x, plaintexts near the bound', () => {
  // ỹ2 as large as the MtA sums can be (ℓ' + ε + 2 bits), negative, like χ̃ in signing.
  const y1 = c.randomScalar();
  const y2 = -randomSigned(ELL_PRIME + EPS + 2);
  const e1 = skA.pub.encrypt(y1);
  const e2 = skA.pub.encrypt(y2);
  assert.equal(skA.decrypt(e2.c), y2);
  const a = c.randomScalar();
  const b = c.randomScalar();
  const terms = [{ C: e1.c, a }, { C: e2.c, a: b }];
  const x = c.mod(a * y1 + b * y2);
  const pd = decodeDecProof(encodeDecProof(proveDec(T(), c.n, KA, PBpub, terms, x, [{ y: y1, rho: e1.rho }, { y: y2, rho: e2.rho }])));
  assert.equal(pd.rounds.length, DEC_REPS);
  assert.ok(verifyDec(T(), c.n, KApub, PB, terms, x, pd));
  assert.ok(!verifyDec(T(), c.n, KApub, PB, terms, c.mod(x + 1n), pd));
  assert.ok(!verifyDec(T(), c.n, KApub, PB, [terms[1]!, terms[0]!], x, pd));
  assert.ok(!verifyDec(T(), c.n, KApub, PB, terms.slice(0, 1), x, pd));
  // A response one bit over the range is refused even if everything else were consistent.
  const r0 = pd.rounds[0]!;
  const big = { ...pd, rounds: [{ ...r0, z1: [r0.z1[0]! + (1n << BigInt(DEC_MASK_BITS + 1)), r0.z1[1]!] }, pd.rounds[1]!] };
  assert.ok(!verifyDec(T(), c.n, KApub, PB, terms, x, big));
  // Strict decoding: wrong repetition count.
  const bytes = encodeDecProof(pd);
  const bad = bytes.slice();
  bad[2] = 1;
  assert.throws(() => decodeDecProof(bad), /bad shape/);
});

test('dec: the issue-13 forgery y\' = u + kN0 with k ≡ (x − u)·N0⁻¹ (mod q) is refused', () => {
  // The old Π^dec (a bit-length cap of 2|N0| + ε on z1 only) accepted this proof for ANY x.
  const u = c.randomScalar();
  const { c: C } = skA.pub.encrypt(u);
  const { m, rho } = skA.decryptWithNonce(C);
  const N0 = KA.N;
  const x = c.mod(u + 12345n); // a false claim
  const kk = c.mod((x - m) * modInv(c.mod(N0), c.n));
  const yForged = m + kk * N0;
  assert.equal(mod(yForged, c.n), x);
  assert.equal(skA.pub.encryptWith(yForged, rho), C); // the very same ciphertext
  // The honest prover code refuses to build it (the witness is out of range) ...
  assert.throws(() => proveDec(T(), c.n, KA, PBpub, [{ C, a: 1n }], x, [{ y: yForged, rho }]), /outside the proven range/);
  // ... and a cheater that builds it anyway (same equations, masks sized to hide y') is refused.
  const pf = forgeDec(T(), c.n, KA, PBpub, [{ C, a: 1n }], x, [{ y: yForged, rho }]);
  assert.ok(!verifyDec(T(), c.n, KApub, PB, [{ C, a: 1n }], x, pf));
  // The same construction with the true plaintext verifies, so only the range check refuses it.
  assert.ok(verifyDec(T(), c.n, KApub, PB, [{ C, a: 1n }], c.mod(m), forgeDec(T(), c.n, KA, PBpub, [{ C, a: 1n }], c.mod(m), [{ y: m, rho }])));
});

test('UnitBatch decides exactly like per-value isUnit / isUnitN2', () => {
  const A = paillierCtx(skA.pub.N);
  const B = paillierCtx(skB.pub.N);
  const p = pr[0]!;
  const good = [randomUnit(A.N2), randomUnit(A.N2)];
  const cases: Array<[bigint, bigint]> = [[randomUnit(B.N), 0n], [p * 3n, 0n], [0n, 0n], [A.N2, 0n], [A.N, 0n], [1n, 0n], [randomUnit(B.N), 5n]];
  for (const [x, c] of cases) {
    const ct = c === 0n ? good[0]! : p * c;
    const expected = isUnit(x, B.N) && isUnitN2(ct, A) && good.every((g) => isUnitN2(g, A));
    const got = new UnitBatch().n2(good[0]!, A).n(x, B.N).n2(ct, A).n2(good[1]!, A).check();
    assert.equal(got, expected, `x=${x}, c=${c}`);
  }
  assert.equal(new UnitBatch().check(), true);
  assert.equal(new UnitBatch().n2(A.N2 + 1n, A).check(), false);
  assert.equal(new UnitBatch().n(-1n, B.N).check(), false);
});
