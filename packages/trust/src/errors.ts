/**
 * Why a workspace JWT was refused. Codes, not messages, are the contract. A TrustError is a
 * platform DomainError, so any service built on @cosigner/platform answers it with its gRPC status
 * and `x-cosigner-error-code` without mapping it itself.
 */
import { DomainError } from '@cosigner/platform';

/** Stable codes of a refused token. */
export const TRUST_ERROR_CODES = [
  'ERR_TOKEN_ALG',
  'ERR_TOKEN_SIGNATURE',
  'ERR_TOKEN_ISSUER',
  'ERR_TOKEN_AUDIENCE',
  'ERR_TOKEN_EXPIRED',
  'ERR_TOKEN_NOT_YET_VALID',
  'ERR_TOKEN_MALFORMED',
  'ERR_WORKSPACE_UNTRUSTED',
  'ERR_TRUST_CONFIG',
  'ERR_KEYS_UNAVAILABLE',
  'ERR_ORIGINATION_INVALID',
] as const;

export type TrustErrorCode = (typeof TRUST_ERROR_CODES)[number];

/** gRPC status numbers (grpc-js `status`), kept here so this package needs no server runtime. */
const UNAUTHENTICATED = 16;
const PERMISSION_DENIED = 7;
const INVALID_ARGUMENT = 3;
const UNAVAILABLE = 14;

const STATUS: Record<TrustErrorCode, number> = {
  ERR_TOKEN_ALG: UNAUTHENTICATED,
  ERR_TOKEN_SIGNATURE: UNAUTHENTICATED,
  ERR_TOKEN_ISSUER: UNAUTHENTICATED,
  ERR_TOKEN_AUDIENCE: UNAUTHENTICATED,
  ERR_TOKEN_EXPIRED: UNAUTHENTICATED,
  ERR_TOKEN_NOT_YET_VALID: UNAUTHENTICATED,
  ERR_TOKEN_MALFORMED: UNAUTHENTICATED,
  ERR_WORKSPACE_UNTRUSTED: PERMISSION_DENIED,
  ERR_TRUST_CONFIG: INVALID_ARGUMENT,
  ERR_KEYS_UNAVAILABLE: UNAVAILABLE,
  ERR_ORIGINATION_INVALID: PERMISSION_DENIED,
};

/**
 * A token (or the trust configuration) was refused; `code` says why. Messages never echo the
 * token. Only ERR_KEYS_UNAVAILABLE is retryable (the key source was unreachable).
 */
export class TrustError extends DomainError {
  declare readonly code: TrustErrorCode;
  constructor(code: TrustErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, { grpcStatus: STATUS[code], retryable: code === 'ERR_KEYS_UNAVAILABLE', ...(options?.cause === undefined ? {} : { cause: options.cause }) });
    this.name = 'TrustError';
  }
}

export function isTrustError(e: unknown): e is TrustError {
  return e instanceof TrustError;
}
