/**
 * Π^fac: "no small factor" proof for a Paillier modulus N0 = pq: both factors are larger than
 * 2^ℓ (CMP eprint 2021/060, revised version, Appendix C.5 / Fig. 28), run under the verifier's
 * ring-Pedersen parameters (N̂, s, t). Together with Π^mod it rules out the small-factor moduli
 * behind the 2023 key-extraction attacks on CMP deployments.
 *
 * Prover, with R = ⌊√N0⌋ standing in for the paper's √N0:
 *   α, β ← ±2^{ℓ+ε}·R;  μ, ν ← ±2^ℓ·N̂;  σ ← ±2^ℓ·N0·N̂;  r ← ±2^{ℓ+ε}·N0·N̂;  x, y ← ±2^{ℓ+ε}·N̂
 *   P = s^p t^μ, Q = s^q t^ν, A = s^α t^x, B = s^β t^y, T = Q^α t^r   (mod N̂), sends them and σ
 *   e ← ±q (Fiat-Shamir), σ̂ = σ − νp
 *   z1 = α + ep, z2 = β + eq, w1 = x + eμ, w2 = y + eν, v = r + eσ̂
 * Verifier, with R' = s^{N0} t^σ:
 *   s^{z1} t^{w1} = A·P^e,  s^{z2} t^{w2} = B·Q^e,  Q^{z1} t^v = T·R'^e   (mod N̂)
 *   z1, z2 ∈ ±R·2^{ℓ+ε}
 * plus, beyond the paper, membership of P, Q, A, B, T in Z_N̂^* and size caps on σ, w1, w2, v that
 * every honest proof meets (they bound the verifier's work on hostile input).
 */
import { Reader, Writer } from '../../codec.ts';
import { MpcError, MpcParseError } from '../../errors.ts';
import { gcd, isInRangeScaled, isqrt, randomSignedScaled, type RandomSource } from '../../arith/bigint.ts';
import type { PedersenParams } from '../../arith/pedersen.ts';
import type { Transcript } from './transcript.ts';
import { ELL, EPS } from './common.ts';

const TAG = 0x63;
const MAX_ELEM_BYTES = 512;
const MAX_SIGNED_BYTES = 1024;

export interface FacProof {
  readonly P: bigint;
  readonly Q: bigint;
  readonly A: bigint;
  readonly B: bigint;
  readonly T: bigint;
  readonly sigma: bigint;
  readonly z1: bigint;
  readonly z2: bigint;
  readonly w1: bigint;
  readonly w2: bigint;
  readonly v: bigint;
}

function challenge(N0: bigint, ped: PedersenParams, pf: Pick<FacProof, 'P' | 'Q' | 'A' | 'B' | 'T' | 'sigma'>, t: Transcript, q: bigint): bigint {
  t.append('fac/N0', N0).append('fac/Nhat', ped.N).append('fac/s', ped.s).append('fac/t', ped.t);
  t.append('fac/P', pf.P).append('fac/Q', pf.Q).append('fac/A', pf.A).append('fac/B', pf.B).append('fac/T', pf.T).append('fac/sigma', pf.sigma);
  return t.challengeSigned(q);
}

/** Proves N0 = pq has no factor below 2^ℓ, under the verifier's ring-Pedersen parameters. */
export function proveFac(
  N0: { N: bigint; p: bigint; q: bigint },
  verifierPedersen: PedersenParams,
  t: Transcript,
  curveOrder: bigint,
  rand?: RandomSource,
): FacProof {
  const { N, p, q } = N0;
  if (p * q !== N) throw new MpcError('ERR_MPC_USAGE', 'proveFac: p·q != N0');
  const ped = verifierPedersen;
  const Nh = ped.N;
  const R = isqrt(N);
  const alpha = randomSignedScaled(ELL + EPS, R, rand);
  const beta = randomSignedScaled(ELL + EPS, R, rand);
  const mu = randomSignedScaled(ELL, Nh, rand);
  const nu = randomSignedScaled(ELL, Nh, rand);
  const sigma = randomSignedScaled(ELL, N * Nh, rand);
  const r = randomSignedScaled(ELL + EPS, N * Nh, rand);
  const x = randomSignedScaled(ELL + EPS, Nh, rand);
  const y = randomSignedScaled(ELL + EPS, Nh, rand);
  const P = ped.commit(p, mu);
  const Q = ped.commit(q, nu);
  const A = ped.commit(alpha, x);
  const B = ped.commit(beta, y);
  const T = (ped.pow(Q, alpha) * ped.pow(ped.t, r)) % Nh;
  const e = challenge(N, ped, { P, Q, A, B, T, sigma }, t, curveOrder);
  const sigmaHat = sigma - nu * p;
  return {
    P, Q, A, B, T, sigma,
    z1: alpha + e * p,
    z2: beta + e * q,
    w1: x + e * mu,
    w2: y + e * nu,
    v: r + e * sigmaHat,
  };
}

