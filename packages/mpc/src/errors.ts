/**
 * Typed errors of the MPC package. Codes, not messages or class names, are the contract.
 *
 * - `MpcParseError`: bytes that do not decode (wrong length, bad tag, scalar out of range,
 *   point off the curve or the identity, wrong version). Thrown by decoders.
 * - `MpcAbort`: a protocol check failed. `culprits` names the party index(es) whose message failed
 *   the check (identifiable abort, CMP §4 / RFC 9591 §5.4 "cheater detection").
 * - `MpcRoutingError`: a message the party does not take now (other session, wrong round or kind,
 *   duplicate); dropped, the party carries on. Names the sender.
 * - `MpcUsageError`: the caller misused the API (e.g. a presignature asked to sign a second message).
 * - `ERR_MPC_UNIDENTIFIED` (a plain `MpcError`, no culprits): a protocol failed, yet its
 *   identification step found every other party's proofs valid. Nobody is named: blaming the
 *   others would name honest parties (the fault may be this party's own state).
 * - `ERR_MPC_KEY_STATE` (a plain `MpcError`, no culprits): the parties hold different versions
 *   of the key (e.g. epochs either side of a refresh). Nobody is named: which version is the
 *   right one is not for a party to judge, and every honest party stops before releasing a share.
 */
export type MpcErrorCode =
  | 'ERR_MPC_PARSE'
  | 'ERR_MPC_WRONG_SESSION'
  | 'ERR_MPC_WRONG_ROUND'
  | 'ERR_MPC_WRONG_SENDER'
  | 'ERR_MPC_DUPLICATE'
  | 'ERR_MPC_PROOF'
  | 'ERR_MPC_COMMITMENT'
  | 'ERR_MPC_INCONSISTENT_BROADCAST'
  | 'ERR_MPC_SHARE'
  | 'ERR_MPC_SIGNATURE'
  | 'ERR_MPC_UNIDENTIFIED'
  | 'ERR_MPC_KEY_STATE'
  | 'ERR_MPC_PRESIGNATURE_USED'
  | 'ERR_MPC_USAGE';

export class MpcError extends Error {
  readonly code: MpcErrorCode;
  constructor(code: MpcErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MpcError';
    this.code = code;
  }
}

export class MpcParseError extends MpcError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_MPC_PARSE', message, options);
    this.name = 'MpcParseError';
  }
}

/** A protocol check failed; `culprits` are the party indices to blame (never empty). */
export class MpcAbort extends MpcError {
  readonly culprits: readonly number[];
  constructor(code: MpcErrorCode, culprits: readonly number[], message: string, options?: { cause?: unknown }) {
    super(code, `${message} (culprit${culprits.length === 1 ? '' : 's'}: ${culprits.join(', ')})`, options);
    this.name = 'MpcAbort';
    this.culprits = [...culprits];
  }
}

/** Routing codes: a message that is not for this party now; it is dropped, the party lives on. */
export type MpcRoutingCode = 'ERR_MPC_WRONG_SESSION' | 'ERR_MPC_WRONG_ROUND' | 'ERR_MPC_WRONG_SENDER' | 'ERR_MPC_DUPLICATE';

/**
 * Codes of a message that is not this run's to process (another session, a duplicate, a wrong
 * sender or round): the runner drops the message and the run goes on. Every other error ends it.
 */
export const ROUTING_ERROR_CODES: ReadonlySet<MpcRoutingCode> = new Set<MpcRoutingCode>(['ERR_MPC_WRONG_SESSION', 'ERR_MPC_DUPLICATE', 'ERR_MPC_WRONG_SENDER', 'ERR_MPC_WRONG_ROUND']);

/** Whether `e` (an MpcError, or one rebuilt from a worker thread) is a routing error (ROUTING_ERROR_CODES). */
export function isRoutingError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && (ROUTING_ERROR_CODES as ReadonlySet<string>).has(code);
}

/**
 * A message refused by the round engine's routing checks (another session, a round or kind the
 * party does not take now, a duplicate). Not an abort: the party's state is unchanged and the
 * message is dropped. `sender` is the `from` of the refused message (as claimed by its header;
 * the transport authenticates it).
 */
export class MpcRoutingError extends MpcError {
  readonly sender: number;
  constructor(code: MpcRoutingCode, sender: number, message: string) {
    super(code, message);
    this.name = 'MpcRoutingError';
    this.sender = sender;
  }
}

export class MpcUsageError extends MpcError {
  constructor(code: MpcErrorCode, message: string) {
    super(code, message);
    this.name = 'MpcUsageError';
  }
}
