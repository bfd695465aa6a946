/**
 * Paillier encryption (Paillier 1999) as used by MPC-CMP (§2.2 "Paillier encryption"): N = pq a
 * Paillier-Blum modulus (p ≡ q ≡ 3 mod 4, gcd(N, φ(N)) = 1), generator g = 1 + N, so
 * enc(m; ρ) = (1+N)^m · ρ^N mod N^2 = (1 + mN) · ρ^N mod N^2.
 *
 * The secret key decrypts with CRT over p^2 and q^2 (exponents reduced to p-1 and q-1), and can
 * recover the encryption nonce ρ (needed for Π^dec and for identifying a cheater, CMP §4.3).
 *
 * Timing: the secret-key exponentiations go through `CrtContext` (constant-time exponent ladder on
 * the native backend); the BigInt CRT recombination and the L function are not constant time.
 */
import { Reader, Writer } from '../codec.ts';
import { MpcError, MpcParseError } from '../errors.ts';
import { CrtContext, bitLength, gcd, mod, modInv, modPow, modPowAsync, randomUnit, type RandomSource } from './bigint.ts';
import { checkPrimeSync } from 'node:crypto';

/** Bit length of every Paillier modulus accepted from the wire (2 x 1024-bit primes). */
export const PAILLIER_BITS = 2048;

const PUB_VERSION = 1;
const SEC_VERSION = 1;

export class PaillierPublicKey {
  readonly N: bigint;
  readonly N2: bigint;
  private readonly noncePool: Array<{ rho: bigint; rhoN: bigint }> = [];
  constructor(N: bigint) {
    if (N < 3n || (N & 1n) === 0n) throw new MpcError('ERR_MPC_USAGE', 'Paillier modulus must be odd');
    this.N = N;
    this.N2 = N * N;
  }

  /**
   * enc(m; ρ) with a fresh ρ ← Z_N^*; m is taken modulo N (negative m allowed). Uses a
   * precomputed nonce when one is pooled (see `precomputeNonces`) and no `rand` is injected.
   */
  encrypt(m: bigint, rand?: RandomSource): { c: bigint; rho: bigint } {
    const { rho, rhoN } = this.nonce(rand);
    const gm = 1n + mod(m, this.N) * this.N;
    return { c: (gm * rhoN) % this.N2, rho };
  }

  /**
   * A fresh encryption nonce ρ ← Z_N^* with ρ^N mod N^2 (the expensive half of an encryption,
   * independent of the message): taken from the pool when available and no `rand` is injected,
   * else computed now. Each pooled nonce is handed out once.
   */
  nonce(rand?: RandomSource): { rho: bigint; rhoN: bigint } {
    if (!rand) {
      const pooled = this.noncePool.shift();
      if (pooled) return pooled;
    }
    const rho = randomUnit(this.N, rand);
    return { rho, rhoN: modPow(rho, this.N, this.N2) };
  }

  /**
   * Compute `count` nonces ahead of time, off the event loop (libuv thread pool on the native
   * backend, so they run in parallel on idle cores). ρ^N is the 2048-bit-exponent, 4096-bit-modulus
   * exponentiation that dominates encryption under another party's key.
   */
  async precomputeNonces(count: number): Promise<void> {
    const jobs: Array<Promise<void>> = [];
    for (let i = 0; i < count; i++) {
      const rho = randomUnit(this.N);
      jobs.push(
        modPowAsync(rho, this.N, this.N2).then((rhoN) => {
          this.noncePool.push({ rho, rhoN });
        }),
      );
    }
    await Promise.all(jobs);
  }

  /** Number of precomputed nonces available. */
  get pooledNonces(): number {
    return this.noncePool.length;
  }

  /**
   * (1+N)^m · ρ^N mod N^2 for any integers m, ρ (both reduced modulo N). It does not validate ρ,
   * because verifiers use it on untrusted responses (e.g. Π^enc's (1+N)^{z1} z2^N) and must do
   * their own range / unit checks.
   */
  encryptWith(m: bigint, rho: bigint): bigint {
    const gm = 1n + mod(m, this.N) * this.N; // (1+N)^m mod N^2, binomial expansion
    const rn = modPow(mod(rho, this.N), this.N, this.N2);
    return (gm * rn) % this.N2;
  }

  /** enc(m1 + m2) from enc(m1), enc(m2). */
  add(c1: bigint, c2: bigint): bigint {
    return (mod(c1, this.N2) * mod(c2, this.N2)) % this.N2;
  }

  /** enc(k·m) from c = enc(m): c^k mod N^2; negative k uses c^-1 (throws if c is not a unit). */
  mulConst(c: bigint, k: bigint): bigint {
    return modPow(c, k, this.N2);
  }

  /** c ∈ Z_{N^2}^*: 0 < c < N^2 and gcd(c, N) = 1. */
  validCiphertext(c: bigint): boolean {
    return c > 0n && c < this.N2 && gcd(c, this.N) === 1n;
  }

  equals(o: PaillierPublicKey): boolean {
    return this.N === o.N;
  }

  encode(): Uint8Array {
    return new Writer().u8(PUB_VERSION).bigint(this.N).finish();
  }

  /** Strict: version 1, N odd of exactly PAILLIER_BITS bits, no trailing bytes. */
  static decode(b: Uint8Array): PaillierPublicKey {
    const r = new Reader(b);
    if (r.u8() !== PUB_VERSION) throw new MpcParseError('Paillier public key: unknown version');
    const N = r.bigint(PAILLIER_BITS / 8);
    r.end();
    checkModulus(N, 'Paillier public key');
    return new PaillierPublicKey(N);
  }
}

