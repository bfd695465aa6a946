/**
 * Safe primes for CMP key generation and refresh (each party's Paillier / ring-Pedersen modulus).
 * Production: a background PrimePool (generation takes a while, so it starts at boot).
 * Tests: COSIGNER_TEST_PRIMES=1 takes the mpc package's public fixture primes (never for real keys).
 */
import * as mpc from '@cosigner/mpc';
import { PartyError } from './errors.ts';
import type { Algorithm } from './enclave.ts';

interface PoolLike { take(): Promise<bigint>; refillInBackground(): Promise<void> }

export function primeExtras(env: NodeJS.ProcessEnv): (a: Algorithm, kind: 'keygen' | 'refresh', self: number) => Promise<Record<string, unknown>> {
  const lib = mpc as unknown as { testPrimes?: () => bigint[]; PrimePool?: new (o?: { target?: number }) => PoolLike };
  let pool: PoolLike | undefined;
  if (env.COSIGNER_TEST_PRIMES !== '1' && lib.PrimePool) {
    pool = new lib.PrimePool({ target: 4 });
    void pool.refillInBackground().catch(() => undefined);
  }
  let refreshes = 0;
  return async (a, kind, self) => {
    if (a === 'EDDSA_ED25519') return {};
    if (env.COSIGNER_TEST_PRIMES === '1') {
      if (!lib.testPrimes) throw new PartyError('ERR_UNSUPPORTED', 'fixture primes are not available');
      const ps = lib.testPrimes();
      const pairs = Math.floor(ps.length / 2);
      // keygen: pair self-1; refreshes: rotate through the others, never another party's keygen pair.
      const pair = kind === 'keygen' ? self - 1 : 3 + ((self - 1 + 3 * refreshes++) % (pairs - 3));
      return { primes: [ps[2 * pair]!, ps[2 * pair + 1]!] };
    }
    if (!pool) throw new PartyError('ERR_UNSUPPORTED', 'no prime generator available');
    const p = await pool.take();
    const q = await pool.take();
    void pool.refillInBackground().catch(() => undefined);
    return { primes: [p, q] };
  };
}
