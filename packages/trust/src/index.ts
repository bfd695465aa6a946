/**
 * @cosigner/trust: which workspaces the co-signer trusts, and the one verifier of their JWTs
 * (pairing tokens, intake submission JWTs). Also the signing helper a workspace uses, so the
 * claims stay in one place.
 */
export { TrustError, isTrustError, TRUST_ERROR_CODES, type TrustErrorCode } from './errors.ts';
export { parseTrustConfig, describeTrust, platformTls, type PlatformTls, type TrustConfig, type TrustEntry, type IssuerEntry, type PlatformEntry, type Jwks, type JwkPublic } from './config.ts';
export { createTrust, ALLOWED_ALGORITHMS, DEFAULT_CLOCK_TOLERANCE_S, DEFAULT_KEYS_TTL_MS, DEFAULT_REFETCH_MIN_INTERVAL_MS, DEFAULT_NEGATIVE_TTL_MS, MAX_CACHED_ISSUERS, MAX_TOKEN_LENGTH, type Trust, type TrustOptions, type VerifyOptions, type VerifiedToken } from './verify.ts';
export { createGrpcKeysFetcher, platformChannel, DEFAULT_KEY_FETCH_TIMEOUT_MS, type KeysFetcher, type GrpcKeysFetcher } from './keys.ts';
export { PAIRING_AUDIENCE, INTAKE_AUDIENCE, PAIRING_TOKEN_LIFETIME_S, SUBMISSION_MAX_LIFETIME_S, simIssuer, requestHash } from './claims.ts';
export { verifyOrigination, type VerifiedOrigination, type OriginationInput } from './origination.ts';
