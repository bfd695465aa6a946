/**
 * Π^dec: Paillier decryption modulo q (CMP Fig. 30): "C = enc_N0(y; ρ) and x ≡ y (mod q)" for a
 * public x. The prover owns N0 (it decrypts C to learn y and ρ); commitments use the verifier's
 * ring-Pedersen. Used by the identification steps: y is the integer plaintext of a ciphertext the
 * verifier computed homomorphically (U_i for δ_i, or the one for σ_i), so |y| < N0/2 may be far
 * above 2^ℓ: the masks are sized from |N0| + ε rather than ℓ + ε so they still hide y.
 */
import { bitLength, mod, modPow, randomSigned, randomSignedScaled, randomUnit } from '../../arith/bigint.ts';
import {
  decodeFields, encodeFields, encWith, EPS, isUnit, isUnitN2, pedCommit, powN, powN2, put, safely,
  type PaillierCtx, type PedersenCtx, type RandomSource, type TranscriptLike,
} from './common.ts';

export interface DecProof {
  readonly S: bigint;
  readonly T: bigint;
  readonly A: bigint;
  readonly gamma: bigint;
  readonly z1: bigint;
  readonly z2: bigint;
  readonly w: bigint;
}

function challenge(t: TranscriptLike, q: bigint, K: PaillierCtx, P: PedersenCtx, C: bigint, x: bigint, pf: { S: bigint; T: bigint; A: bigint; gamma: bigint }): bigint {
  put(t, 'dec', { N0: K.N, Nhat: P.N, s: P.s, t: P.t, C, x, S: pf.S, T: pf.T, A: pf.A, gamma: pf.gamma });
  return t.challengeSigned(q);
}

/** Witness: the centred plaintext y of C and its nonce ρ. */
export function proveDec(t: TranscriptLike, q: bigint, K: PaillierCtx, P: PedersenCtx, C: bigint, x: bigint, y: bigint, rho: bigint, rand?: RandomSource): DecProof {
  const bits = bitLength(K.N) + EPS;
  const alpha = randomSigned(bits, rand);
  const mu = randomSignedScaled(bitLength(K.N), P.N, rand);
  const nu = randomSignedScaled(bits, P.N, rand);
  const r = randomUnit(K.N, rand);
  const S = pedCommit(P, y, mu);
  const T = pedCommit(P, alpha, nu);
  const A = encWith(K, alpha, r);
  const gamma = mod(alpha, q);
  const e = challenge(t, q, K, P, C, mod(x, q), { S, T, A, gamma });
  return { S, T, A, gamma, z1: alpha + e * y, z2: nu + e * mu, w: mod(r * powN(K, rho, e), K.N) };
}

export function verifyDec(t: TranscriptLike, q: bigint, K: PaillierCtx, P: PedersenCtx, C: bigint, x: bigint, pf: DecProof): boolean {
  return safely(() => {
    if (!isUnitN2(C, K) || !isUnitN2(pf.A, K) || !isUnit(pf.S, P.N) || !isUnit(pf.T, P.N) || !isUnit(pf.w, K.N)) return false;
    if (pf.gamma < 0n || pf.gamma >= q) return false;
    if (bitLength(pf.z1) > 2 * bitLength(K.N) + EPS + 2) return false;
    const e = challenge(t, q, K, P, C, mod(x, q), pf);
    if (encWith(K, pf.z1, pf.w) !== mod(pf.A * powN2(K, C, e), K.N2)) return false;
    if (mod(pf.z1, q) !== mod(pf.gamma + e * x, q)) return false;
    return pedCommit(P, pf.z1, pf.z2) === mod(pf.T * modPow(pf.S, e, P.N), P.N);
  });
}

export function encodeDecProof(p: DecProof): Uint8Array {
  return encodeFields(0x46, [{ u: p.S }, { u: p.T }, { u: p.A }, { u: p.gamma }, { s: p.z1 }, { s: p.z2 }, { u: p.w }]);
}

export function decodeDecProof(b: Uint8Array): DecProof {
  const f = decodeFields(0x46, b, 'uucussu') as bigint[];
  return { S: f[0]!, T: f[1]!, A: f[2]!, gamma: f[3]!, z1: f[4]!, z2: f[5]!, w: f[6]! };
}
