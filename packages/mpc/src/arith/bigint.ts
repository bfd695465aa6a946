/**
 * Integer arithmetic for MPC-CMP (Canetti, Gennaro, Goldfeder, Makriyannis, Peled, eprint
 * 2021/060): modular exponentiation, inverses, Jacobi symbols, uniform sampling in Z_n, Z_n^* and
 * the paper's signed intervals ±2^ℓ (§2, "Notation"), and CRT exponentiation for the holder of the
 * factorisation.
 *
 * Timing: plain JavaScript BigInt arithmetic is NOT constant time (V8 picks algorithms and
 * allocation by operand length, and `%`/`*` are data dependent). When the native backend
 * (native.ts, OpenSSL) is loaded and the modulus is odd, `modPow` / `modPowAsync` (secret = true
 * by default) and `crtPow` / `CrtContext.pow` run the exponent through OpenSSL's
 * `BN_mod_exp_mont_consttime`, which hides the exponent's bits (not its length), and
 * `ctSumProducts` (the secret scalars σ, δ, χ of CMP and the CRT recombination `CrtContext.combine`)
 * runs on OpenSSL BN with BN_FLG_CONSTTIME. Everything else here (inverse unless asked, gcd,
 * Jacobi, sampling, even moduli, and the whole BigInt fallback) is variable time.
 */
import { randomBytes } from 'node:crypto';
import { MpcError } from '../errors.ts';
import { native } from './native.ts';

/** Source of uniformly random bytes; defaults to node:crypto `randomBytes`. Injected by tests. */
export type RandomSource = (k: number) => Uint8Array;

const defaultRand: RandomSource = (k) => randomBytes(k);

/** Pairs per native call (the addon's limit). */
const CT_PAIRS = 32;

/**
 * (Σ_i terms[2i]·terms[2i+1]) mod m in [0, m), for signed terms and m > 1: the arithmetic on
 * secret values (CMP's σ_i, δ_i, χ_i; the Garner step of the CRT recombination). On the native
 * backend it runs on OpenSSL BN with BN_FLG_CONSTTIME (constant time up to the operands' word
 * lengths, see cosigner_bn.c); on the BigInt fallback it is variable time.
 */
export function ctSumProducts(m: bigint, terms: readonly bigint[]): bigint {
  if (terms.length % 2 !== 0) throw new MpcError('ERR_MPC_USAGE', 'ctSumProducts: terms come in pairs');
  const ct = native?.ctModSumProducts;
  if (!ct) {
    let acc = 0n;
    for (let i = 0; i < terms.length; i += 2) acc += terms[i]! * terms[i + 1]!;
    return mod(acc, m);
  }
  if (terms.length <= 2 * CT_PAIRS) return ct(m, terms);
  let acc = 0n;
  for (let i = 0; i < terms.length; i += 2 * CT_PAIRS - 2) acc = ct(m, [acc, 1n, ...terms.slice(i, i + 2 * CT_PAIRS - 2)]);
  return acc;
}

/** a mod m in [0, m) for m > 0 (JavaScript `%` keeps the sign of a). */
export function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

/** Number of bits of |a| (0 for 0). */
export function bitLength(a: bigint): number {
  if (a < 0n) a = -a;
  if (a === 0n) return 0;
  const hex = a.toString(16);
  return (hex.length - 1) * 4 + (32 - Math.clz32(parseInt(hex[0]!, 16)));
}

