/** Every threshold scheme of this package, one per algorithm (scheme.ts `schemeRegistry`). */
import { ecdsaSecp256k1Scheme, ecdsaSecp256r1Scheme } from './cmp/scheme.ts';
import { eddsaEd25519Scheme } from './frost/index.ts';
import type { ThresholdScheme } from './scheme.ts';

export const THRESHOLD_SCHEMES: readonly ThresholdScheme[] = [ecdsaSecp256k1Scheme, ecdsaSecp256r1Scheme, eddsaEd25519Scheme];
