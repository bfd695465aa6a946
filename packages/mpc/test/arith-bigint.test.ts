// The arithmetic suite again with the pure-BigInt backend forced (COSIGNER_BIGNUM=bigint), so both
// backends pass the same tests. node --test runs each file in its own process; the variable must
// be set before native.ts is first evaluated, hence the dynamic import.
process.env.COSIGNER_BIGNUM = 'bigint';
await import('./arith.test.ts');
