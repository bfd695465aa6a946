/**
 * Intake's refusal codes. Codes, not messages, are the contract (the gRPC status carries the code
 * in `x-cosigner-error-code`); every refusal happens before anything is published.
 */
import { status } from '@grpc/grpc-js';
import { DomainError } from '@cosigner/platform';
import { isTrustError } from '@cosigner/trust';

/** Stable codes intake answers with, and their gRPC statuses. */
export const INTAKE_ERROR_STATUS = {
  ERR_MALFORMED_REQUEST: status.INVALID_ARGUMENT,
  ERR_REQUEST_TOO_LARGE: status.INVALID_ARGUMENT,
  ERR_JSON_TOO_DEEP: status.INVALID_ARGUMENT,
  ERR_INVALID_AMOUNT: status.INVALID_ARGUMENT,
  ERR_INVALID_REQUEST_ID: status.INVALID_ARGUMENT,
  ERR_REQUEST_EXPIRED: status.INVALID_ARGUMENT,
  ERR_UNKNOWN_ALGORITHM: status.INVALID_ARGUMENT,
  ERR_ALGORITHM_MISMATCH: status.INVALID_ARGUMENT,
  ERR_INVALID_PATH: status.INVALID_ARGUMENT,
  ERR_DIGEST_LENGTH: status.INVALID_ARGUMENT,
  ERR_DIGEST_MISMATCH: status.INVALID_ARGUMENT,
  ERR_RAW_TX_INVALID: status.INVALID_ARGUMENT,
  ERR_TX_FIELDS_MISMATCH: status.INVALID_ARGUMENT,
  ERR_REQUEST_HASH_MISMATCH: status.UNAUTHENTICATED,
  ERR_NONCE_REPLAYED: status.UNAUTHENTICATED,
  ERR_WORKSPACE_MISMATCH: status.PERMISSION_DENIED,
  ERR_API_USER_MISMATCH: status.PERMISSION_DENIED,
  ERR_API_USER_NOT_PAIRED: status.PERMISSION_DENIED,
  ERR_API_USER_WRONG_WORKSPACE: status.PERMISSION_DENIED,
  ERR_KEY_NOT_FOUND: status.PERMISSION_DENIED,
  ERR_KEY_WRONG_WORKSPACE: status.PERMISSION_DENIED,
  ERR_ALREADY_EXISTS: status.ALREADY_EXISTS,
  ERR_NOT_FOUND: status.NOT_FOUND,
  ERR_NOT_CANCELLABLE: status.FAILED_PRECONDITION,
} as const;

export type IntakeErrorCode = keyof typeof INTAKE_ERROR_STATUS;

export function intakeError(code: IntakeErrorCode, message: string, details?: Record<string, string | number | boolean>): DomainError {
  return new DomainError(code, message, { grpcStatus: INTAKE_ERROR_STATUS[code], retryable: false, ...(details ? { details } : {}) });
}

/** A refused workspace JWT keeps its trust code (ERR_TOKEN_SIGNATURE, ERR_WORKSPACE_UNTRUSTED, ...). */
export function fromTrustError(e: unknown): unknown {
  if (isTrustError(e)) return new DomainError(e.code, e.message, { grpcStatus: e.grpcStatus, retryable: e.retryable });
  return e;
}
