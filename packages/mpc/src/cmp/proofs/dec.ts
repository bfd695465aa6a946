/**
 * Π^dec: Paillier decryption modulo q (CMP eprint 2021/060, Fig. 30), in the form the
 * identification steps need: for ciphertexts C_1..C_m under the prover's N0 and public
 * coefficients a_i, "Σ_i a_i·y_i ≡ x (mod q), where y_i is the centred plaintext of C_i".
 * Presigning proves δ_i with one term (U_i, 1); signing proves σ_j with two, (K_j, m + r·t) and
 * (X_j = Ĥ_j·Π D̂·F̂⁻¹, r), because the single ciphertext K_j^{m+rt}·X_j^r would have a plaintext
 * above N0/2 (r·χ̃ is |q| + ℓ' + ε bits) and could not be bounded.
 *
 * Why not the paper's Fig. 30 as printed: its only check on z1 is what the prover's mask allows,
 * and nothing forces the y hidden in z1 = α + e·y to be the *centred* plaintext: with
 * y' = u + k·N0 the ciphertext is unchanged and k can be picked so that y' ≡ x for any x (issue 13).
 * The later revision of the paper (2024, Fig. 28, "special decryption in the exponent") binds y
 * differently; here the fix is the one the statement needs, an explicit bound on y:
 *
 * - every honest y_i is below 2^DEC_Y_BITS (ℓ' + ε + 8 bits: χ̃ and δ's ciphertexts are sums of
 *   at most 2^6 terms k·γ + β with |γ| ≤ 2^{ℓ+ε}, |β| ≤ 2^{ℓ'+ε} as Π^aff-g/Π^enc guarantee);
 * - challenges are short, e ∈ [0, 2^64), and the proof repeats DEC_REPS = 2 times with one
 *   Fiat-Shamir hash over both (soundness 2^-128);
 * - masks α ∈ ±2^{DEC_MASK_BITS}, DEC_MASK_BITS = DEC_Y_BITS + 64 + 128 (statistical distance
 *   2^-128 for z1), and the verifier refuses |z1| ≥ 2^{DEC_MASK_BITS+1}.
 *
 * Soundness (special soundness per repetition): from two accepting answers with e ≠ e', the
 * ring-Pedersen equation s^{Δz1}·t^{Δz2} = S_i^{Δe} gives Δe | Δz1 under strong RSA (as for
 * Π^enc), so y* = Δz1/Δe is an integer with |y*| ≤ 2^{DEC_MASK_BITS+2}; the Paillier equation
 * gives enc(Δz1) = C_i^{Δe} and, Δe being prime to N0, C_i = enc(y*). Since 2^{DEC_MASK_BITS+2}
 * < N0/2 (the verifier checks |N0| ≥ DEC_MASK_BITS + 4), y* IS the centred plaintext: a
 * y' = u + kN0 with k ≠ 0 cannot be behind an accepting proof. The mod-q equation then gives
 * Δe·(Σ a_i y_i* − x) ≡ 0, and |Δe| < q prime, so Σ a_i y_i* ≡ x (mod q).
 *
 * The prover owns N0 (it decrypts each C_i to learn y_i and its nonce ρ_i); commitments use the
 * verifier's ring-Pedersen parameters. Only the identification steps run it (after a failure).
 */
import { bitLength, mod, modPow, randomSigned, randomSignedScaled, randomUnit } from '../../arith/bigint.ts';
import { Reader, Writer } from '../../codec.ts';
import { MpcParseError } from '../../errors.ts';
import { MAX_CIPHERTEXT_BYTES, MAX_INT_BYTES } from '../messages.ts';
import {
  encWith, ELL_PRIME, EPS, isUnit, isUnitN2, pedCommit, powN, powN2, put, safely,
  type PaillierCtx, type PedersenCtx, type RandomSource, type TranscriptLike,
} from './common.ts';

/** Bound on each |y_i| (bits): ℓ' + ε + 8, room for sums of up to 2^6 MtA terms (see above). */
export const DEC_Y_BITS = ELL_PRIME + EPS + 8;
/** Challenge bits per repetition. */
export const DEC_CHALLENGE_BITS = 64;
/** Repetitions: DEC_REPS · DEC_CHALLENGE_BITS = 128 bits of soundness. */
export const DEC_REPS = 2;
/** Statistical hiding of y in z1 = α + e·y (bits). */
export const DEC_HIDING_BITS = 128;
/** Bits of the mask α; |z1| < 2^{DEC_MASK_BITS+1} is the verifier's range check. */
export const DEC_MASK_BITS = DEC_Y_BITS + DEC_CHALLENGE_BITS + DEC_HIDING_BITS;
/** At most this many terms per statement (the protocols use one or two). */
export const DEC_MAX_TERMS = 4;

