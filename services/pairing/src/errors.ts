/**
 * Errors of the pairing service: a stable `code` and the gRPC status to answer with (the same
 * shape as the platform's DomainError and @cosigner/trust's TrustError, so one mapper serves all).
 */
import { status } from '@grpc/grpc-js';

export class PairingError extends Error {
  readonly code: string;
  readonly grpcStatus: number;
  readonly retryable: boolean;
  constructor(code: string, message: string, grpcStatus: number = status.FAILED_PRECONDITION, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PairingError';
    this.code = code;
    this.grpcStatus = grpcStatus;
    this.retryable = grpcStatus === status.UNAVAILABLE;
  }
}

export const invalid = (code: string, msg: string): PairingError => new PairingError(code, msg, status.INVALID_ARGUMENT);
export const notFound = (msg: string): PairingError => new PairingError('ERR_API_USER_NOT_FOUND', msg, status.NOT_FOUND);