/** Wire checks shared by Paillier and ring-Pedersen moduli. */
export function checkModulus(N: bigint, what: string): void {
  if (bitLength(N) !== PAILLIER_BITS) throw new MpcParseError(`${what}: modulus must have ${PAILLIER_BITS} bits`);
  if ((N & 1n) === 0n) throw new MpcParseError(`${what}: modulus must be odd`);
}

export class PaillierSecretKey {
  readonly pub: PaillierPublicKey;
  readonly p: bigint;
  readonly q: bigint;
  readonly phi: bigint;
  /** CRT over (p, q): exponentiations modulo N with the factorisation. */
  readonly crtN: CrtContext;
  /** CRT over (p^2, q^2): exponentiations modulo N^2. */
  readonly crtN2: CrtContext;
  private readonly hp: bigint;
  private readonly hq: bigint;
  private readonly nInvP1: bigint;
  private readonly nInvQ1: bigint;

  private constructor(p: bigint, q: bigint) {
    this.p = p;
    this.q = q;
    this.pub = new PaillierPublicKey(p * q);
    this.phi = (p - 1n) * (q - 1n);
    this.crtN = new CrtContext(p, q, false);
    this.crtN2 = new CrtContext(p, q, true);
    const N = this.pub.N;
    // h_p = L_p(g^{p-1} mod p^2)^{-1} mod p with g = 1+N (Paillier 1999, §7 "Decryption using CRT").
    this.hp = modInv(lfun(modPow(1n + N, p - 1n, p * p), p), p);
    this.hq = modInv(lfun(modPow(1n + N, q - 1n, q * q), q), q);
    this.nInvP1 = modInv(N, p - 1n);
    this.nInvQ1 = modInv(N, q - 1n);
  }

  /**
   * Key from two distinct primes p ≡ q ≡ 3 mod 4 of equal size (checked, including primality via
   * OpenSSL's Miller-Rabin, and gcd(N, φ(N)) = 1).
   */
  static fromPrimes(p: bigint, q: bigint): PaillierSecretKey {
    if (p === q) throw new MpcError('ERR_MPC_USAGE', 'Paillier: p and q must differ');
    if ((p & 3n) !== 3n || (q & 3n) !== 3n) throw new MpcError('ERR_MPC_USAGE', 'Paillier: primes must be 3 mod 4');
    if (bitLength(p) !== bitLength(q)) throw new MpcError('ERR_MPC_USAGE', 'Paillier: primes must have equal size');
    if (!checkPrimeSync(p) || !checkPrimeSync(q)) throw new MpcError('ERR_MPC_USAGE', 'Paillier: not prime');
    if (gcd(p * q, (p - 1n) * (q - 1n)) !== 1n) throw new MpcError('ERR_MPC_USAGE', 'Paillier: gcd(N, φ(N)) != 1');
    return new PaillierSecretKey(p, q);
  }

  /** m ∈ (-N/2, N/2] from c; throws MpcError('ERR_MPC_USAGE') for c ∉ Z_{N^2}^* (check first and blame). */
  decrypt(c: bigint): bigint {
    if (!this.pub.validCiphertext(c)) throw new MpcError('ERR_MPC_USAGE', 'Paillier: invalid ciphertext');
    const { p, q } = this;
    const p2 = this.crtN2.P;
    const q2 = this.crtN2.Q;
    const mp = mod(lfun(modPow(c % p2, p - 1n, p2, true), p) * this.hp, p);
    const mq = mod(lfun(modPow(c % q2, q - 1n, q2, true), q) * this.hq, q);
    return centre(this.crtN.combine(mp, mq), this.pub.N);
  }

  /**
   * Plaintext and nonce: c = (1+N)^m ρ^N mod N^2. ρ = (c (1+N)^{-m} mod N)^{N^{-1} mod φ(N)}.
   * m is centred like `decrypt`; ρ ∈ Z_N^*.
   */
  decryptWithNonce(c: bigint): { m: bigint; rho: bigint } {
    const m = this.decrypt(c);
    const N = this.pub.N;
    const rn = mod(c * (1n - mod(m, N) * N), this.pub.N2); // c · (1+N)^{-m} = ρ^N mod N^2
    const r = rn % N;
    const rp = modPow(r % this.p, this.nInvP1, this.p, true);
    const rq = modPow(r % this.q, this.nInvQ1, this.q, true);
    return { m, rho: this.crtN.combine(rp, rq) };
  }

  encode(): Uint8Array {
    return new Writer().u8(SEC_VERSION).bigint(this.p).bigint(this.q).finish();
  }

  /** Strict; re-validates the primes' shape (not primality: the blob is our own sealed state). */
  static decode(b: Uint8Array): PaillierSecretKey {
    const r = new Reader(b);
    if (r.u8() !== SEC_VERSION) throw new MpcParseError('Paillier secret key: unknown version');
    const p = r.bigint(PAILLIER_BITS / 16);
    const q = r.bigint(PAILLIER_BITS / 16);
    r.end();
    if (p === q || (p & 3n) !== 3n || (q & 3n) !== 3n) throw new MpcParseError('Paillier secret key: bad primes');
    checkModulus(p * q, 'Paillier secret key');
    return new PaillierSecretKey(p, q);
  }
}

function lfun(x: bigint, n: bigint): bigint {
  return (x - 1n) / n;
}

/** Representative of x mod N in (-N/2, N/2]. */
export function centre(x: bigint, N: bigint): bigint {
  x = mod(x, N);
  return x > N >> 1n ? x - N : x;
}
