/**
 * The algorithms this build signs with, mapped to the mpc package's threshold schemes (one
 * `ThresholdScheme` per algorithm, mpc/src/scheme.ts), and `parseAlgorithm`: the one place a
 * protobuf `Algorithm` (which may be unspecified, or a value from a newer peer) becomes one.
 */
import { THRESHOLD_SCHEMES, isAlgorithm, type Algorithm, type ThresholdScheme } from '@cosigner/mpc';
import { PartyError } from './errors.ts';

const registry = new Map<Algorithm, ThresholdScheme>(THRESHOLD_SCHEMES.map((s) => [s.algorithm, s]));

export function schemeFor(a: Algorithm): ThresholdScheme {
  const s = registry.get(a);
  if (!s) throw new PartyError('ERR_UNSUPPORTED', `no threshold scheme for ${a} in this build`);
  return s;
}

export function supportedAlgorithms(): Algorithm[] {
  return [...registry.keys()];
}

/**
 * A protobuf `Algorithm` (or its name) at the boundary: ERR_INVALID_ARGUMENT when unspecified,
 * ERR_UNSUPPORTED when this build has no scheme for it.
 */
export function parseAlgorithm(a: string): Algorithm {
  if (a === 'ALGORITHM_UNSPECIFIED' || a === '') throw new PartyError('ERR_INVALID_ARGUMENT', 'algorithm is not specified');
  if (!isAlgorithm(a) || !registry.has(a)) throw new PartyError('ERR_UNSUPPORTED', `algorithm ${a} is not available`);
  return a;
}
