/** Arithmetic layer of MPC-CMP: big integers, primes, Paillier, ring-Pedersen, native backend. */
export * from './bigint.ts';
export * from './primes.ts';
export * from './paillier.ts';
export * from './pedersen.ts';
export { native, backendName, nativeIsCurrent, type NativeBignum } from './native.ts';
export * from './aux.ts';
