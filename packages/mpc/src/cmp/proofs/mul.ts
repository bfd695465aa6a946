/**
 * Π^mul (CMP Fig. 29) and Π^mul* (CMP Fig. 31): Paillier multiplication proofs used only by the
 * identification steps (CMP Fig. 7 "Output", step 2 and Fig. 8), when a combined check failed.
 *
 * Π^mul: "X = enc_N(x; ρx), C = Y^x ρ^N mod N²" under the prover's own key (no Pedersen).
 * Π^mul*: "D = C^x ρ^N0 mod N0², X = x·G, x ∈ ±2^ℓ" with the verifier's ring-Pedersen.
 */
import { isInRange, mod, modPow, randomSigned, randomSignedScaled, randomUnit } from '../../arith/bigint.ts';
import type { Curve, Point } from '../../curve.ts';
import { mul, mulPub } from '../messages.ts';
import {
  decodeFields, ELL, encodeFields, encWith, EPS, isUnit, isUnitN2, pedCommit, powN, powN2, put, safely,
  type PaillierCtx, type PedersenCtx, type RandomSource, type TranscriptLike,
} from './common.ts';

export interface MulProof {
  readonly A: bigint;
  readonly B: bigint;
  readonly z: bigint;
  readonly u: bigint;
  readonly v: bigint;
}

function mulChallenge(t: TranscriptLike, q: bigint, K: PaillierCtx, X: bigint, Y: bigint, C: bigint, A: bigint, B: bigint): bigint {
  put(t, 'mul', { N: K.N, X, Y, C, A, B });
  return t.challengeSigned(q);
}

/** Witness: x with X = enc(x; ρx), and ρ with C = Y^x ρ^N. */
export function proveMul(t: TranscriptLike, q: bigint, K: PaillierCtx, X: bigint, Y: bigint, C: bigint, x: bigint, rhoX: bigint, rho: bigint, rand?: RandomSource): MulProof {
  const alpha = randomSigned(ELL + EPS, rand);
  const r = randomUnit(K.N, rand);
  const s = randomUnit(K.N, rand);
  const A = mod(powN2(K, Y, alpha) * powN2(K, r, K.N), K.N2);
  const B = encWith(K, alpha, s);
  const e = mulChallenge(t, q, K, X, Y, C, A, B);
  return { A, B, z: alpha + e * x, u: mod(r * powN(K, rho, e), K.N), v: mod(s * powN(K, rhoX, e), K.N) };
}

export function verifyMul(t: TranscriptLike, q: bigint, K: PaillierCtx, X: bigint, Y: bigint, C: bigint, pf: MulProof): boolean {
  return safely(() => {
    if (![X, Y, C, pf.A, pf.B].every((v) => isUnitN2(v, K)) || !isUnit(pf.u, K.N) || !isUnit(pf.v, K.N)) return false;
    if (!isInRange(pf.z, ELL + EPS + ELL + 1)) return false;
    const e = mulChallenge(t, q, K, X, Y, C, pf.A, pf.B);
    if (mod(powN2(K, Y, pf.z) * powN2(K, pf.u, K.N), K.N2) !== mod(pf.A * powN2(K, C, e), K.N2)) return false;
    return encWith(K, pf.z, pf.v) === mod(pf.B * powN2(K, X, e), K.N2);
  });
}

export function encodeMulProof(p: MulProof): Uint8Array {
  return encodeFields(0x44, [{ u: p.A }, { u: p.B }, { s: p.z }, { u: p.u }, { u: p.v }]);
}

export function decodeMulProof(b: Uint8Array): MulProof {
  const f = decodeFields(0x44, b, 'ccsuu') as bigint[];
  return { A: f[0]!, B: f[1]!, z: f[2]!, u: f[3]!, v: f[4]! };
}

export interface MulStarProof {
  readonly A: bigint;
  readonly Bx: Uint8Array;
  readonly E: bigint;
  readonly S: bigint;
  readonly z1: bigint;
  readonly z2: bigint;
  readonly w: bigint;
}

function starChallenge(t: TranscriptLike, c: Curve, K: PaillierCtx, P: PedersenCtx, C: bigint, D: bigint, X: Point, pf: { A: bigint; Bx: Uint8Array; E: bigint; S: bigint }): bigint {
  put(t, 'mulstar', { N0: K.N, Nhat: P.N, s: P.s, t: P.t, C, D, X: c.encodePoint(X), A: pf.A, Bx: pf.Bx, E: pf.E, S: pf.S });
  return t.challengeSigned(c.n);
}

/** Witness: x (X = x·G) and ρ with D = C^x ρ^N0. */
export function proveMulStar(t: TranscriptLike, c: Curve, K: PaillierCtx, P: PedersenCtx, C: bigint, D: bigint, X: Point, x: bigint, rho: bigint, rand?: RandomSource): MulStarProof {
  const alpha = randomSigned(ELL + EPS, rand);
  const r = randomUnit(K.N, rand);
  const gamma = randomSignedScaled(ELL + EPS, P.N, rand);
  const m = randomSignedScaled(ELL, P.N, rand);
  const A = mod(powN2(K, C, alpha) * powN2(K, r, K.N), K.N2);
  const Bx = c.encodePoint(mul(c, c.G, alpha));
  const E = pedCommit(P, alpha, gamma);
  const S = pedCommit(P, x, m);
  const e = starChallenge(t, c, K, P, C, D, X, { A, Bx, E, S });
  return { A, Bx, E, S, z1: alpha + e * x, z2: gamma + e * m, w: mod(r * powN(K, rho, e), K.N) };
}

export function verifyMulStar(t: TranscriptLike, c: Curve, K: PaillierCtx, P: PedersenCtx, C: bigint, D: bigint, X: Point, pf: MulStarProof): boolean {
  return safely(() => {
    if (![C, D, pf.A].every((v) => isUnitN2(v, K)) || !isUnit(pf.E, P.N) || !isUnit(pf.S, P.N) || !isUnit(pf.w, K.N)) return false;
    if (!isInRange(pf.z1, ELL + EPS)) return false;
    const Bx = c.decodePoint(pf.Bx);
    const e = starChallenge(t, c, K, P, C, D, X, pf);
    if (mod(powN2(K, C, pf.z1) * powN2(K, pf.w, K.N), K.N2) !== mod(pf.A * powN2(K, D, e), K.N2)) return false;
    if (!mulPub(c, c.G, pf.z1).equals(Bx.add(mulPub(c, X, e)))) return false;
    return pedCommit(P, pf.z1, pf.z2) === mod(pf.E * modPow(pf.S, e, P.N), P.N);
  });
}

export function encodeMulStarProof(p: MulStarProof): Uint8Array {
  return encodeFields(0x45, [{ u: p.A }, { b: p.Bx }, { u: p.E }, { u: p.S }, { s: p.z1 }, { s: p.z2 }, { u: p.w }]);
}

export function decodeMulStarProof(b: Uint8Array): MulStarProof {
  const f = decodeFields(0x45, b, 'cpuussu');
  const n = (i: number): bigint => f[i] as bigint;
  return { A: n(0), Bx: f[1] as Uint8Array, E: n(2), S: n(3), z1: n(4), z2: n(5), w: n(6) };
}
