/**
 * Π^mod: the prover's Paillier modulus N is a Paillier-Blum modulus, i.e. N = p^a q^b with
 * p ≡ q ≡ 3 mod 4 and gcd(N, φ(N)) = 1 (CMP eprint 2021/060, §6.3 / Fig. 16, after Goldberg et
 * al. and van de Graaf-Peralta).
 *
 * Prover: w ← Z_N with Jacobi (w/N) = -1 (a non-residue mod exactly one factor). For challenges
 * y_1..y_m ∈ Z_N it sends x_i = y'_i^{1/4} mod N where y'_i = (-1)^{a_i} w^{b_i} y_i is the unique
 * twist that is a quadratic residue mod both primes, and z_i = y_i^{N^{-1} mod φ(N)} mod N.
 * Verifier: N odd and composite, (w/N) = -1, x_i, z_i ∈ [1, N), z_i^N = y_i and
 * x_i^4 = (-1)^{a_i} w^{b_i} y_i (mod N).
 *
 * Soundness error 2^-m per the paper; m = MOD_ITERATIONS = 128.
 */
import { checkPrimeSync } from 'node:crypto';
import { Reader, Writer } from '../../codec.ts';
import { MpcError, MpcParseError } from '../../errors.ts';
import { CrtContext, gcd, jacobi, modInv, modPow, randomUnit, type RandomSource } from '../../arith/bigint.ts';
import type { Transcript } from './transcript.ts';

/** Repetitions m of Π^mod (soundness 2^-128; 128 rather than the paper's statistical 80 because under Fiat-Shamir a cheating prover can grind the hash: 2^-m is the work per forged proof, issue 13 item 5). Not configurable by callers. */
export const MOD_ITERATIONS = 128;

const TAG = 0x61;
/** Largest modulus accepted by the decoder (bytes); the statement's N bounds the real check. */
const MAX_ELEM_BYTES = 512;

export interface ModProof {
  readonly w: bigint;
  readonly x: readonly bigint[];
  readonly a: readonly boolean[];
  readonly b: readonly boolean[];
  readonly z: readonly bigint[];
}

function challenges(N: bigint, w: bigint, t: Transcript): bigint[] {
  t.append('mod/N', N).append('mod/w', w).append('mod/m', MOD_ITERATIONS);
  const ys: bigint[] = [];
  for (let i = 0; i < MOD_ITERATIONS; i++) ys.push(t.challengeModN(N));
  return ys;
}

/** Proves N = pq is Paillier-Blum. Needs p ≡ q ≡ 3 mod 4 (throws MpcError('ERR_MPC_USAGE') otherwise). */
export function proveMod(sk: { N: bigint; p: bigint; q: bigint }, t: Transcript, rand?: RandomSource): ModProof {
  const { N, p, q } = sk;
  if (p * q !== N || (p & 3n) !== 3n || (q & 3n) !== 3n) throw new MpcError('ERR_MPC_USAGE', 'proveMod: not a Blum factorisation of N');
  const crt = new CrtContext(p, q, false);
  const phi = (p - 1n) * (q - 1n);
  const nInv = modInv(N, phi);
  // Fourth root of a residue r mod a Blum prime: r^{((p+1)/4)^2}.
  const fp = ((p + 1n) / 4n) ** 2n % (p - 1n);
  const fq = ((q + 1n) / 4n) ** 2n % (q - 1n);
  let w: bigint;
  do w = randomUnit(N, rand);
  while (jacobi(w, N) !== -1);
  const wp = jacobi(w, p);
  const wq = jacobi(w, q);
  const ys = challenges(N, w, t);
  const x: bigint[] = [];
  const a: boolean[] = [];
  const b: boolean[] = [];
  const z: bigint[] = [];
  for (const y of ys) {
    const yp = jacobi(y, p);
    const yq = jacobi(y, q);
    if (yp === 0 || yq === 0) throw new MpcError('ERR_MPC_USAGE', 'proveMod: challenge shares a factor with N');
    // (-1/p) = (-1/q) = -1 for Blum primes, and (w/p) = -(w/q): exactly one (a, b) makes the twist
    // a residue modulo both primes.
    let found = false;
    for (const bi of [false, true]) {
      for (const ai of [false, true]) {
        const sp = (ai ? -1 : 1) * (bi ? wp : 1) * yp;
        const sq = (ai ? -1 : 1) * (bi ? wq : 1) * yq;
        if (sp === 1 && sq === 1 && !found) {
          found = true;
          let yy = bi ? (w * y) % N : y;
          if (ai) yy = N - yy;
          const xp = modPow(yy % p, fp, p, true);
          const xq = modPow(yy % q, fq, q, true);
          x.push(crt.combine(xp, xq));
          a.push(ai);
          b.push(bi);
        }
      }
    }
    if (!found) throw new MpcError('ERR_MPC_USAGE', 'proveMod: no residue twist (not a Blum modulus)');
    z.push(crt.pow(y, nInv));
  }
  return { w, x, a, b, z };
}

