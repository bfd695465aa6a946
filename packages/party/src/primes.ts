/**
 * Safe primes for CMP key generation and refresh (each party's Paillier / ring-Pedersen modulus).
 * Production: a background PrimePool (generation takes a while, so it starts at boot).
 * Tests: COSIGNER_TEST_PRIMES=1 takes the mpc package's public fixture primes (never for real keys).
 */
import { PrimePool, testPrimes, type Algorithm } from '@cosigner/mpc';
import { PartyError } from './errors.ts';

export function primeExtras(env: NodeJS.ProcessEnv): (a: Algorithm, kind: 'keygen' | 'refresh', self: number) => Promise<Record<string, unknown>> {
  let pool: PrimePool | undefined;
  if (env.COSIGNER_TEST_PRIMES !== '1') {
    pool = new PrimePool({ target: 4 });
    void pool.refillInBackground().catch(() => undefined);
  }
  let refreshes = 0;
  return async (a, kind, self) => {
    if (a === 'EDDSA_ED25519') return {};
    if (env.COSIGNER_TEST_PRIMES === '1') {
      const ps = testPrimes();
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
