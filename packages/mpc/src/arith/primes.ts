/**
 * Prime generation for Paillier-Blum moduli and ring-Pedersen parameters (CMP §2.2 and Fig. 16/17:
 * N = pq with p ≡ q ≡ 3 mod 4; ring-Pedersen N̂ is a product of safe primes so that t generates a
 * large subgroup of QR_N̂).
 *
 * Generation is delegated to OpenSSL through `node:crypto.generatePrime({ safe: true })`: it is a
 * vetted implementation (trial division + Miller-Rabin with the FIPS 186-4 round count), and the
 * asynchronous form runs in libuv's thread pool, so the event loop is never blocked for the tens of
 * seconds a 1024-bit safe prime can take. OpenSSL sets the top two bits, so a product of two
 * 1024-bit primes has exactly 2048 bits. A safe prime p = 2p'+1 with p' odd satisfies p ≡ 3 mod 4.
 *
 * `PrimePool` keeps primes ready ahead of key generation / refresh.
 */
import { generatePrime } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { MpcError } from '../errors.ts';

/** Bits of each Paillier / ring-Pedersen prime (N of 2048 bits, CMP's 8κ with κ = 256). */
export const PRIME_BITS = 1024;

/** A safe prime (p = 2p'+1, hence p ≡ 3 mod 4, a Blum prime) of exactly `bits` bits, top two bits set. */
export function generateBlumPrime(bits: number = PRIME_BITS, opts: { safe?: boolean } = {}): Promise<bigint> {
  const safe = opts.safe ?? true;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      generatePrime(bits, { safe, bigint: true }, (err, p) => {
        if (err) return reject(err);
        const v = p as bigint;
        // Non-safe primes may be 1 mod 4: draw again (expected two draws).
        if ((v & 3n) !== 3n) return attempt();
        resolve(v);
      });
    };
    attempt();
  });
}

/** A pool of pre-generated Blum primes so key generation does not wait. */
export class PrimePool {
  private readonly bits: number;
  private readonly target: number;
  private readonly primes: bigint[] = [];
  private filling: Promise<void> | null = null;
  constructor(opts: { bits?: number; target?: number } = {}) {
    this.bits = opts.bits ?? PRIME_BITS;
    this.target = opts.target ?? 4;
  }
  get size(): number {
    return this.primes.length;
  }
  /** Generate until the pool holds at least n primes (two at a time, in libuv's pool). */
  async fill(n: number = this.target): Promise<void> {
    while (this.primes.length < n) {
      const k = Math.min(2, n - this.primes.length);
      const ps = await Promise.all(Array.from({ length: k }, () => generateBlumPrime(this.bits)));
      this.primes.push(...ps);
    }
  }
  /** A prime from the pool, or a freshly generated one if the pool is empty. Each prime is handed out once. */
  async take(): Promise<bigint> {
    const p = this.primes.shift();
    if (p !== undefined) return p;
    return generateBlumPrime(this.bits);
  }
  /** Add primes (e.g. generated elsewhere); each must be ≡ 3 mod 4 with the pool's bit size. */
  add(primes: bigint[]): void {
    for (const p of primes) {
      if ((p & 3n) !== 3n || p.toString(2).length !== this.bits)
        throw new MpcError('ERR_MPC_USAGE', 'PrimePool.add: not a Blum prime of the pool size');
    }
    this.primes.push(...primes);
  }
  /**
   * Start filling to the target (at most one fill runs at a time; concurrent callers share it).
   * The work happens in libuv's pool, so the caller may keep serving; it must still await or
   * `.catch` the returned promise (a generation error rejects it).
   */
  refillInBackground(): Promise<void> {
    if (!this.filling) {
      this.filling = this.fill(this.target).finally(() => {
        this.filling = null;
      });
    }
    return this.filling;
  }
}

let fixtureCache: bigint[] | null = null;

/**
 * TEST ONLY: 16 pre-generated public 1024-bit safe primes (p = 2p'+1, p ≡ 3 mod 4) from
 * `fixture-primes.json` next to this file, generated once with `node:crypto.generatePrime(1024,
 * { safe: true, bigint: true })` (OpenSSL). They are public, so any key built from them is
 * test-only; they exist so tests, demos and benchmarks never wait for prime generation.
 * Consecutive pairs (0,1), (2,3), ... give 2048-bit moduli. Never use for real keys.
 */
export function testPrimes(): bigint[] {
  if (!fixtureCache) {
    const here = dirname(fileURLToPath(import.meta.url));
    const raw = JSON.parse(readFileSync(join(here, 'fixture-primes.json'), 'utf8')) as string[];
    fixtureCache = raw.map((s) => BigInt(s));
  }
  return [...fixtureCache];
}