export function gcd(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a;
  if (b < 0n) b = -b;
  // Unit checks (gcd = 1) on 2048/4096-bit values are frequent: every ciphertext and proof element.
  // OpenSSL's binary inversion answers "coprime?" ~1.5x faster than BigInt Euclid; only a failed
  // inversion (gcd > 1, rare) takes the Euclid path for the actual value. (BN_gcd is constant time
  // in OpenSSL 3 and ~5x slower than Euclid, so it is not used.)
  if (native && b > 0xffffffffffffn && (b & 1n) === 1n && a !== 0n) {
    if (native.modInv(a % b, b, false) !== 0n) return 1n;
  } else if (native && a > 0xffffffffffffn && (a & 1n) === 1n && b !== 0n) {
    if (native.modInv(b % a, a, false) !== 0n) return 1n;
  }
  while (b !== 0n) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** Inverse of a modulo m; throws MpcError('ERR_MPC_USAGE') when gcd(a, m) != 1. */
export function modInv(a: bigint, m: bigint): bigint {
  if (m <= 1n) throw new MpcError('ERR_MPC_USAGE', 'modInv: modulus must exceed 1');
  if (native && m > 0xffffffffn) {
    // OpenSSL's BN_mod_inverse: ~10x faster than the BigInt Euclid below at 2048 bits.
    const r = native.modInv(mod(a, m), m, true);
    if (r === 0n) throw new MpcError('ERR_MPC_USAGE', 'modInv: not invertible');
    return r;
  }
  let r0 = m;
  let r1 = mod(a, m);
  let t0 = 0n;
  let t1 = 1n;
  while (r1 !== 0n) {
    const qt = r0 / r1;
    const r2 = r0 - qt * r1;
    r0 = r1;
    r1 = r2;
    const t2 = t0 - qt * t1;
    t0 = t1;
    t1 = t2;
  }
  if (r0 !== 1n) throw new MpcError('ERR_MPC_USAGE', 'modInv: not invertible');
  return mod(t0, m);
}

/** Fixed-window square-and-multiply in BigInt; e >= 0, m > 1. Exported for benchmarks and tests. */
export function bigintModPow(b: bigint, e: bigint, m: bigint): bigint {
  if (m === 1n) return 0n;
  b = mod(b, m);
  if (e === 0n) return 1n;
  const bits = e.toString(2);
  const w = bits.length > 512 ? 5 : bits.length > 64 ? 4 : 1;
  if (w === 1) {
    let r = 1n;
    for (let i = 0; i < bits.length; i++) {
      r = (r * r) % m;
      if (bits.charCodeAt(i) === 49) r = (r * b) % m;
    }
    return r;
  }
  const table: bigint[] = new Array<bigint>(1 << w);
  table[0] = 1n;
  for (let i = 1; i < 1 << w; i++) table[i] = (table[i - 1]! * b) % m;
  const pad = (w - (bits.length % w)) % w;
  const padded = '0'.repeat(pad) + bits;
  let r = 1n;
  let first = true;
  for (let i = 0; i < padded.length; i += w) {
    const win = parseInt(padded.slice(i, i + w), 2);
    if (!first) for (let j = 0; j < w; j++) r = (r * r) % m;
    if (win !== 0) r = first ? table[win]! : (r * table[win]!) % m;
    first = false;
  }
  return r;
}

/**
 * b^e mod m (m > 0). A negative e means (b^-1)^|e| and throws MpcError('ERR_MPC_USAGE') when b is
 * not invertible. Runs on OpenSSL when the native backend is loaded and m is odd, else BigInt.
 *
 * `secret` (default true): selects OpenSSL's `BN_mod_exp_mont_consttime` (fixed-window, cache-
 * timing hardened) on the native backend; pass false only when base and exponent are both public
 * (a verifier's checks), which is ~10% faster. The BigInt fallback is never constant time, and on
 * either backend only the exponent's bit pattern is protected, not its length. Recurring bases
 * with large exponents are served from a fixed-base table (see below) whatever `secret` says; its
 * access pattern is also independent of the exponent.
 */
export function modPow(b: bigint, e: bigint, m: bigint, secret = true): bigint {
  if (m <= 0n) throw new MpcError('ERR_MPC_USAGE', 'modPow: modulus must be positive');
  if (m === 1n) return 0n;
  const inverse = e < 0n;
  if (inverse) e = -e;
  b = mod(b, m);
  if (native && (m & 1n) === 1n) {
    // A table for b^-1 is keyed by b itself, so recurring negative exponents skip the inversion.
    const fb = fixedBaseFor(b, e, m, inverse);
    if (fb) return native.fixedBasePow(fb, e);
    return native.modPow(inverse ? modInv(b, m) : b, e, m, secret);
  }
  return bigintModPow(inverse ? modInv(b, m) : b, e, m);
}

/*
 * Transparent fixed-base acceleration (native backend only). CMP raises the same few bases to
 * many large exponents: every ring-Pedersen commitment s^x·t^r under another party's (N̂, s, t),
 * and the owner's CRT halves t mod p, t mod q. After FB_BUILD_AFTER uses of one (base, modulus)
 * with a large exponent, a table of base^(d·16^i) is built natively (cosigner_bn.c), after which
 * such an exponentiation costs one Montgomery multiplication per 4 exponent bits and no
 * squarings (~2x faster measured), with a constant access pattern (full masked row scans).
 *
 * Table size: exponents up to bitLength(m) bits for moduli below 1536 bits (CRT halves, exponents
 * reduced mod p-1), else bitLength(m) + 832 bits (CMP's largest ring-Pedersen exponent,
 * ±2^{ℓ+ε}·N̂, is 768 + 2048 + 1 bits); ~2.9 MB per 2048-bit table, at most FB_MAX_TABLES tables,
 * and a table used within FB_IDLE_MS is never evicted (a newcomer waits instead of thrashing).
 * Only exponents of at least 45% of the table size use it (below that the plain ladder is faster).
 * Candidates are tracked by a 52-bit fingerprint, so bases that never repeat (nonces) are not
 * retained. COSIGNER_FIXED_BASE=0 disables it.
 */
const FB_ENABLED = process.env.COSIGNER_FIXED_BASE !== '0';
const FB_BUILD_AFTER = 3;
const FB_MAX_TABLES = 16;
const FB_MAX_CANDIDATES = 256;
/** A full cache evicts its least recently used table only if that table has been idle this long. */
const FB_IDLE_MS = 30_000;
interface FbTable {
  base: bigint;
  m: bigint;
  handle: import('./native.ts').FixedBaseHandle;
  lastUsed: number;
}
/** Use counts of (base, modulus, sign) fingerprints not yet promoted to a table (insertion order = age). */
const fbCandidates = new Map<string, number>();
/** Built tables, least recently used first. */
const fbTableMap = new Map<string, FbTable>();

function fbTableBits(mBits: number): number {
  return mBits < 1536 ? mBits : mBits + 832;
}

/** Per-modulus eligibility bounds (a few moduli recur; avoids bit-length work on every call). */
const fbBounds = new Map<bigint, { tb: number; minE: bigint; limit: bigint }>();

function fixedBaseFor(b: bigint, e: bigint, m: bigint, inverse: boolean): import('./native.ts').FixedBaseHandle | null {
  if (!FB_ENABLED || !native || m < 1n << 511n) return null;
  let bounds = fbBounds.get(m);
  if (!bounds) {
    const tb = fbTableBits(bitLength(m));
    bounds = { tb, minE: 1n << BigInt(Math.floor((tb * 45) / 100)), limit: 1n << BigInt(tb) };
    if (fbBounds.size >= 64) fbBounds.delete(fbBounds.keys().next().value!);
    fbBounds.set(m, bounds);
  }
  if (e < bounds.minE || e >= bounds.limit) return null;
  const tb = bounds.tb;
  const key = `${(b & 0xfffffffffffffn).toString(36)}:${(m & 0xfffffffffffffn).toString(36)}:${tb}:${inverse ? '-' : '+'}`;
  const now = performance.now();
  const table = fbTableMap.get(key);
  if (table) {
    if (table.base !== b || table.m !== m) return null; // fingerprint collision
    table.lastUsed = now;
    fbTableMap.delete(key);
    fbTableMap.set(key, table);
    return table.handle;
  }
  const hits = (fbCandidates.get(key) ?? 0) + 1;
  fbCandidates.delete(key);
  const keep = (): null => {
    if (fbCandidates.size >= FB_MAX_CANDIDATES) fbCandidates.delete(fbCandidates.keys().next().value!);
    fbCandidates.set(key, hits);
    return null;
  };
  if (hits < FB_BUILD_AFTER) return keep();
  if (fbTableMap.size >= FB_MAX_TABLES) {
    // Anti-thrash: never evict a table that is still in use; the newcomer waits.
    const [oldKey, oldest] = fbTableMap.entries().next().value!;
    if (now - oldest.lastUsed < FB_IDLE_MS) return keep();
    fbTableMap.delete(oldKey);
  }
  const handle = native.fixedBaseNew(inverse ? modInv(b, m) : b, m, tb);
  fbTableMap.set(key, { base: b, m, handle, lastUsed: now });
  return handle;
}

/** Drop every fixed-base table (tests; or after a key refresh to release memory sooner). */
export function clearFixedBaseCache(): void {
  fbCandidates.clear();
  fbTableMap.clear();
}

/** Number of fixed-base tables currently held. */
export function fixedBaseTables(): number {
  return fbTableMap.size;
}

function trailingZeros(a: bigint): number {
  let n = 0;
  for (;;) {
    const low = Number(a & 0xffffffffn);
    if (low !== 0) return n + 31 - Math.clz32(low & -low);
    a >>= 32n;
    n += 32;
  }
}

/**
 * `modPow` off the event loop: on the native backend the exponentiation runs on a libuv
 * thread-pool thread (UV_THREADPOOL_SIZE, default 4), so independent exponentiations proceed in
 * parallel on several cores. On the BigInt backend it computes synchronously and resolves.
 */
export async function modPowAsync(b: bigint, e: bigint, m: bigint, secret = true): Promise<bigint> {
  if (m <= 0n) throw new MpcError('ERR_MPC_USAGE', 'modPow: modulus must be positive');
  if (m === 1n) return 0n;
  if (e < 0n) {
    b = modInv(b, m);
    e = -e;
  } else {
    b = mod(b, m);
  }
  if (native && (m & 1n) === 1n) return native.modPowAsync(b, e, m, secret);
  return bigintModPow(b, e, m);
}

/** Jacobi symbol (a/n) for odd n > 0: 1, -1, or 0 when gcd(a, n) > 1. */
export function jacobi(a: bigint, n: bigint): number {
  if (n <= 0n || (n & 1n) === 0n) throw new MpcError('ERR_MPC_USAGE', 'jacobi: n must be odd and positive');
  a = mod(a, n);
  let s = 1;
  while (a !== 0n) {
    // Strip all factors of two at once; (2/n) = -1 iff n ≡ 3, 5 mod 8, so only the parity of the
    // count matters.
    const tz = trailingZeros(a);
    if (tz > 0) {
      a >>= BigInt(tz);
      const r = n & 7n;
      if (tz & 1 && (r === 3n || r === 5n)) s = -s;
    }
    const t = a;
    a = n;
    n = t;
    if ((a & 3n) === 3n && (n & 3n) === 3n) s = -s;
    a = a % n;
  }
  return n === 1n ? s : 0;
}

/** Uniform in [0, n) by rejection sampling (n >= 1). */
export function randomBelow(n: bigint, rand: RandomSource = defaultRand): bigint {
  if (n <= 0n) throw new MpcError('ERR_MPC_USAGE', 'randomBelow: bound must be positive');
  if (n === 1n) return 0n;
  const bits = bitLength(n - 1n);
  const bytes = Math.ceil(bits / 8);
  const topMask = 0xff >> (bytes * 8 - bits);
  for (;;) {
    const buf = rand(bytes);
    if (buf.length !== bytes) throw new MpcError('ERR_MPC_USAGE', 'random source returned the wrong length');
    const b = Uint8Array.from(buf);
    b[0] = b[0]! & topMask;
    const x = BigInt('0x' + (Buffer.from(b).toString('hex') || '0'));
    if (x < n) return x;
  }
}

/** Uniform in Z_n^* = {x in [1, n) : gcd(x, n) = 1}. */
export function randomUnit(n: bigint, rand: RandomSource = defaultRand): bigint {
  if (n <= 1n) throw new MpcError('ERR_MPC_USAGE', 'randomUnit: modulus must exceed 1');
  for (;;) {
    const x = randomBelow(n, rand);
    if (x !== 0n && gcd(x, n) === 1n) return x;
  }
}

/** Uniform in the paper's interval ±2^bits = [-2^bits, 2^bits]. */
export function randomSigned(bits: number, rand: RandomSource = defaultRand): bigint {
  const B = 1n << BigInt(bits);
  return randomBelow(2n * B + 1n, rand) - B;
}

/** Uniform in ±2^bits·scale = [-2^bits·scale, 2^bits·scale], e.g. CMP's "μ ← ±2^ℓ·N̂". */
export function randomSignedScaled(bits: number, scale: bigint, rand: RandomSource = defaultRand): bigint {
  if (scale <= 0n) throw new MpcError('ERR_MPC_USAGE', 'randomSignedScaled: scale must be positive');
  const B = (1n << BigInt(bits)) * scale;
  return randomBelow(2n * B + 1n, rand) - B;
}

/** |x| <= 2^bits (the paper's "x ∈ ±2^bits"). */
export function isInRange(x: bigint, bits: number): boolean {
  const B = 1n << BigInt(bits);
  return x >= -B && x <= B;
}

/** |x| <= 2^bits·scale. */
export function isInRangeScaled(x: bigint, bits: number, scale: bigint): boolean {
  const B = (1n << BigInt(bits)) * scale;
  return x >= -B && x <= B;
}

/** floor(sqrt(n)) for n >= 0 (Newton iteration). */
export function isqrt(n: bigint): bigint {
  if (n < 0n) throw new MpcError('ERR_MPC_USAGE', 'isqrt: negative');
  if (n < 2n) return n;
  let x = 1n << BigInt(Math.ceil(bitLength(n) / 2));
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/**
 * Precomputed CRT data for exponentiation modulo P·Q where P = p or p^2 and Q = q or q^2, with
 * distinct odd primes p, q known to the caller (the holder of a Paillier / ring-Pedersen secret).
 * Exponents are reduced modulo φ(P), φ(Q) (valid for bases coprime to the modulus), so each half
 * is a ~half-size exponent on a half-size modulus: about 4x to 8x faster than a plain modPow.
 */
export class CrtContext {
  readonly p: bigint;
  readonly q: bigint;
  readonly squared: boolean;
  readonly P: bigint;
  readonly Q: bigint;
  readonly M: bigint;
  private readonly phiP: bigint;
  private readonly phiQ: bigint;
  private readonly qInvP: bigint;
  constructor(p: bigint, q: bigint, squared = false) {
    if (p === q || p < 3n || q < 3n || (p & 1n) === 0n || (q & 1n) === 0n)
      throw new MpcError('ERR_MPC_USAGE', 'CrtContext: need distinct odd primes');
    this.p = p;
    this.q = q;
    this.squared = squared;
    this.P = squared ? p * p : p;
    this.Q = squared ? q * q : q;
    this.M = this.P * this.Q;
    this.phiP = squared ? p * (p - 1n) : p - 1n;
    this.phiQ = squared ? q * (q - 1n) : q - 1n;
    this.qInvP = modInv(this.Q, this.P);
  }
  /**
   * b^e mod P·Q with a secret exponent. A negative e is reduced modulo φ directly (no inversion
   * needed for units); for a base sharing a factor with the modulus, negative e throws.
   */
  pow(b: bigint, e: bigint, publicExponent = false): bigint {
    const xp = this.half(mod(b, this.P), e, this.p, this.P, this.phiP, publicExponent);
    const xq = this.half(mod(b, this.Q), e, this.q, this.Q, this.phiQ, publicExponent);
    return this.combine(xp, xq);
  }
  /**
   * b^N mod N² for N = p·q (squared contexts only): the Paillier nonce power ρ^N under one's own key.
   * Z_{p²}^* = μ_{p-1} × (1 + pZ): writing b = ω·u with u^p = 1, b^N = ω^N because p | N, and
   * ω^N is the Teichmüller lift of y = b^(N mod p-1) mod p, i.e. y^p mod p². Two half-size
   * exponents (one on the half-size modulus p) instead of one full-size exponent mod p²: same
   * value, ~35% less work. Non-units mod p or q take the generic path.
   */
  powModulus(b: bigint): bigint {
    if (!this.squared) throw new MpcError('ERR_MPC_USAGE', 'powModulus: needs a squared CRT context');
    const N = this.p * this.q;
    const xp = this.lift(mod(b, this.P), N, this.p, this.P, this.phiP);
    const xq = this.lift(mod(b, this.Q), N, this.q, this.Q, this.phiQ);
    return this.combine(xp, xq);
  }
  private lift(b: bigint, N: bigint, prime: bigint, sq: bigint, phi: bigint): bigint {
    if (b % prime === 0n) return this.half(b, N, prime, sq, phi, false);
    const y = modPow(b % prime, N % (prime - 1n), prime, true);
    return modPow(y, prime, sq, true);
  }
  /**
   * The element of Z_{PQ} that is xp mod P and xq mod Q (Garner). The step that mixes the secret
   * residues modulo the secret P runs in constant time (`ctSumProducts`); the final xq + Q·h is a
   * multiply-add whose time depends on the operand lengths only.
   */
  combine(xp: bigint, xq: bigint): bigint {
    const h = ctSumProducts(this.P, [xp, this.qInvP, -xq, this.qInvP]);
    return xq + this.Q * h;
  }
  private half(b: bigint, e: bigint, prime: bigint, mod_: bigint, phi: bigint, publicExponent: boolean): bigint {
    if (b % prime === 0n) {
      // Not a unit: Euler's reduction does not apply. Rare (a factor of N was hit), so go slow.
      if (e < 0n) throw new MpcError('ERR_MPC_USAGE', 'crtPow: base not invertible');
      return modPow(b, e, mod_, true);
    }
    // A short negative exponent reduced mod φ becomes full size (a verifier's signed challenge or
    // response: 256 / 768 bits -> 2048); invert after a short power instead. Only for public
    // exponents, since the choice of path reveals the sign.
    if (publicExponent && e < 0n && -e < phi) return modInv(modPow(b, -e, mod_, true), mod_);
    return modPow(b, mod(e, phi), mod_, true);
  }
}

const crtCache: CrtContext[] = [];

/**
 * b^e mod p·q (or mod p^2·q^2 when `squared`) using the secret factorisation (CRT). The exponent
 * is treated as secret (constant-time ladder on the native backend) unless `publicExponent`, which
 * lets a short negative exponent skip the reduction mod φ (the ladder stays constant time). Contexts for the last few
 * factor pairs are cached.
 */
export function crtPow(b: bigint, e: bigint, p: bigint, q: bigint, squared = false, publicExponent = false): bigint {
  return crtContext(p, q, squared).pow(b, e, publicExponent);
}

/** A cached CrtContext for (p, q, squared). */
export function crtContext(p: bigint, q: bigint, squared = false): CrtContext {
  for (const c of crtCache) if (c.p === p && c.q === q && c.squared === squared) return c;
  const c = new CrtContext(p, q, squared);
  crtCache.unshift(c);
  if (crtCache.length > 8) crtCache.pop();
  return c;
}

/** Unsigned big-endian bytes, fixed width (throws if v does not fit). */
export function toFixedBytes(v: bigint, len: number): Uint8Array {
  if (v < 0n) throw new MpcError('ERR_MPC_USAGE', 'toFixedBytes: negative');
  const hex = v.toString(16).padStart(len * 2, '0');
  if (hex.length > len * 2) throw new MpcError('ERR_MPC_USAGE', 'toFixedBytes: value too large');
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}
