/**
 * Errors of the workspace simulator: a stable `code` and the gRPC status to answer with. The
 * shape matches the platform's DomainError (code, grpcStatus, retryable), so one mapper serves both.
 */
import { status } from '@grpc/grpc-js';

export class WorkspaceError extends Error {
  readonly code: string;
  readonly grpcStatus: number;
  readonly retryable: boolean;
  constructor(code: string, message: string, grpcStatus: number = status.FAILED_PRECONDITION, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WorkspaceError';
    this.code = code;
    this.grpcStatus = grpcStatus;
    this.retryable = options?.retryable ?? grpcStatus === status.UNAVAILABLE;
  }
}

export const invalid = (msg: string, code = 'ERR_INVALID_ARGUMENT'): WorkspaceError => new WorkspaceError(code, msg, status.INVALID_ARGUMENT);
export const notFound = (msg: string, code = 'ERR_NOT_FOUND'): WorkspaceError => new WorkspaceError(code, msg, status.NOT_FOUND);
