/**
 * Π^aff-g: Paillier affine operation with group commitment in range (CMP Fig. 15, §6.2):
 * "D = C^x (1+N0)^y ρ^N0 mod N0², Y = (1+N1)^y ρy^N1 mod N1², X = x·G, x ∈ ±2^ℓ, y ∈ ±2^ℓ'".
 * N0 is the verifier's Paillier key (C is the verifier's ciphertext K_j), N1 the prover's; the
 * commitments use the verifier's ring-Pedersen parameters. Used in presigning round 2 for the two
 * MtA conversions (γ_i·k_j and x_i·k_j).
 */
import { isInRange, mod, randomSigned, randomSignedScaled, randomUnit } from '../../arith/bigint.ts';
import type { Curve, Point } from '../../curve.ts';
import { mul, mulPub } from '../messages.ts';
import {
  decodeFields, ELL, ELL_PRIME, encodeFields, encWith, EPS, pedCommit, pedPowPublic, powN, powN2, put, safely, UnitBatch,
  type PaillierCtx, type PedersenCtx, type RandomSource, type TranscriptLike,
} from './common.ts';

export interface AffGProof {
  readonly A: bigint;
  readonly Bx: Uint8Array;
  readonly By: bigint;
  readonly E: bigint;
  readonly S: bigint;
  readonly F: bigint;
  readonly T: bigint;
  readonly z1: bigint;
  readonly z2: bigint;
  readonly z3: bigint;
  readonly z4: bigint;
  readonly w: bigint;
  readonly wy: bigint;
}

export interface AffGStatement {
  readonly N0: PaillierCtx;
  readonly N1: PaillierCtx;
  readonly C: bigint;
  readonly D: bigint;
  readonly Y: bigint;
  readonly X: Point;
}

function challenge(t: TranscriptLike, c: Curve, P: PedersenCtx, st: AffGStatement, pf: Omit<AffGProof, 'z1' | 'z2' | 'z3' | 'z4' | 'w' | 'wy'>): bigint {
  put(t, 'affg', {
    N0: st.N0.N, N1: st.N1.N, Nhat: P.N, s: P.s, t: P.t, C: st.C, D: st.D, Y: st.Y, X: c.encodePoint(st.X),
    A: pf.A, Bx: pf.Bx, By: pf.By, E: pf.E, S: pf.S, F: pf.F, T: pf.T,
  });
  return t.challengeSigned(c.n);
}

/** Witness: x, y, ρ (nonce of D's encryption part under N0), ρy (nonce of Y under N1). */
export function proveAffG(
  t: TranscriptLike, c: Curve, P: PedersenCtx, st: AffGStatement, x: bigint, y: bigint, rho: bigint, rhoY: bigint, rand?: RandomSource,
): AffGProof {
  const { N0, N1 } = st;
  const alpha = randomSigned(ELL + EPS, rand);
  const beta = randomSigned(ELL_PRIME + EPS, rand);
  const r = randomUnit(N0.N, rand);
  const ry = randomUnit(N1.N, rand);
  const gamma = randomSignedScaled(ELL + EPS, P.N, rand);
  const m = randomSignedScaled(ELL, P.N, rand);
  const delta = randomSignedScaled(ELL + EPS, P.N, rand);
  const mu = randomSignedScaled(ELL, P.N, rand);
  const A = mod(powN2(N0, st.C, alpha) * encWith(N0, beta, r), N0.N2);
  const Bx = c.encodePoint(mul(c, c.G, alpha));
  const By = encWith(N1, beta, ry);
  const E = pedCommit(P, alpha, gamma);
  const S = pedCommit(P, x, m);
  const F = pedCommit(P, beta, delta);
  const T = pedCommit(P, y, mu);
  const e = challenge(t, c, P, st, { A, Bx, By, E, S, F, T });
  return {
    A, Bx, By, E, S, F, T,
    z1: alpha + e * x,
    z2: beta + e * y,
    z3: gamma + e * m,
    z4: delta + e * mu,
    w: mod(r * powN(N0, rho, e), N0.N),
    wy: mod(ry * powN(N1, rhoY, e), N1.N),
  };
}

export function verifyAffG(t: TranscriptLike, c: Curve, P: PedersenCtx, st: AffGStatement, pf: AffGProof): boolean {
  return safely(() => {
    const { N0, N1 } = st;
    const units = new UnitBatch().n2(st.C, N0).n2(st.D, N0).n2(st.Y, N1).n2(pf.A, N0).n2(pf.By, N1);
    for (const v of [pf.E, pf.S, pf.F, pf.T]) units.n(v, P.N);
    if (!units.n(pf.w, N0.N).n(pf.wy, N1.N).check()) return false;
    if (!isInRange(pf.z1, ELL + EPS) || !isInRange(pf.z2, ELL_PRIME + EPS)) return false;
    const Bx = c.decodePoint(pf.Bx);
    const e = challenge(t, c, P, st, pf);
    if (mod(powN2(N0, st.C, pf.z1, true) * encWith(N0, pf.z2, pf.w, true), N0.N2) !== mod(pf.A * powN2(N0, st.D, e, true), N0.N2)) return false;
    if (!mulPub(c, c.G, pf.z1).equals(Bx.add(mulPub(c, st.X, e)))) return false;
    if (encWith(N1, pf.z2, pf.wy, true) !== mod(pf.By * powN2(N1, st.Y, e, true), N1.N2)) return false;
    if (pedCommit(P, pf.z1, pf.z3) !== mod(pf.E * pedPowPublic(P, pf.S, e), P.N)) return false;
    return pedCommit(P, pf.z2, pf.z4) === mod(pf.F * pedPowPublic(P, pf.T, e), P.N);
  });
}

export function encodeAffGProof(p: AffGProof): Uint8Array {
  return encodeFields(0x43, [
    { u: p.A }, { b: p.Bx }, { u: p.By }, { u: p.E }, { u: p.S }, { u: p.F }, { u: p.T },
    { s: p.z1 }, { s: p.z2 }, { s: p.z3 }, { s: p.z4 }, { u: p.w }, { u: p.wy },
  ]);
}

export function decodeAffGProof(b: Uint8Array): AffGProof {
  const f = decodeFields(0x43, b, 'cpcuuuussssuu');
  const n = (i: number): bigint => f[i] as bigint;
  return { A: n(0), Bx: f[1] as Uint8Array, By: n(2), E: n(3), S: n(4), F: n(5), T: n(6), z1: n(7), z2: n(8), z3: n(9), z4: n(10), w: n(11), wy: n(12) };
}
