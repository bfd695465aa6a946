/** CMP key generation needs two Blum primes per party; fixture primes only when explicitly asked (tests). */
import type { Algorithm } from '@cosigner/party';

export function cmpKeygenExtras(env: NodeJS.ProcessEnv): (a: Algorithm) => Promise<Record<string, unknown>> {
  return async () => ({ testPrimes: env.COSIGNER_TEST_PRIMES === '1' });
}
