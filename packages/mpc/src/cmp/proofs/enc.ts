/**
 * Π^enc: range proof for a Paillier ciphertext, "K encrypts some k ∈ ±2^ℓ" (CMP Fig. 14,
 * §6.1). The prover owns the Paillier key N0; the commitments use the verifier's ring-Pedersen
 * parameters. Used in presigning round 1 for K_i.
 */
import { isInRange, mod, randomSigned, randomSignedScaled, randomUnit } from '../../arith/bigint.ts';
import {
  decodeFields, ELL, encodeFields, encWith, EPS, pedCommit, pedPowPublic, powN, powN2, put, safely, UnitBatch,
  type PaillierCtx, type PedersenCtx, type RandomSource, type TranscriptLike,
} from './common.ts';

export interface EncProof {
  readonly S: bigint;
  readonly A: bigint;
  readonly C: bigint;
  readonly z1: bigint;
  readonly z2: bigint;
  readonly z3: bigint;
}

function challenge(t: TranscriptLike, q: bigint, N0: PaillierCtx, P: PedersenCtx, K: bigint, S: bigint, A: bigint, C: bigint): bigint {
  put(t, 'enc', { N0: N0.N, Nhat: P.N, s: P.s, t: P.t, K, S, A, C });
  return t.challengeSigned(q);
}

/** Proves K = (1+N0)^k ρ^N0 with k ∈ ±2^ℓ. */
export function proveEnc(
  t: TranscriptLike, q: bigint, N0: PaillierCtx, P: PedersenCtx, K: bigint, k: bigint, rho: bigint, rand?: RandomSource,
): EncProof {
  const alpha = randomSigned(ELL + EPS, rand);
  const mu = randomSignedScaled(ELL, P.N, rand);
  const r = randomUnit(N0.N, rand);
  const gamma = randomSignedScaled(ELL + EPS, P.N, rand);
  const S = pedCommit(P, k, mu);
  const A = encWith(N0, alpha, r);
  const C = pedCommit(P, alpha, gamma);
  const e = challenge(t, q, N0, P, K, S, A, C);
  return { S, A, C, z1: alpha + e * k, z2: mod(r * powN(N0, rho, e), N0.N), z3: gamma + e * mu };
}

export function verifyEnc(t: TranscriptLike, q: bigint, N0: PaillierCtx, P: PedersenCtx, K: bigint, pf: EncProof): boolean {
  return safely(() => {
    if (!new UnitBatch().n2(K, N0).n2(pf.A, N0).n(pf.S, P.N).n(pf.C, P.N).n(pf.z2, N0.N).check()) return false;
    if (!isInRange(pf.z1, ELL + EPS)) return false;
    const e = challenge(t, q, N0, P, K, pf.S, pf.A, pf.C);
    if (encWith(N0, pf.z1, pf.z2, true) !== mod(pf.A * powN2(N0, K, e, true), N0.N2)) return false;
    return pedCommit(P, pf.z1, pf.z3) === mod(pf.C * pedPowPublic(P, pf.S, e), P.N);
  });
}

export function encodeEncProof(p: EncProof): Uint8Array {
  return encodeFields(0x41, [{ u: p.S }, { u: p.A }, { u: p.C }, { s: p.z1 }, { u: p.z2 }, { s: p.z3 }]);
}

export function decodeEncProof(b: Uint8Array): EncProof {
  const [S, A, C, z1, z2, z3] = decodeFields(0x41, b, 'ucusus') as bigint[];
  return { S: S!, A: A!, C: C!, z1: z1!, z2: z2!, z3: z3! };
}
