/**
 * The MPC arithmetic backend a signing party runs on (issue 13 item 6). Secret exponents (Paillier
 * and ring-Pedersen secrets, the CRT recombination) are only constant time on the native OpenSSL
 * addon (@cosigner/mpc arith/native.ts); without it every operation falls back to V8 BigInt, whose
 * time depends on the values. A party therefore refuses to start on the BigInt backend unless
 * COSIGNER_ALLOW_BIGINT_BACKEND=1 says this is a development machine, and logs which backend it uses.
 * See packages/mpc/src/cmp/README.md ("Constant time") for what is and is not covered.
 */
import { arith } from '@cosigner/mpc';
import { PartyError } from './errors.ts';
import type { Log } from './transport.ts';

/** The environment variable that allows the variable-time BigInt backend (development only). */
export const ALLOW_BIGINT_BACKEND_ENV = 'COSIGNER_ALLOW_BIGINT_BACKEND';

/** COSIGNER_ALLOW_BIGINT_BACKEND: '1' allows, unset / '' / '0' refuses; anything else is a configuration error. */
export function allowBigintBackend(env: NodeJS.ProcessEnv): boolean {
  const v = env[ALLOW_BIGINT_BACKEND_ENV];
  if (v === undefined || v === '' || v === '0') return false;
  if (v === '1') return true;
  throw new PartyError('ERR_CONFIG', `${ALLOW_BIGINT_BACKEND_ENV} must be 1 or 0`);
}

/**
 * Throws ERR_CONFIG when the arithmetic runs on BigInt and `allow` is false; otherwise logs the
 * backend (a warning when it is BigInt). `backend` is injectable for tests.
 */
export function requireMpcBackend(allow: boolean, log: Log, backend: 'openssl' | 'bigint' = arith.backendName()): void {
  if (backend === 'openssl') {
    if (!arith.nativeIsCurrent())
      log('warn', 'the native bignum addon is an older build: scalar sums and CRT recombination run on BigInt until it is rebuilt (npm run build:native -w @cosigner/mpc)', { backend });
    log('info', 'MPC arithmetic backend: OpenSSL (native addon, constant-time secret exponents)', { backend, version: arith.native?.version() ?? '' });
    return;
  }
  if (!allow)
    throw new PartyError('ERR_CONFIG', `the native bignum addon is not loaded, so MPC arithmetic would run on variable-time BigInt: build it (npm run build:native -w @cosigner/mpc) or, on a development machine only, set ${ALLOW_BIGINT_BACKEND_ENV}=1`);
  log('warn', `MPC arithmetic backend: BigInt (variable time, NOT for production; allowed by ${ALLOW_BIGINT_BACKEND_ENV}=1)`, { backend });
}