const CHALLENGE_RANGE = 1n << BigInt(DEC_CHALLENGE_BITS);

/** One term of the statement: a ciphertext under N0 and its public coefficient mod q. */
export interface DecTerm {
  readonly C: bigint;
  readonly a: bigint;
}

/** The prover's witness for one term: C's centred plaintext y and its nonce ρ (C = enc(y; ρ)). */
export interface DecWitness {
  readonly y: bigint;
  readonly rho: bigint;
}

/** One repetition: per term T, A, z1, z2, w; and γ = Σ a_i·α_i mod q. */
export interface DecRound {
  readonly T: readonly bigint[];
  readonly A: readonly bigint[];
  readonly gamma: bigint;
  readonly z1: readonly bigint[];
  readonly z2: readonly bigint[];
  readonly w: readonly bigint[];
}

export interface DecProof {
  /** Ring-Pedersen commitments S_i = s^{y_i}·t^{μ_i}, one per term. */
  readonly S: readonly bigint[];
  readonly rounds: readonly DecRound[];
}

function challenges(t: TranscriptLike, q: bigint, K: PaillierCtx, P: PedersenCtx, terms: readonly DecTerm[], x: bigint, S: readonly bigint[], rounds: ReadonlyArray<{ T: readonly bigint[]; A: readonly bigint[]; gamma: bigint }>): bigint[] {
  put(t, 'dec', { N0: K.N, Nhat: P.N, s: P.s, t: P.t, x: mod(x, q) });
  t.append('dec/m', terms.length);
  t.append('dec/reps', rounds.length);
  terms.forEach((term, i) => put(t, `dec/${i}`, { C: term.C, a: mod(term.a, q), S: S[i]! }));
  rounds.forEach((r, k) => {
    terms.forEach((_, i) => put(t, `dec/${k}/${i}`, { T: r.T[i]!, A: r.A[i]! }));
    put(t, `dec/${k}`, { gamma: r.gamma });
  });
  return rounds.map(() => t.challengeScalar(CHALLENGE_RANGE));
}

/**
 * Proves Σ a_i·y_i ≡ x (mod q) for the centred plaintexts y_i of `terms[i].C` (under K, which
 * must carry its factors). Throws if a witness is outside ±2^DEC_Y_BITS (an honest prover never is).
 */
export function proveDec(t: TranscriptLike, q: bigint, K: PaillierCtx, P: PedersenCtx, terms: readonly DecTerm[], x: bigint, wit: readonly DecWitness[], rand?: RandomSource): DecProof {
  if (terms.length === 0 || terms.length > DEC_MAX_TERMS || wit.length !== terms.length) throw new RangeError('Π^dec: bad statement shape');
  for (const w of wit) if (bitLength(w.y) > DEC_Y_BITS) throw new RangeError('Π^dec: plaintext outside the proven range');
  const mu = wit.map(() => randomSignedScaled(DEC_Y_BITS, P.N, rand));
  const S = wit.map((w, i) => pedCommit(P, w.y, mu[i]!));
  const eph = Array.from({ length: DEC_REPS }, () => {
    const alpha = terms.map(() => randomSigned(DEC_MASK_BITS, rand));
    const nu = terms.map(() => randomSignedScaled(DEC_MASK_BITS, P.N, rand));
    const r = terms.map(() => randomUnit(K.N, rand));
    const T = alpha.map((a, i) => pedCommit(P, a, nu[i]!));
    const A = alpha.map((a, i) => encWith(K, a, r[i]!));
    const gamma = mod(alpha.reduce((acc, a, i) => acc + mod(terms[i]!.a, q) * a, 0n), q);
    return { alpha, nu, r, T, A, gamma };
  });
  const es = challenges(t, q, K, P, terms, x, S, eph);
  const rounds = eph.map((r, k): DecRound => {
    const e = es[k]!;
    return {
      T: r.T, A: r.A, gamma: r.gamma,
      z1: r.alpha.map((a, i) => a + e * wit[i]!.y),
      z2: r.nu.map((n, i) => n + e * mu[i]!),
      w: r.r.map((ri, i) => mod(ri * powN(K, wit[i]!.rho, e), K.N)),
    };
  });
  return { S, rounds };
}

