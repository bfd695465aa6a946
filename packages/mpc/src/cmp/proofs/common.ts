/**
 * Shared pieces of the CMP zero-knowledge proofs (eprint 2021/060 §6 and Appendix C): the
 * paper's security parameters, Paillier and ring-Pedersen arithmetic with CRT shortcuts for
 * whoever holds the factorisation, and the structural types the proofs take (so a proof does not
 * care which class carries N).
 *
 * Timing: JS BigInt is not constant time; see arith/bigint.ts for what the native backend covers.
 */
import { crtContext, crtPow, gcd, mod, modPow, type RandomSource } from '../../arith/bigint.ts';
import { Reader, Writer } from '../../codec.ts';
import { MAX_INT_BYTES, MAX_CIPHERTEXT_BYTES } from '../messages.ts';
import { MpcParseError } from '../../errors.ts';

/** ℓ: bits of the secrets (the curve order), CMP §6 "parameters". */
export const ELL = 256;
/** ℓ' = 5ℓ: bits of the MtA masks β. */
export const ELL_PRIME = 5 * 256;
/** ε = 2ℓ: slackness of the range proofs. */
export const EPS = 2 * 256;

export type { RandomSource };

/** What the proofs need of a transcript (cmp/proofs/transcript.ts `Transcript`). */
export interface TranscriptLike {
  append(label: string, data: Uint8Array | bigint | string | number): unknown;
  challengeSigned(q: bigint): bigint;
  challengeScalar(q: bigint): bigint;
}

/** A Paillier modulus, optionally with its factors (only its owner has them). */
export interface PaillierCtx {
  readonly N: bigint;
  readonly N2: bigint;
  readonly p?: bigint;
  readonly q?: bigint;
}

/** Ring-Pedersen parameters (N̂, s, t), optionally with the owner's secret (λ: s = t^λ, and p, q). */
export interface PedersenCtx {
  readonly N: bigint;
  readonly s: bigint;
  readonly t: bigint;
  readonly lambda?: bigint;
  readonly p?: bigint;
  readonly q?: bigint;
}

export function paillierCtx(N: bigint, p?: bigint, q?: bigint): PaillierCtx {
  return p !== undefined && q !== undefined ? { N, N2: N * N, p, q } : { N, N2: N * N };
}

/**
 * b^e mod N² (CRT when the factors are known). `pub`: base and exponent are public (a verifier's
 * checks), so the non-constant-time ladder may be used and short negative exponents are inverted.
 */
export function powN2(k: PaillierCtx, b: bigint, e: bigint, pub = false): bigint {
  if (k.p !== undefined && k.q !== undefined) return crtPow(b, e, k.p, k.q, true, pub);
  return modPow(b, e, k.N2, !pub);
}

/** b^e mod N (CRT when the factors are known); `pub` as for `powN2`. */
export function powN(k: PaillierCtx, b: bigint, e: bigint, pub = false): bigint {
  if (k.p !== undefined && k.q !== undefined) return crtPow(b, e, k.p, k.q, false, pub);
  return modPow(b, e, k.N, !pub);
}

/**
 * (1+N)^m · ρ^N mod N² for any integer m (CMP §2.3, Paillier). The owner of N computes ρ^N with
 * `CrtContext.powModulus`; `pub` (verifiers: ρ is a public response) selects the faster
 * non-constant-time ladder under another party's key.
 */
export function encWith(k: PaillierCtx, m: bigint, rho: bigint, pub = false): bigint {
  const rn = k.p !== undefined && k.q !== undefined ? crtContext(k.p, k.q, true).powModulus(rho) : modPow(rho, k.N, k.N2, !pub);
  return mod((1n + mod(m, k.N) * k.N) * rn, k.N2);
}

/** b^e mod N̂ for public b, e (a verifier's S^e); CRT when the owner's factors are attached. */
export function pedPowPublic(P: PedersenCtx, b: bigint, e: bigint): bigint {
  if (P.p !== undefined && P.q !== undefined) return crtPow(b, e, P.p, P.q, false, true);
  return modPow(b, e, P.N, false);
}

