/**
 * Typed errors of a party. The `code` is the contract (logged, published in outcomes, mapped to
 * gRPC); what each code means for a caller (its gRPC status, whether a retry of the same request
 * may succeed) is declared once, in `PARTY_ERROR_CODES`, and carried by every `PartyError` (a
 * platform `DomainError`), so no caller keeps its own list.
 */
import { DomainError, GrpcStatus, type ErrorTable } from '@cosigner/platform';

const { INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED, UNIMPLEMENTED, UNAVAILABLE, ABORTED, FAILED_PRECONDITION, INTERNAL } = GrpcStatus;

/**
 * Every party error code: its gRPC status (INTERNAL: not shown to a gRPC caller, logged by the
 * server) and its retryability (a coordinator hands the request back for a later attempt, which
 * may find the party answering, a fresh presignature, or the conflict gone).
 */
export const PARTY_ERROR_CODES = {
  ERR_CONFIG: { grpcStatus: INTERNAL, retryable: false },
  ERR_SEALING_KEY_MISSING: { grpcStatus: INTERNAL, retryable: false },
  ERR_SEALED_CORRUPT: { grpcStatus: INTERNAL, retryable: false },
  ERR_SEALED_ROLLBACK: { grpcStatus: INTERNAL, retryable: false },
  /** Two writers raced for one sealed record: the next attempt reads the winner's. */
  ERR_SEALED_CONFLICT: { grpcStatus: ABORTED, retryable: true },
  /** A message from a peer did not open or verify; a later session may go through. */
  ERR_ENVELOPE: { grpcStatus: INTERNAL, retryable: true },
  /** A peer has not published its identity yet (it is starting). */
  ERR_UNKNOWN_PARTY: { grpcStatus: UNAVAILABLE, retryable: true },
  ERR_APPROVAL_INVALID: { grpcStatus: INTERNAL, retryable: false },
  /** The workspace's signature over the request is missing, does not verify, or names someone else. */
  ERR_ORIGINATION_INVALID: { grpcStatus: INTERNAL, retryable: false },
  /** The workspace keys could not be fetched to verify origination. */
  ERR_KEYS_UNAVAILABLE: { grpcStatus: UNAVAILABLE, retryable: true },
  ERR_KEY_NOT_FOUND: { grpcStatus: NOT_FOUND, retryable: false },
  ERR_KEY_EXISTS: { grpcStatus: ALREADY_EXISTS, retryable: false },
  ERR_WRONG_WORKSPACE: { grpcStatus: PERMISSION_DENIED, retryable: false },
  ERR_SIGNING_SET: { grpcStatus: FAILED_PRECONDITION, retryable: false },
  /** This party's own check: the presignature named was made for another signing set. */
  ERR_PRESIGNATURE_OTHER_SET: { grpcStatus: INTERNAL, retryable: false },
  ERR_PRESIGNATURE_BOUND: { grpcStatus: INTERNAL, retryable: false },
  /** A presignature some party lost: the coordinator replaces it and tries again. */
  ERR_PRESIGNATURE_NOT_FOUND: { grpcStatus: INTERNAL, retryable: true },
  /** A party did not answer in time (its id in `culprits`). */
  ERR_SESSION_TIMEOUT: { grpcStatus: UNAVAILABLE, retryable: true },
  /** A party refused to join (starting, busy, a deadline passed): nothing was sent. */
  ERR_SESSION_REFUSED: { grpcStatus: FAILED_PRECONDITION, retryable: true },
  ERR_MPC_ABORT: { grpcStatus: ABORTED, retryable: false },
  ERR_SIGNATURE_INVALID: { grpcStatus: INTERNAL, retryable: false },
  ERR_UNSUPPORTED: { grpcStatus: UNIMPLEMENTED, retryable: false },
  ERR_BACKUP: { grpcStatus: INVALID_ARGUMENT, retryable: false },
  ERR_INVALID_ARGUMENT: { grpcStatus: INVALID_ARGUMENT, retryable: false },
} as const satisfies ErrorTable;

export type PartyErrorCode = keyof typeof PARTY_ERROR_CODES;

export class PartyError extends DomainError {
  declare readonly code: PartyErrorCode;
  /** Party ids to blame (identifiable abort, missing messages at a deadline). */
  readonly culprits: readonly string[];
  /**
   * The session ended before this party sent any protocol message in it (a party did not answer
   * or refused the session start): what it computed for the session never left it.
   */
  readonly nothingSent: boolean;
  /** Signed digests proving the culprits' fault (evidence.ts `encodeEcho`), published with the outcome; empty when there are none. */
  readonly evidence: Uint8Array;
  constructor(code: PartyErrorCode, message: string, options?: { cause?: unknown; culprits?: readonly string[]; nothingSent?: boolean; evidence?: Uint8Array }) {
    const culprits = [...(options?.culprits ?? [])];
    super(code, message, {
      ...PARTY_ERROR_CODES[code],
      ...(options?.cause !== undefined ? { cause: options.cause } : {}),
      ...(culprits.length ? { details: { culprits: culprits.join(',') } } : {}),
    });
    this.name = 'PartyError';
    this.culprits = culprits;
    this.nothingSent = options?.nothingSent === true;
    this.evidence = options?.evidence ?? new Uint8Array(0);
  }
}
