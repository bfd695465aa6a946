/** Pairing service: paired API users, their callback handlers, the co-signer's identity. */
export { startPairing, DEFAULT_PAIRING_PORT, DEFAULT_PAIRING_HOST, type PairingConfig, type PairingHandle } from './server.ts';
export { Registry, API_USERS_BUCKET, PAIRING_CLAIMS_BUCKET, CLAIM_STALE_MS } from './registry.ts';
export { validateCallbackUrl, validateHandlerPublicKey, validateHandlerCert, MIN_RSA_BITS } from './validate.ts';
export { loadIdentity, type CosignerIdentity } from './identity.ts';
export { PairingError } from './errors.ts';
