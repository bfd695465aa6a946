/**
 * Errors of the pairing service: platform DomainErrors with stable codes (the platform's gRPC
 * wrapper answers them with their status and `x-cosigner-error-code`).
 */
import { status } from '@grpc/grpc-js';
import { DomainError } from '@cosigner/platform';

export class PairingError extends DomainError {
  constructor(code: string, message: string, grpcStatus: number = status.FAILED_PRECONDITION, options?: { cause?: unknown }) {
    super(code, message, { grpcStatus, ...(options?.cause === undefined ? {} : { cause: options.cause }) });
    this.name = 'PairingError';
  }
}

export const invalid = (code: string, msg: string): PairingError => new PairingError(code, msg, status.INVALID_ARGUMENT);
export const notFound = (msg: string): PairingError => new PairingError('ERR_API_USER_NOT_FOUND', msg, status.NOT_FOUND);
