/**
 * Domain errors: the one error shape every service throws across a boundary.
 *
 * Codes, not messages or class names, are the contract (jose `ERR_JWT_EXPIRED` style). The gRPC
 * status and the retryability are declared with the code, never guessed from a message (Temporal's
 * allow-list of retryable codes). Conversion to the wire happens once per transport:
 * `toGrpcError` / `fromGrpcError` (grpc/errors.ts) and `errorToHeaders` / `errorFromHeaders`
 * (nats/errors.ts).
 */
import { status as GrpcStatus } from '@grpc/grpc-js';

/** A detail value that can travel in metadata/headers as a string. */
export type DetailValue = string | number | boolean;

export interface DomainErrorOptions {
  /** gRPC status code (`@grpc/grpc-js` `status`); defaults from the registry, else FAILED_PRECONDITION. */
  grpcStatus?: number;
  /** Whether retrying the same request later may succeed; defaults from the registry / allow-list. */
  retryable?: boolean;
  /** Small, non-secret, machine-readable facts about the failure (field name, limit, ...). */
  details?: Record<string, DetailValue>;
  cause?: unknown;
}

/** The common codes; services add their own (`ERR_TOKEN_EXPIRED`, ...) with an explicit status. */
export const COMMON_ERROR_CODES = {
  ERR_INVALID_ARGUMENT: { grpcStatus: GrpcStatus.INVALID_ARGUMENT, retryable: false },
  ERR_UNAUTHENTICATED: { grpcStatus: GrpcStatus.UNAUTHENTICATED, retryable: false },
  ERR_PERMISSION_DENIED: { grpcStatus: GrpcStatus.PERMISSION_DENIED, retryable: false },
  ERR_NOT_FOUND: { grpcStatus: GrpcStatus.NOT_FOUND, retryable: false },
  ERR_ALREADY_EXISTS: { grpcStatus: GrpcStatus.ALREADY_EXISTS, retryable: false },
  ERR_FAILED_PRECONDITION: { grpcStatus: GrpcStatus.FAILED_PRECONDITION, retryable: false },
  ERR_UNAVAILABLE: { grpcStatus: GrpcStatus.UNAVAILABLE, retryable: true },
  ERR_DEADLINE_EXCEEDED: { grpcStatus: GrpcStatus.DEADLINE_EXCEEDED, retryable: true },
  ERR_RESOURCE_EXHAUSTED: { grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED, retryable: true },
  ERR_INTERNAL: { grpcStatus: GrpcStatus.INTERNAL, retryable: false },
} as const satisfies Record<string, { grpcStatus: number; retryable: boolean }>;

export type CommonErrorCode = keyof typeof COMMON_ERROR_CODES;

/**
 * What a package declares for each of its error codes, next to where they are defined (one table
 * per package: `COMMON_ERROR_CODES` here, `PARTY_ERROR_CODES` in @cosigner/party, ...): the gRPC
 * status a boundary answers with and whether retrying the same request later may succeed.
 */
export type ErrorTable<C extends string = string> = Readonly<Record<C, { readonly grpcStatus: number; readonly retryable: boolean }>>;

/**
 * gRPC statuses for which a retry of the same call may succeed. Used when an error carries no
 * explicit `retryable` flag (an error from a non-Cosigner peer, a transport failure).
 */
export const RETRYABLE_GRPC_STATUSES: ReadonlySet<number> = new Set([
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.RESOURCE_EXHAUSTED,
  GrpcStatus.ABORTED,
]);

const CODE_RE = /^ERR_[A-Z0-9_]{1,64}$/;

/**
 * An error with a stable code, a gRPC status and a declared retryability. Its `message` is shown
 * to the caller, so it must never contain secrets or internals.
 */
export class DomainError extends Error {
  readonly code: string;
  readonly grpcStatus: number;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, DetailValue>>;

  constructor(code: string, message: string, options: DomainErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    if (!CODE_RE.test(code)) throw new TypeError(`invalid error code ${JSON.stringify(code)}`);
    this.name = 'DomainError';
    this.code = code;
    const known = (COMMON_ERROR_CODES as Record<string, { grpcStatus: number; retryable: boolean }>)[code];
    this.grpcStatus = options.grpcStatus ?? known?.grpcStatus ?? GrpcStatus.FAILED_PRECONDITION;
    this.retryable = options.retryable ?? known?.retryable ?? RETRYABLE_GRPC_STATUSES.has(this.grpcStatus);
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }
}

/**
 * The one "retry later" error: hand the work back (a JetStream nak, a client retry), optionally
 * after `delayMs`. Retryable by declaration; `ERR_RETRY_LATER`, gRPC UNAVAILABLE.
 */
export class RetryLater extends DomainError {
  readonly delayMs: number | undefined;
  constructor(message: string, options: { delayMs?: number; cause?: unknown } = {}) {
    super('ERR_RETRY_LATER', message, { retryable: true, grpcStatus: GrpcStatus.UNAVAILABLE, ...(options.cause === undefined ? {} : { cause: options.cause }) });
    this.name = 'RetryLater';
    this.delayMs = options.delayMs;
  }
}

/** Shorthands for the common codes: `invalidArgument('amount must be positive', {field: 'amount'})`. */
export function invalidArgument(message: string, details?: Record<string, DetailValue>): DomainError {
  return new DomainError('ERR_INVALID_ARGUMENT', message, details ? { details } : {});
}
export function unauthenticated(message = 'unauthenticated'): DomainError {
  return new DomainError('ERR_UNAUTHENTICATED', message);
}
export function permissionDenied(message = 'permission denied'): DomainError {
  return new DomainError('ERR_PERMISSION_DENIED', message);
}
export function notFound(message: string, details?: Record<string, DetailValue>): DomainError {
  return new DomainError('ERR_NOT_FOUND', message, details ? { details } : {});
}
export function alreadyExists(message: string, details?: Record<string, DetailValue>): DomainError {
  return new DomainError('ERR_ALREADY_EXISTS', message, details ? { details } : {});
}
export function failedPrecondition(message: string, details?: Record<string, DetailValue>): DomainError {
  return new DomainError('ERR_FAILED_PRECONDITION', message, details ? { details } : {});
}
export function unavailable(message: string, cause?: unknown): DomainError {
  return new DomainError('ERR_UNAVAILABLE', message, cause === undefined ? {} : { cause });
}

export function isDomainError(err: unknown): err is DomainError {
  return err instanceof DomainError;
}

/**
 * Whether an error is worth retrying: a DomainError answers with its declared flag; anything
 * else is retryable only if it carries an allow-listed gRPC status (`code` number from grpc-js)
 * or is a transient transport error. Unknown errors are NOT retryable (fail closed: a bug that
 * throws forever must not loop forever).
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof DomainError) return err.retryable;
  if (typeof err === 'object' && err !== null) {
    const c = (err as { code?: unknown }).code;
    if (typeof c === 'number') return RETRYABLE_GRPC_STATUSES.has(c);
    if (typeof c === 'string') return TRANSIENT_SYSTEM_CODES.has(c);
  }
  return false;
}

const TRANSIENT_SYSTEM_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'TIMEOUT', 'CONNECTION_CLOSED',
]);
