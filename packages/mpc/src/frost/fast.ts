/**
 * Ed25519 group operations on the signing hot path, by libsodium (WebAssembly build,
 * `libsodium-wrappers-sumo`): constant-time base-point multiplication for nonce commitments
 * (`crypto_scalarmult_ed25519_base_noclamp`), variable-base multiplication and point addition for
 * the group commitment and HD tweaks, and RFC 9591 §3.1 element validation
 * (`crypto_core_ed25519_is_valid_point`: canonical, on the curve, in the prime-order subgroup,
 * not of small order). noble does the same arithmetic 5–10× slower in pure JavaScript, which
 * would put FROST signing at several milliseconds per party; noble stays the reference (RFC
 * vectors, key generation, the cheater-detection slow path).
 *
 * Scalars cross as 32-byte little-endian values < L (libsodium's `noclamp` variants neither
 * clamp nor reduce; it clears bit 255, which is already 0 for scalars < L).
 */
import sodium from 'libsodium-wrappers-sumo';
import { MpcParseError } from '../errors.ts';

await sodium.ready;

const S = sodium;

/** k·G in constant time; k in [1, L). */
export function baseMul(kLE: Uint8Array): Uint8Array {
  return S.crypto_scalarmult_ed25519_base_noclamp(kLE);
}

/** k·P for a valid P (throws MpcParseError if P is not a valid prime-order element). */
export function mul(kLE: Uint8Array, P: Uint8Array): Uint8Array {
  try {
    return S.crypto_scalarmult_ed25519_noclamp(kLE, P);
  } catch (e) {
    throw new MpcParseError('invalid Ed25519 element', { cause: e });
  }
}

export function add(P: Uint8Array, Q: Uint8Array): Uint8Array {
  try {
    return S.crypto_core_ed25519_add(P, Q);
  } catch (e) {
    throw new MpcParseError('invalid Ed25519 element', { cause: e });
  }
}

/** RFC 9591 §3.1 DeserializeElement check, full (subgroup included). */
export function isValidElement(P: Uint8Array): boolean {
  return P.length === 32 && S.crypto_core_ed25519_is_valid_point(P);
}