export function verifyDec(t: TranscriptLike, q: bigint, K: PaillierCtx, P: PedersenCtx, terms: readonly DecTerm[], x: bigint, pf: DecProof): boolean {
  return safely(() => {
    const m = terms.length;
    if (m === 0 || m > DEC_MAX_TERMS || pf.S.length !== m || pf.rounds.length !== DEC_REPS) return false;
    // The bound argument needs 2^{DEC_MASK_BITS+2} < N0/2.
    if (bitLength(K.N) < DEC_MASK_BITS + 4) return false;
    for (const term of terms) if (!isUnitN2(term.C, K)) return false;
    for (const s of pf.S) if (!isUnit(s, P.N)) return false;
    for (const r of pf.rounds) {
      if (r.T.length !== m || r.A.length !== m || r.z1.length !== m || r.z2.length !== m || r.w.length !== m) return false;
      if (r.gamma < 0n || r.gamma >= q) return false;
      for (let i = 0; i < m; i++) {
        if (!isUnit(r.T[i]!, P.N) || !isUnitN2(r.A[i]!, K) || !isUnit(r.w[i]!, K.N)) return false;
        // The range check that makes y the centred plaintext (see the module comment).
        if (bitLength(r.z1[i]!) > DEC_MASK_BITS + 1) return false;
      }
    }
    const es = challenges(t, q, K, P, terms, x, pf.S, pf.rounds);
    for (let k = 0; k < DEC_REPS; k++) {
      const r = pf.rounds[k]!;
      const e = es[k]!;
      let lin = 0n;
      for (let i = 0; i < m; i++) {
        const z1 = r.z1[i]!;
        if (encWith(K, z1, r.w[i]!, true) !== mod(r.A[i]! * powN2(K, terms[i]!.C, e, true), K.N2)) return false;
        if (pedCommit(P, z1, r.z2[i]!) !== mod(r.T[i]! * modPow(pf.S[i]!, e, P.N, false), P.N)) return false;
        lin += mod(terms[i]!.a, q) * z1;
      }
      if (mod(lin, q) !== mod(r.gamma + e * x, q)) return false;
    }
    return true;
  });
}

const TAG_DEC = 0x47;

export function encodeDecProof(p: DecProof): Uint8Array {
  const w = new Writer().u8(TAG_DEC).u8(p.S.length).u8(p.rounds.length);
  for (const s of p.S) w.bigint(s);
  for (const r of p.rounds) {
    w.bigint(r.gamma);
    for (let i = 0; i < p.S.length; i++) w.bigint(r.T[i]!).bigint(r.A[i]!).sbigint(r.z1[i]!).sbigint(r.z2[i]!).bigint(r.w[i]!);
  }
  return w.finish();
}

/** Strict: tag, at most DEC_MAX_TERMS terms, exactly DEC_REPS repetitions, no trailing bytes. */
export function decodeDecProof(b: Uint8Array): DecProof {
  const rd = new Reader(b);
  if (rd.u8() !== TAG_DEC) throw new MpcParseError('proof tag');
  const m = rd.u8();
  const reps = rd.u8();
  if (m === 0 || m > DEC_MAX_TERMS || reps !== DEC_REPS) throw new MpcParseError('Π^dec: bad shape');
  const S = Array.from({ length: m }, () => rd.bigint(MAX_INT_BYTES));
  const rounds = Array.from({ length: reps }, (): DecRound => {
    const gamma = rd.bigint(MAX_INT_BYTES);
    const T: bigint[] = [], A: bigint[] = [], z1: bigint[] = [], z2: bigint[] = [], w: bigint[] = [];
    for (let i = 0; i < m; i++) {
      T.push(rd.bigint(MAX_INT_BYTES));
      A.push(rd.bigint(MAX_CIPHERTEXT_BYTES));
      z1.push(rd.sbigint(MAX_INT_BYTES));
      z2.push(rd.sbigint(MAX_INT_BYTES));
      w.push(rd.bigint(MAX_INT_BYTES));
    }
    return { T, A, gamma, z1, z2, w };
  });
  rd.end();
  return { S, rounds };
}