/** s^a · t^b mod N̂; the owner computes t^(λa+b) with CRT. */
export function pedCommit(P: PedersenCtx, a: bigint, b: bigint): bigint {
  if (P.lambda !== undefined && P.p !== undefined && P.q !== undefined) {
    // φ(N̂)/4-order subgroup: reducing λa+b mod φ(N̂) is exact for t a unit.
    return crtPow(P.t, P.lambda * a + b, P.p, P.q, false);
  }
  return mod(modPow(P.s, a, P.N) * modPow(P.t, b, P.N), P.N);
}

/** 0 < x < n and gcd(x, n) = 1 (n is N or N² or N̂; gcd with N² equals gcd with N). */
export function isUnit(x: bigint, n: bigint): boolean {
  return x > 0n && x < n && gcd(x, n) === 1n;
}

/** Appends labelled values in order (one call per proof keeps the transcripts readable). */
export function put(t: TranscriptLike, prefix: string, values: Record<string, bigint | Uint8Array>): void {
  for (const [k, v] of Object.entries(values)) t.append(`${prefix}/${k}`, v);
}

/** c ∈ Z_{N²}^*: 0 < c < N² and gcd(c mod N, N) = 1 (the gcd on N, half the size of N²). */
export function isUnitN2(c: bigint, K: { N: bigint; N2: bigint }): boolean {
  return c > 0n && c < K.N2 && gcd(c % K.N, K.N) === 1n;
}

/**
 * Unit checks for many values at once: each value's range is checked on its own, then one gcd per
 * distinct modulus on the product of the values (x_1···x_k mod N is coprime to N iff every x_i
 * is), instead of one gcd per value. Same accept/reject decision as calling `isUnit` / `isUnitN2`
 * on each value.
 */
export class UnitBatch {
  private readonly acc = new Map<bigint, bigint>();
  private ok = true;

  /** c ∈ Z_{N²}^* (as `isUnitN2`). */
  n2(c: bigint, K: { N: bigint; N2: bigint }): this {
    if (c > 0n && c < K.N2) this.mul(c % K.N, K.N);
    else this.ok = false;
    return this;
  }

  /** x ∈ Z_n^* (as `isUnit`). */
  n(x: bigint, n: bigint): this {
    if (x > 0n && x < n) this.mul(x, n);
    else this.ok = false;
    return this;
  }

  check(): boolean {
    if (!this.ok) return false;
    for (const [n, a] of this.acc) if (gcd(a, n) !== 1n) return false;
    return true;
  }

  private mul(x: bigint, n: bigint): void {
    const a = this.acc.get(n);
    this.acc.set(n, a === undefined ? x : (a * x) % n);
  }
}

/** Runs a verifier and turns any thrown error (hostile numbers) into `false`. */
export function safely(f: () => boolean): boolean {
  try {
    return f();
  } catch {
    return false;
  }
}

/** Field-by-field encoding of a proof: unsigned ints, signed ints and raw bytes in a fixed order. */
export type Field = { u: bigint } | { s: bigint } | { b: Uint8Array };

export function encodeFields(tag: number, fields: Field[]): Uint8Array {
  const w = new Writer().u8(tag);
  for (const f of fields) {
    if ('u' in f) w.bigint(f.u);
    else if ('s' in f) w.sbigint(f.s);
    else w.bytes(f.b);
  }
  return w.finish();
}

/** Reads a proof with the given shape ('u' unsigned, 's' signed, 'c' ciphertext, 'p' 33-byte point). */
export function decodeFields(tag: number, bytes: Uint8Array, shape: string): Array<bigint | Uint8Array> {
  const r = new Reader(bytes);
  if (r.u8() !== tag) throw new MpcParseError('proof tag');
  const out: Array<bigint | Uint8Array> = [];
  for (const ch of shape) {
    if (ch === 'u') out.push(r.bigint(MAX_INT_BYTES));
    else if (ch === 's') out.push(r.sbigint(MAX_INT_BYTES));
    else if (ch === 'c') out.push(r.bigint(MAX_CIPHERTEXT_BYTES));
    else out.push(r.bytes(33));
  }
  r.end();
  return out;
}
