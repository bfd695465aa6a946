/** @cosigner/mpc: threshold ECDSA (MPC-CMP) and EdDSA (FROST), no I/O. */
export * from './errors.ts';
export * from './codec.ts';
export * from './round.ts';
export * from './curve.ts';
export * from './scheme.ts';
export { eddsaEd25519Scheme } from './frost/index.ts';
export * as cmp from './cmp/index.ts';
export { PrimePool, testPrimes, generateBlumPrime } from './arith/primes.ts';
