/**
 * A party's auxiliary key material for CMP (eprint 2021/060, Fig. 7 "Auxiliary Info. & Key
 * Refresh", step 1): a Paillier-Blum modulus N = pq from two safe primes, and ring-Pedersen
 * parameters (N, s, t) over the same modulus with the secret λ (s = t^λ). Π^mod, Π^prm and Π^fac
 * (cmp/proofs/) prove these well formed to the other parties.
 */
import { MpcError } from '../errors.ts';
import type { RandomSource } from './bigint.ts';
import { PaillierSecretKey } from './paillier.ts';
import { generatePedersen, type PedersenParams } from './pedersen.ts';
import { generateBlumPrime, PRIME_BITS, type PrimePool } from './primes.ts';

export interface AuxiliarySecret {
  /** Paillier secret key (p, q, CRT contexts); `paillier.pub` is what the other parties get. */
  readonly paillier: PaillierSecretKey;
  /** Ring-Pedersen parameters over the same N, with the factorisation attached for CRT. */
  readonly pedersen: PedersenParams;
  /** λ with s = t^λ mod N, the witness of Π^prm. Secret. */
  readonly lambda: bigint;
}

/**
 * Fresh auxiliary material from two primes of the pool (or newly generated ones when the pool
 * is empty or absent; ~seconds to a minute for 1024-bit safe primes, off the event loop).
 */
export async function generateAuxiliary(opts: { pool?: PrimePool; rand?: RandomSource } = {}): Promise<AuxiliarySecret> {
  const take = (): Promise<bigint> => (opts.pool ? opts.pool.take() : generateBlumPrime(PRIME_BITS));
  const [p, q] = await Promise.all([take(), take()]);
  return auxiliaryFromPrimes(p, q, opts.rand);
}

/** Auxiliary material from given primes (tests use `testPrimes()`; never in production). */
export function auxiliaryFromPrimes(p: bigint, q: bigint, rand?: RandomSource): AuxiliarySecret {
  if (p === q) throw new MpcError('ERR_MPC_USAGE', 'auxiliary: p and q must differ');
  const paillier = PaillierSecretKey.fromPrimes(p, q);
  const { params, lambda } = generatePedersen(p, q, rand);
  return { paillier, pedersen: params, lambda };
}