/** Verifies Π^fac for N0 under the verifier's own ring-Pedersen parameters and transcript t. */
export function verifyFac(N0: bigint, verifierPedersen: PedersenParams, proof: FacProof, t: Transcript, curveOrder: bigint): boolean {
  try {
    const ped = verifierPedersen;
    const Nh = ped.N;
    if (N0 < 3n || (N0 & 1n) === 0n) return false;
    for (const v of [proof.P, proof.Q, proof.A, proof.B, proof.T]) if (v <= 0n || v >= Nh || gcd(v, Nh) !== 1n) return false;
    const R = isqrt(N0);
    if (!isInRangeScaled(proof.z1, ELL + EPS, R) || !isInRangeScaled(proof.z2, ELL + EPS, R)) return false;
    if (!isInRangeScaled(proof.sigma, ELL, N0 * Nh)) return false;
    if (!isInRangeScaled(proof.w1, ELL + EPS + 1, Nh) || !isInRangeScaled(proof.w2, ELL + EPS + 1, Nh)) return false;
    if (!isInRangeScaled(proof.v, ELL + EPS + 1, N0 * Nh)) return false;
    const e = challenge(N0, ped, proof, t, curveOrder);
    if (ped.commit(proof.z1, proof.w1) !== (proof.A * ped.pow(proof.P, e)) % Nh) return false;
    if (ped.commit(proof.z2, proof.w2) !== (proof.B * ped.pow(proof.Q, e)) % Nh) return false;
    const Rp = ped.commit(N0, proof.sigma);
    const lhs = (ped.pow(proof.Q, proof.z1) * ped.pow(ped.t, proof.v)) % Nh;
    return lhs === (proof.T * ped.pow(Rp, e)) % Nh;
  } catch {
    return false;
  }
}

export function encodeFacProof(p: FacProof): Uint8Array {
  const w = new Writer().u8(TAG);
  w.bigint(p.P).bigint(p.Q).bigint(p.A).bigint(p.B).bigint(p.T);
  w.sbigint(p.sigma).sbigint(p.z1).sbigint(p.z2).sbigint(p.w1).sbigint(p.w2).sbigint(p.v);
  return w.finish();
}

/** Strict: tag, five unsigned group elements, six signed integers, minimal encodings, no trailing bytes. */
export function decodeFacProof(bytes: Uint8Array): FacProof {
  const r = new Reader(bytes);
  if (r.u8() !== TAG) throw new MpcParseError('Π^fac: bad tag');
  const P = r.bigint(MAX_ELEM_BYTES);
  const Q = r.bigint(MAX_ELEM_BYTES);
  const A = r.bigint(MAX_ELEM_BYTES);
  const B = r.bigint(MAX_ELEM_BYTES);
  const T = r.bigint(MAX_ELEM_BYTES);
  const sigma = r.sbigint(MAX_SIGNED_BYTES);
  const z1 = r.sbigint(MAX_SIGNED_BYTES);
  const z2 = r.sbigint(MAX_SIGNED_BYTES);
  const w1 = r.sbigint(MAX_SIGNED_BYTES);
  const w2 = r.sbigint(MAX_SIGNED_BYTES);
  const v = r.sbigint(MAX_SIGNED_BYTES);
  r.end();
  return { P, Q, A, B, T, sigma, z1, z2, w1, w2, v };
}
