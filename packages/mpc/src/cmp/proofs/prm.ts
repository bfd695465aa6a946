/**
 * Π^prm: ring-Pedersen parameters are well formed, s ∈ <t> (CMP eprint 2021/060, §6.4 / Fig. 17):
 * the prover knows λ with s = t^λ mod N.
 *
 * Prover: a_i ← Z_φ(N), A_i = t^{a_i}; challenge bits e_i; z_i = a_i + e_i λ mod φ(N).
 * Verifier: s, t, A_i ∈ Z_N^*, z_i ∈ [0, N), t^{z_i} = A_i · s^{e_i} (mod N).
 * Soundness error 2^-m, m = PRM_ITERATIONS = 128.
 */
import { Reader, Writer } from '../../codec.ts';
import { MpcError, MpcParseError } from '../../errors.ts';
import { CrtContext, gcd, isqrt, mod, modPow, randomBelow, type RandomSource } from '../../arith/bigint.ts';
import type { PedersenParams } from '../../arith/pedersen.ts';
import type { Transcript } from './transcript.ts';

/** Repetitions m of Π^prm (soundness 2^-128 against a prover grinding the Fiat-Shamir hash, issue 13 item 5; the paper's statistical 80 is not enough there). Not configurable by callers. */
export const PRM_ITERATIONS = 128;

const TAG = 0x62;
const MAX_ELEM_BYTES = 512;

export interface PrmProof {
  readonly A: readonly bigint[];
  readonly z: readonly bigint[];
}

function challenges(params: PedersenParams, A: readonly bigint[], t: Transcript): boolean[] {
  t.append('prm/N', params.N).append('prm/s', params.s).append('prm/t', params.t).append('prm/m', PRM_ITERATIONS);
  A.forEach((v, i) => t.append(`prm/A/${i}`, v));
  return t.challengeBits(PRM_ITERATIONS);
}

/** p, q from N and φ(N) = N - (p + q) + 1. */
export function factorFromPhi(N: bigint, phi: bigint): { p: bigint; q: bigint } {
  const S = N - phi + 1n;
  const D = S * S - 4n * N;
  if (D < 0n) throw new MpcError('ERR_MPC_USAGE', 'φ(N) does not match N');
  const r = isqrt(D);
  const p = (S + r) / 2n;
  const q = (S - r) / 2n;
  if (p * q !== N || r * r !== D) throw new MpcError('ERR_MPC_USAGE', 'φ(N) does not match N');
  return { p, q };
}

/** Proves s = t^λ mod N for the prover's own ring-Pedersen parameters (φ = φ(N) secret). */
export function provePrm(params: PedersenParams, lambda: bigint, phi: bigint, t: Transcript, rand?: RandomSource): PrmProof {
  const { p, q } = factorFromPhi(params.N, phi);
  const crt = new CrtContext(p, q, false);
  if (crt.pow(params.t, lambda) !== params.s) throw new MpcError('ERR_MPC_USAGE', 'provePrm: s != t^λ');
  const a: bigint[] = [];
  const A: bigint[] = [];
  for (let i = 0; i < PRM_ITERATIONS; i++) {
    const ai = randomBelow(phi, rand);
    a.push(ai);
    A.push(crt.pow(params.t, ai));
  }
  const e = challenges(params, A, t);
  const z = a.map((ai, i) => (e[i] ? mod(ai + lambda, phi) : ai));
  return { A, z };
}

/** Verifies Π^prm for (N, s, t) under transcript t. */
export function verifyPrm(params: PedersenParams, proof: PrmProof, t: Transcript): boolean {
  try {
    const { N, s } = params;
    const base = params.t;
    if (N < 3n || (N & 1n) === 0n) return false;
    for (const v of [s, base]) if (v <= 0n || v >= N || gcd(v, N) !== 1n) return false;
    if (proof.A.length !== PRM_ITERATIONS || proof.z.length !== PRM_ITERATIONS) return false;
    for (let i = 0; i < PRM_ITERATIONS; i++) {
      const Ai = proof.A[i]!;
      const zi = proof.z[i]!;
      if (Ai <= 0n || Ai >= N || gcd(Ai, N) !== 1n) return false;
      if (zi < 0n || zi >= N) return false;
    }
    const e = challenges(params, proof.A, t);
    for (let i = 0; i < PRM_ITERATIONS; i++) {
      const lhs = modPow(base, proof.z[i]!, N, false);
      const rhs = e[i] ? (proof.A[i]! * s) % N : proof.A[i]!;
      if (lhs !== rhs) return false;
    }
    return true;
  } catch {
    return false;
  }
}

export function encodePrmProof(p: PrmProof): Uint8Array {
  if (p.A.length !== PRM_ITERATIONS || p.z.length !== PRM_ITERATIONS) throw new MpcError('ERR_MPC_USAGE', 'encodePrmProof: wrong number of rounds');
  const w = new Writer().u8(TAG).u16(PRM_ITERATIONS);
  for (let i = 0; i < PRM_ITERATIONS; i++) w.bigint(p.A[i]!).bigint(p.z[i]!);
  return w.finish();
}

/** Strict: tag, exactly PRM_ITERATIONS rounds, minimal integers, no trailing bytes. */
export function decodePrmProof(bytes: Uint8Array): PrmProof {
  const r = new Reader(bytes);
  if (r.u8() !== TAG) throw new MpcParseError('Π^prm: bad tag');
  if (r.u16() !== PRM_ITERATIONS) throw new MpcParseError('Π^prm: wrong number of rounds');
  const A: bigint[] = [];
  const z: bigint[] = [];
  for (let i = 0; i < PRM_ITERATIONS; i++) {
    A.push(r.bigint(MAX_ELEM_BYTES));
    z.push(r.bigint(MAX_ELEM_BYTES));
  }
  r.end();
  return { A, z };
}
