/**
 * @cosigner/mpc: threshold ECDSA (MPC-CMP, eprint 2021/060) and EdDSA (FROST, RFC 9591) as
 * round-based party state machines. No I/O. Services drive either scheme through
 * `ThresholdScheme` (scheme.ts); the protocol namespaces `cmp` and `frost` expose the rest.
 */
export * from './errors.ts';
export * from './codec.ts';
export * from './round.ts';
export * from './curve.ts';
export * from './scheme.ts';
export { eddsaEd25519Scheme, demoEddsa, benchEddsa } from './frost/index.ts';
export * as frost from './frost/index.ts';
export * as cmp from './cmp/index.ts';
export { demoEcdsa } from './cmp/demo.ts';
export { ecdsaSecp256k1Scheme, ecdsaSecp256r1Scheme } from './cmp/scheme.ts';
export { THRESHOLD_SCHEMES } from './schemes.ts';
export * as arith from './arith/index.ts';
export { PrimePool, testPrimes, generateBlumPrime } from './arith/primes.ts';
