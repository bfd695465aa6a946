/** @cosigner/party: what the customer's party (mpc-signer) and the cloud parties share. */
export * from './errors.ts';
export * from './sealed.ts';
export * from './crypto.ts';
export * from './approval.ts';
export * from './enclave.ts';
export * from './records.ts';
export * from './coordinator.ts';
export * from './transport.ts';
export * from './session.ts';
export * from './node.ts';
export * from './schemes.ts';
export * from './env.ts';
export * from './faults.ts';
export * from './process.ts';
export * from './backend.ts';
export * from './primes.ts';
export * from './gc.ts';
