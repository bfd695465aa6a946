/** Typed errors of a party. The `code` is the contract (logged, published in outcomes, mapped to gRPC). */
export type PartyErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_SEALING_KEY_MISSING'
  | 'ERR_SEALED_CORRUPT'
  | 'ERR_SEALED_ROLLBACK'
  | 'ERR_SEALED_CONFLICT'
  | 'ERR_ENVELOPE'
  | 'ERR_UNKNOWN_PARTY'
  | 'ERR_APPROVAL_INVALID'
  /** The workspace's signature over the request is missing, does not verify, or names someone else. */
  | 'ERR_ORIGINATION_INVALID'
  /** The workspace keys could not be fetched to verify origination (retryable). */
  | 'ERR_KEYS_UNAVAILABLE'
  | 'ERR_KEY_NOT_FOUND'
  | 'ERR_KEY_EXISTS'
  | 'ERR_WRONG_WORKSPACE'
  | 'ERR_SIGNING_SET'
  /** This party's own check: the presignature named was made for another signing set. */
  | 'ERR_PRESIGNATURE_OTHER_SET'
  | 'ERR_PRESIGNATURE_BOUND'
  | 'ERR_PRESIGNATURE_NOT_FOUND'
  | 'ERR_SESSION_TIMEOUT'
  | 'ERR_SESSION_REFUSED'
  | 'ERR_MPC_ABORT'
  | 'ERR_SIGNATURE_INVALID'
  | 'ERR_UNSUPPORTED'
  | 'ERR_BACKUP'
  | 'ERR_INVALID_ARGUMENT';

export class PartyError extends Error {
  readonly code: PartyErrorCode;
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
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'PartyError';
    this.code = code;
    this.culprits = [...(options?.culprits ?? [])];
    this.nothingSent = options?.nothingSent === true;
    this.evidence = options?.evidence ?? new Uint8Array(0);
  }
}
