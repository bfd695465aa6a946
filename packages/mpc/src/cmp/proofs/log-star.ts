/**
 * Π^log*: knowledge of exponent vs Paillier encryption with range proof (CMP Fig. 25, §C.2):
 * "C = enc_N0(x; ρ) and X = x·g with x ∈ ±2^ℓ", for a base point g (G, or Γ in presigning round 3).
 * The prover owns N0; commitments use the verifier's ring-Pedersen parameters.
 */
import { isInRange, mod, randomSigned, randomSignedScaled, randomUnit } from '../../arith/bigint.ts';
import type { Curve, Point } from '../../curve.ts';
import { mul, mulPub } from '../messages.ts';
import {
  decodeFields, ELL, encodeFields, encWith, EPS, pedCommit, pedPowPublic, powN, powN2, put, safely, UnitBatch,
  type PaillierCtx, type PedersenCtx, type RandomSource, type TranscriptLike,
} from './common.ts';

export interface LogStarProof {
  readonly S: bigint;
  readonly A: bigint;
  readonly Y: Uint8Array;
  readonly D: bigint;
  readonly z1: bigint;
  readonly z2: bigint;
  readonly z3: bigint;
}

function challenge(t: TranscriptLike, c: Curve, N0: PaillierCtx, P: PedersenCtx, C: bigint, X: Point, g: Point, pf: { S: bigint; A: bigint; Y: Uint8Array; D: bigint }): bigint {
  put(t, 'logstar', { N0: N0.N, Nhat: P.N, s: P.s, t: P.t, C, X: c.encodePoint(X), g: c.encodePoint(g), S: pf.S, A: pf.A, Y: pf.Y, D: pf.D });
  return t.challengeSigned(c.n);
}

export function proveLogStar(
  t: TranscriptLike, c: Curve, N0: PaillierCtx, P: PedersenCtx, C: bigint, X: Point, g: Point, x: bigint, rho: bigint, rand?: RandomSource,
): LogStarProof {
  const alpha = randomSigned(ELL + EPS, rand);
  const mu = randomSignedScaled(ELL, P.N, rand);
  const r = randomUnit(N0.N, rand);
  const gamma = randomSignedScaled(ELL + EPS, P.N, rand);
  const S = pedCommit(P, x, mu);
  const A = encWith(N0, alpha, r);
  const Y = c.encodePoint(mul(c, g, alpha));
  const D = pedCommit(P, alpha, gamma);
  const e = challenge(t, c, N0, P, C, X, g, { S, A, Y, D });
  return { S, A, Y, D, z1: alpha + e * x, z2: mod(r * powN(N0, rho, e), N0.N), z3: gamma + e * mu };
}

export function verifyLogStar(t: TranscriptLike, c: Curve, N0: PaillierCtx, P: PedersenCtx, C: bigint, X: Point, g: Point, pf: LogStarProof): boolean {
  return safely(() => {
    if (!new UnitBatch().n2(C, N0).n2(pf.A, N0).n(pf.S, P.N).n(pf.D, P.N).n(pf.z2, N0.N).check()) return false;
    if (!isInRange(pf.z1, ELL + EPS)) return false;
    const Y = c.decodePoint(pf.Y);
    const e = challenge(t, c, N0, P, C, X, g, pf);
    if (encWith(N0, pf.z1, pf.z2, true) !== mod(pf.A * powN2(N0, C, e, true), N0.N2)) return false;
    if (!mulPub(c, g, pf.z1).equals(Y.add(mulPub(c, X, e)))) return false;
    return pedCommit(P, pf.z1, pf.z3) === mod(pf.D * pedPowPublic(P, pf.S, e), P.N);
  });
}

export function encodeLogStarProof(p: LogStarProof): Uint8Array {
  return encodeFields(0x42, [{ u: p.S }, { u: p.A }, { b: p.Y }, { u: p.D }, { s: p.z1 }, { u: p.z2 }, { s: p.z3 }]);
}

export function decodeLogStarProof(b: Uint8Array): LogStarProof {
  const f = decodeFields(0x42, b, 'ucpusus');
  return { S: f[0] as bigint, A: f[1] as bigint, Y: f[2] as Uint8Array, D: f[3] as bigint, z1: f[4] as bigint, z2: f[5] as bigint, z3: f[6] as bigint };
}
