/**
 * The one conversion between domain errors and gRPC statuses, in each direction.
 *
 * Server: a DomainError becomes its status with `x-cosigner-error-code` (the contract) and
 * `x-cosigner-retryable` in the trailers; anything else becomes INTERNAL 'internal error' (no
 * stack, no internals), logged server side with the trace id. Client: the status and trailers are
 * rebuilt into a DomainError; a status without our code gets a code derived from the status.
 */
import { Metadata, status as GrpcStatus, type ServerErrorResponse, type ServiceError } from '@grpc/grpc-js';
import { DomainError, RETRYABLE_GRPC_STATUSES, type DetailValue } from '../errors.ts';
import type { Logger } from '../log.ts';
import { activeTraceId } from '../telemetry.ts';

export const ERROR_CODE_METADATA = 'x-cosigner-error-code';
export const RETRYABLE_METADATA = 'x-cosigner-retryable';
/** JSON object of the error's `details` (small, non-secret facts). */
export const DETAILS_METADATA = 'x-cosigner-error-details';
export const INTERNAL_MESSAGE = 'internal error';

const STATUS_CODE: Record<number, string> = {
  [GrpcStatus.CANCELLED]: 'ERR_CANCELLED',
  [GrpcStatus.UNKNOWN]: 'ERR_INTERNAL',
  [GrpcStatus.INVALID_ARGUMENT]: 'ERR_INVALID_ARGUMENT',
  [GrpcStatus.DEADLINE_EXCEEDED]: 'ERR_DEADLINE_EXCEEDED',
  [GrpcStatus.NOT_FOUND]: 'ERR_NOT_FOUND',
  [GrpcStatus.ALREADY_EXISTS]: 'ERR_ALREADY_EXISTS',
  [GrpcStatus.PERMISSION_DENIED]: 'ERR_PERMISSION_DENIED',
  [GrpcStatus.RESOURCE_EXHAUSTED]: 'ERR_RESOURCE_EXHAUSTED',
  [GrpcStatus.FAILED_PRECONDITION]: 'ERR_FAILED_PRECONDITION',
  [GrpcStatus.ABORTED]: 'ERR_ABORTED',
  [GrpcStatus.OUT_OF_RANGE]: 'ERR_INVALID_ARGUMENT',
  [GrpcStatus.UNIMPLEMENTED]: 'ERR_UNIMPLEMENTED',
  [GrpcStatus.INTERNAL]: 'ERR_INTERNAL',
  [GrpcStatus.UNAVAILABLE]: 'ERR_UNAVAILABLE',
  [GrpcStatus.DATA_LOSS]: 'ERR_INTERNAL',
  [GrpcStatus.UNAUTHENTICATED]: 'ERR_UNAUTHENTICATED',
};

/** Server side: the status object to hand to grpc-js for any thrown value. */
export function toGrpcError(err: unknown, log?: Logger): ServerErrorResponse & { code: number; metadata: Metadata } {
  const metadata = new Metadata();
  if (err instanceof DomainError) {
    metadata.set(ERROR_CODE_METADATA, err.code);
    metadata.set(RETRYABLE_METADATA, err.retryable ? 'true' : 'false');
    if (Object.keys(err.details).length > 0) metadata.set(DETAILS_METADATA, JSON.stringify(err.details));
    return Object.assign(new Error(err.message), { name: 'DomainError', code: err.grpcStatus, details: err.message, metadata });
  }
  log?.error('unhandled error', { err, traceId: activeTraceId() });
  metadata.set(ERROR_CODE_METADATA, 'ERR_INTERNAL');
  metadata.set(RETRYABLE_METADATA, 'false');
  return Object.assign(new Error(INTERNAL_MESSAGE), { code: GrpcStatus.INTERNAL, details: INTERNAL_MESSAGE, metadata });
}

function isServiceError(err: unknown): err is ServiceError {
  return typeof err === 'object' && err !== null && typeof (err as ServiceError).code === 'number' && 'metadata' in err;
}

/** Client side: rebuilds the DomainError a server sent (or one describing a transport failure). */
export function fromGrpcError(err: unknown): DomainError {
  if (err instanceof DomainError) return err;
  if (!isServiceError(err)) return new DomainError('ERR_INTERNAL', INTERNAL_MESSAGE, { cause: err });
  const md = err.metadata;
  const rawCode = md?.get(ERROR_CODE_METADATA)[0];
  const code = typeof rawCode === 'string' && /^ERR_[A-Z0-9_]{1,64}$/.test(rawCode) ? rawCode : (STATUS_CODE[err.code] ?? 'ERR_INTERNAL');
  const rawRetry = md?.get(RETRYABLE_METADATA)[0];
  const retryable = rawRetry === 'true' ? true : rawRetry === 'false' ? false : RETRYABLE_GRPC_STATUSES.has(err.code);
  let details: Record<string, DetailValue> | undefined;
  const rawDetails = md?.get(DETAILS_METADATA)[0];
  if (typeof rawDetails === 'string') {
    try {
      const parsed: unknown = JSON.parse(rawDetails);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        details = Object.fromEntries(Object.entries(parsed).filter(([, v]) => ['string', 'number', 'boolean'].includes(typeof v))) as Record<string, DetailValue>;
      }
    } catch {
      // ignore malformed details; the code is the contract
    }
  }
  return new DomainError(code, err.details || INTERNAL_MESSAGE, {
    grpcStatus: err.code === GrpcStatus.OK ? GrpcStatus.UNKNOWN : err.code,
    retryable,
    ...(details ? { details } : {}),
    cause: err,
  });
}
