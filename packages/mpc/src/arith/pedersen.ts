/**
 * Ring-Pedersen parameters (CMP §2.3 / Def. 2.3 "ring-Pedersen parameters"): N̂ = pq a product of
 * safe primes, t = τ^2 a random quadratic residue, s = t^λ with λ ← Z_φ(N̂) secret. A commitment
 * to x with randomness r is s^x · t^r mod N̂; both exponents may be negative (the paper's ±2^ℓ·N̂
 * intervals). Π^prm (prm.ts) proves s ∈ <t>.
 *
 * The owner of the parameters (every verifier of Π^enc, Π^aff-g, Π^log*, Π^fac in CMP verifies under
 * its own parameters) can attach the factorisation with `withFactors`, and commitments then run
 * with CRT.
 */
import { Reader, Writer } from '../codec.ts';
import { MpcError, MpcParseError } from '../errors.ts';
import { CrtContext, gcd, modPow, randomBelow, randomUnit, type RandomSource } from './bigint.ts';
import { PAILLIER_BITS, checkModulus } from './paillier.ts';

const VERSION = 1;

export class PedersenParams {
  readonly N: bigint;
  readonly s: bigint;
  readonly t: bigint;
  private readonly crt: CrtContext | null;
  constructor(N: bigint, s: bigint, t: bigint, crt: CrtContext | null = null) {
    if (N < 3n || (N & 1n) === 0n) throw new MpcError('ERR_MPC_USAGE', 'ring-Pedersen modulus must be odd');
    if (s <= 0n || s >= N || t <= 0n || t >= N) throw new MpcError('ERR_MPC_USAGE', 'ring-Pedersen s, t out of range');
    if (crt && crt.M !== N) throw new MpcError('ERR_MPC_USAGE', 'ring-Pedersen factors do not match N');
    this.N = N;
    this.s = s;
    this.t = t;
    this.crt = crt;
  }

  /** Same parameters with the secret factorisation attached (CRT commitments for the owner). */
  withFactors(p: bigint, q: bigint): PedersenParams {
    return new PedersenParams(this.N, this.s, this.t, new CrtContext(p, q, false));
  }

  /** Public-only copy (drops any attached factorisation). */
  publicOnly(): PedersenParams {
    return this.crt ? new PedersenParams(this.N, this.s, this.t) : this;
  }

  /** s^x · t^r mod N̂; x and r may be negative. Exponents are treated as secret. */
  commit(x: bigint, r: bigint): bigint {
    return (this.pow(this.s, x) * this.pow(this.t, r)) % this.N;
  }

  /** b^e mod N̂ (CRT when the factorisation is attached); e may be negative. */
  pow(b: bigint, e: bigint): bigint {
    return this.crt ? this.crt.pow(b, e) : modPow(b, e, this.N, true);
  }

  equals(o: PedersenParams): boolean {
    return this.N === o.N && this.s === o.s && this.t === o.t;
  }

  encode(): Uint8Array {
    return new Writer().u8(VERSION).bigint(this.N).bigint(this.s).bigint(this.t).finish();
  }

  /** Strict: N̂ odd of PAILLIER_BITS bits, s, t ∈ Z_N̂^* \ {1}, s != t, no trailing bytes. */
  static decode(b: Uint8Array): PedersenParams {
    const r = new Reader(b);
    if (r.u8() !== VERSION) throw new MpcParseError('ring-Pedersen: unknown version');
    const N = r.bigint(PAILLIER_BITS / 8);
    const s = r.bigint(PAILLIER_BITS / 8);
    const t = r.bigint(PAILLIER_BITS / 8);
    r.end();
    checkModulus(N, 'ring-Pedersen');
    for (const v of [s, t]) {
      if (v <= 1n || v >= N - 1n || gcd(v, N) !== 1n) throw new MpcParseError('ring-Pedersen: s, t must be units other than ±1');
    }
    if (s === t) throw new MpcParseError('ring-Pedersen: s = t');
    return new PedersenParams(N, s, t);
  }
}

/**
 * Fresh ring-Pedersen parameters over N̂ = pq (p, q safe primes): τ ← Z_N̂^*, t = τ^2, λ ← Z_φ(N̂),
 * s = t^λ (CMP Fig. 6/7 "Auxiliary info", step 1). Returns λ for Π^prm; the params carry the
 * factorisation for CRT (use `publicOnly()` before sending, or just `encode()`).
 */
export function generatePedersen(p: bigint, q: bigint, rand?: RandomSource): { params: PedersenParams; lambda: bigint } {
  const N = p * q;
  const crt = new CrtContext(p, q, false);
  const phi = (p - 1n) * (q - 1n);
  for (;;) {
    const tau = randomUnit(N, rand);
    const t = (tau * tau) % N;
    const lambda = randomBelow(phi, rand);
    const s = crt.pow(t, lambda);
    // Degenerate draws (t or s = 1, s = t) are astronomically rare; redraw rather than emit them.
    if (t === 1n || s <= 1n || s === t || t === N - 1n || s === N - 1n) continue;
    return { params: new PedersenParams(N, s, t, crt), lambda };
  }
}
