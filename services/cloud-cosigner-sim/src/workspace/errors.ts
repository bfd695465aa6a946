/**
 * Errors of the workspace simulator: platform DomainErrors with stable codes (the platform's gRPC
 * wrapper answers them with their status and `x-cosigner-error-code`).
 */
import { status } from '@grpc/grpc-js';
import { DomainError } from '@cosigner/platform';

export class WorkspaceError extends DomainError {
  constructor(code: string, message: string, grpcStatus: number = status.FAILED_PRECONDITION, options?: { cause?: unknown; retryable?: boolean }) {
    super(code, message, {
      grpcStatus,
      ...(options?.retryable === undefined ? {} : { retryable: options.retryable }),
      ...(options?.cause === undefined ? {} : { cause: options.cause }),
    });
    this.name = 'WorkspaceError';
  }
}

export const invalid = (msg: string, code = 'ERR_INVALID_ARGUMENT'): WorkspaceError => new WorkspaceError(code, msg, status.INVALID_ARGUMENT);
export const notFound = (msg: string, code = 'ERR_NOT_FOUND'): WorkspaceError => new WorkspaceError(code, msg, status.NOT_FOUND);
