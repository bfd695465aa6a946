/**
 * The one file that maps algorithms to the MPC package's threshold schemes (mpc/src/scheme.ts).
 * ECDSA (CMP) joins here when its scheme is exported.
 */
import * as mpc from '@cosigner/mpc';
import type { ThresholdScheme } from '@cosigner/mpc';
import { PartyError } from './errors.ts';
import { ecdsaSecp256k1, ecdsaSecp256r1 } from './ecdsa.ts';
import type { Algorithm } from './enclave.ts';

const registry = new Map<string, ThresholdScheme>();
for (const name of ['eddsaEd25519Scheme']) {
  const s = (mpc as unknown as Record<string, ThresholdScheme | undefined>)[name];
  if (s) registry.set(s.algorithm, s);
}
// Ours: adds batched presigning (see ecdsa.ts).
registry.set('ECDSA_SECP256K1', ecdsaSecp256k1);
registry.set('ECDSA_SECP256R1', ecdsaSecp256r1);

export function schemeFor(a: Algorithm): ThresholdScheme {
  const s = registry.get(a);
  if (!s) throw new PartyError('ERR_UNSUPPORTED', `no threshold scheme for ${a} in this build`);
  return s;
}

export function supportedAlgorithms(): Algorithm[] {
  return [...registry.keys()] as Algorithm[];
}