/** Verifies Π^mod for N under transcript t (bound to the same session / party as the prover's). */
export function verifyMod(N: bigint, proof: ModProof, t: Transcript): boolean {
  try {
    if (N < 3n || (N & 1n) === 0n || checkPrimeSync(N)) return false;
    const { w, x, a, b, z } = proof;
    if (x.length !== MOD_ITERATIONS || a.length !== MOD_ITERATIONS || b.length !== MOD_ITERATIONS || z.length !== MOD_ITERATIONS) return false;
    if (w <= 0n || w >= N || jacobi(w, N) !== -1) return false;
    for (let i = 0; i < MOD_ITERATIONS; i++) {
      if (x[i]! <= 0n || x[i]! >= N || z[i]! <= 0n || z[i]! >= N) return false;
    }
    const ys = challenges(N, w, t);
    for (let i = 0; i < MOD_ITERATIONS; i++) {
      const y = ys[i]!;
      if (y === 0n || gcd(y, N) !== 1n) return false;
      if (modPow(z[i]!, N, N, false) !== y) return false;
      let rhs = b[i] ? (w * y) % N : y;
      if (a[i]) rhs = (N - rhs) % N;
      const x2 = (x[i]! * x[i]!) % N;
      if ((x2 * x2) % N !== rhs) return false;
    }
    return true;
  } catch {
    return false;
  }
}

export function encodeModProof(p: ModProof): Uint8Array {
  if (p.x.length !== MOD_ITERATIONS || p.a.length !== MOD_ITERATIONS || p.b.length !== MOD_ITERATIONS || p.z.length !== MOD_ITERATIONS)
    throw new MpcError('ERR_MPC_USAGE', 'encodeModProof: wrong number of rounds');
  const wr = new Writer().u8(TAG).u16(MOD_ITERATIONS).bigint(p.w);
  for (let i = 0; i < MOD_ITERATIONS; i++) {
    wr.u8((p.a[i] ? 1 : 0) | (p.b[i] ? 2 : 0)).bigint(p.x[i]!).bigint(p.z[i]!);
  }
  return wr.finish();
}

/** Strict: tag, exactly MOD_ITERATIONS rounds, flags in 0..3, minimal integers, no trailing bytes. */
export function decodeModProof(bytes: Uint8Array): ModProof {
  const r = new Reader(bytes);
  if (r.u8() !== TAG) throw new MpcParseError('Π^mod: bad tag');
  if (r.u16() !== MOD_ITERATIONS) throw new MpcParseError('Π^mod: wrong number of rounds');
  const w = r.bigint(MAX_ELEM_BYTES);
  const x: bigint[] = [];
  const a: boolean[] = [];
  const b: boolean[] = [];
  const z: bigint[] = [];
  for (let i = 0; i < MOD_ITERATIONS; i++) {
    const f = r.u8();
    if (f > 3) throw new MpcParseError('Π^mod: bad flags');
    a.push((f & 1) === 1);
    b.push((f & 2) === 2);
    x.push(r.bigint(MAX_ELEM_BYTES));
    z.push(r.bigint(MAX_ELEM_BYTES));
  }
  r.end();
  return { w, x, a, b, z };
}
