/**
 * Optional native big-number backend: a small Node-API addon (packages/mpc/native/) that calls the
 * OpenSSL `BN_mod_exp_mont_consttime` / `BN_mod_exp_mont` exported by the node binary itself (no
 * separate libcrypto). Built with `npm run build:native -w @cosigner/mpc`.
 *
 * Loading is best effort: if `native/build/Release/cosigner_bn.node` is missing or fails to load,
 * every operation stays on the pure-BigInt code in bigint.ts. Setting the environment variable
 * `COSIGNER_BIGNUM=bigint` forces the BigInt fallback (tests run the arithmetic suite under both).
 *
 * Numbers cross the boundary as BigInt values (Node-API `napi_get_value_bigint_words` /
 * `napi_create_bigint_words`), which measured faster than hex strings or byte buffers because no
 * radix conversion happens on either side.
 *
 * Constant time: the consttime variant is used whenever the caller marks the exponent secret and
 * the modulus is odd (always true for p, q, N, N^2); `ctModSumProducts` does the secret scalar
 * arithmetic (σ, δ, χ) and the CRT recombination with BN_FLG_CONSTTIME. The conversion of the BigInt arguments into
 * OpenSSL BIGNUMs and back is NOT constant time (V8 BigInt values carry their length), so this
 * protects the exponent's bit pattern against timing, not its length.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/** Opaque handle to a native fixed-base table (freed by the garbage collector). */
export type FixedBaseHandle = { readonly __fixedBase: unique symbol };

export interface NativeBignum {
  /** b^e mod m, with 0 <= b < m, e >= 0, m > 1 odd. `secret` selects the constant-time ladder. */
  modPow(b: bigint, e: bigint, m: bigint, secret: boolean): bigint;
  /** The same on a libuv thread-pool thread; several calls run on several cores. */
  modPowAsync(b: bigint, e: bigint, m: bigint, secret: boolean): Promise<bigint>;
  /** Precomputed table for base b mod m (odd), for exponents below 2^bits. */
  fixedBaseNew(b: bigint, m: bigint, bits: number): FixedBaseHandle;
  /** b^e mod m from a table; e must be below 2^bits of the table. */
  fixedBasePow(h: FixedBaseHandle, e: bigint): bigint;
  /** gcd(a, b) for a, b >= 0. */
  gcd(a: bigint, b: bigint): bigint;
  /** a^-1 mod m for 0 <= a < m (m > 1); 0n when not invertible. `secret`: branch-free variant. */
  modInv(a: bigint, m: bigint, secret: boolean): bigint;
  /**
   * (Σ terms[2i]·terms[2i+1]) mod m in [0, m) for m > 1, signed terms, at most 32 pairs; every
   * operand flagged BN_FLG_CONSTTIME (reductions on BN_div's constant-time path, the sign folded
   * with BN_consttime_swap). Timing depends on the operands' word lengths only.
   */
  ctModSumProducts?(m: bigint, terms: readonly bigint[]): bigint;
  /** Build identifier of the addon and OpenSSL version, for diagnostics. */
  version(): string;
}

function load(): NativeBignum | null {
  if (process.env.COSIGNER_BIGNUM === 'bigint') return null;
  try {
    const here = dirname(fileURLToPath(import.meta.url));
    const path = join(here, '..', '..', 'native', 'build', 'Release', 'cosigner_bn.node');
    if (!existsSync(path)) return null;
    const req = createRequire(import.meta.url);
    const mod = req(path) as NativeBignum;
    // Self-test before trusting it with anything: 3^5 mod 7 = 5, and a secret-exponent variant.
    if (mod.modPow(3n, 5n, 7n, false) !== 5n || mod.modPow(3n, 5n, 7n, true) !== 5n || typeof mod.modPowAsync !== 'function' || typeof mod.fixedBasePow !== 'function' || typeof mod.modInv !== 'function' || mod.modInv(3n, 7n, true) !== 5n || mod.modInv(3n, 7n, false) !== 5n || typeof mod.gcd !== 'function' || mod.gcd(12n, 18n) !== 6n) return null;
    // An addon built before ctModSumProducts existed still serves the rest (ctSumProducts then
    // falls back to BigInt, and `nativeIsCurrent()` says so); a wrong answer disqualifies it.
    if (typeof mod.ctModSumProducts === 'function' && mod.ctModSumProducts(7n, [3n, 4n, -2n, 1n]) !== 3n) return null;
    return mod;
  } catch {
    return null;
  }
}

/** The loaded native backend, or null when arithmetic runs on BigInt only. */
export const native: NativeBignum | null = load();

/**
 * The loaded addon has every routine this source expects (false for a stale build: rebuild with
 * `npm run build:native -w @cosigner/mpc`, which scripts/setup.sh does when the C source is newer).
 */
export function nativeIsCurrent(): boolean {
  return native !== null && typeof native.ctModSumProducts === 'function';
}

/** 'openssl' when the native addon is in use, else 'bigint'. */
export function backendName(): 'openssl' | 'bigint' {
  return native ? 'openssl' : 'bigint';
}
