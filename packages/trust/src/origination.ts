/**
 * Origination: the workspace's own signature over the exact request bytes, re-verified by every
 * party that acts on a request (DESIGN.md "A transaction, end to end", step 4: "a signature needs
 * two proofs that no bus message can forge"). Intake verifies the submission JWT when the request
 * arrives and carries it, unchanged, in `RequestReceived.authorization` and
 * `RequestApproved.authorization`; the dispatcher and each signing party verify it again here,
 * against the workspace keys of their own trust configuration (never keys read from the bus).
 *
 * What it proves: the workspace named in the request (the token's issuer, RFC 7519 §4.1.1) signed
 * these exact bytes (`reqHash` = SHA-256 of them) for this API user (`sub`, §4.1.2), with the
 * intake audience (§4.1.3). Time claims are evaluated at the token's own `iat`: the token was
 * valid when it was issued (its 30 s lifetime is over long before a callback handler has
 * answered), the issue time is not in the future, and the request's own expiry, inside the
 * signed bytes, bounds how long the submission can be acted on (a replay of an old submission
 * is refused once its request has expired). Single use of the nonce is intake's (a KV create).
 */
import { createHash } from 'node:crypto';
import * as jose from 'jose';
import { ConfigChangeRequest, TransactionSignRequest, type RequestKind } from '@cosigner/proto';
import { INTAKE_AUDIENCE, SUBMISSION_MAX_LIFETIME_S } from './claims.ts';
import { TrustError } from './errors.ts';
import { DEFAULT_CLOCK_TOLERANCE_S, MAX_TOKEN_LENGTH, type Trust, type VerifiedToken } from './verify.ts';

/** Who originated a request, as proven by the workspace's signature. */
export interface VerifiedOrigination {
  workspaceId: string;
  apiUserId: string;
  issuer: string;
  requestId: string;
  /** The request's own expiry (inside the signed bytes). */
  expiresAtMs: number;
  token: VerifiedToken;
}

export interface OriginationInput {
  kind: RequestKind;
  /** The request bytes exactly as the workspace signed them. */
  request: Uint8Array;
  /** The workspace's submission JWT (compact JWS). */
  authorization: string;
}

function refuse(msg: string, cause?: unknown): TrustError {
  return new TrustError('ERR_ORIGINATION_INVALID', msg, cause === undefined ? undefined : { cause });
}

/**
 * Verifies that the workspace named in the request signed exactly these bytes for the API user
 * the request names. Throws TrustError: ERR_ORIGINATION_INVALID (with the token error's code in
 * the message) when it does not; ERR_KEYS_UNAVAILABLE (retryable) when the key source could not
 * be reached.
 */
export async function verifyOrigination(trust: Trust, input: OriginationInput, nowMs: number = Date.now()): Promise<VerifiedOrigination> {
  const token = input.authorization;
  if (typeof token !== 'string' || token === '') throw refuse('the request carries no workspace signature');
  if (token.length > MAX_TOKEN_LENGTH) throw refuse('the workspace signature is too large');
  let req: { requestId: string; workspaceId: string; apiUserId: string; expiresAtMs: number };
  try {
    if (input.kind === 'TRANSACTION') req = TransactionSignRequest.decode(input.request);
    else if (input.kind === 'CONFIG_CHANGE') req = ConfigChangeRequest.decode(input.request);
    else throw new Error(`kind ${String(input.kind)}`);
  } catch (e) {
    throw refuse('the request does not decode', e);
  }
  let iat: unknown;
  try {
    iat = jose.decodeJwt(token).iat;
  } catch (e) {
    throw refuse('the workspace signature is not a JWT', e);
  }
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw refuse('the workspace signature has no issue time');
  if (iat * 1000 > nowMs + DEFAULT_CLOCK_TOLERANCE_S * 1000) throw refuse('the workspace signature was issued in the future');
  let v: VerifiedToken;
  try {
    v = await trust.verify(token, { audience: INTAKE_AUDIENCE, maxLifetimeS: SUBMISSION_MAX_LIFETIME_S, atMs: iat * 1000 });
  } catch (e) {
    if (e instanceof TrustError && e.code === 'ERR_KEYS_UNAVAILABLE') throw e;
    const code = e instanceof TrustError ? e.code : 'ERR_TOKEN_MALFORMED';
    throw refuse(`the workspace signature does not verify (${code})`, e);
  }
  const hash = createHash('sha256').update(input.request).digest('hex');
  const claimed = v.claims['reqHash'];
  if (typeof claimed !== 'string' || claimed.toLowerCase() !== hash) throw refuse('the workspace signed other request bytes');
  if (v.workspaceId !== req.workspaceId) throw refuse(`the request names workspace ${req.workspaceId} but workspace ${v.workspaceId} signed it`);
  if (v.apiUserId !== req.apiUserId) throw refuse(`the request names API user ${req.apiUserId} but the workspace signed for another`);
  if (!Number.isSafeInteger(req.expiresAtMs) || req.expiresAtMs <= 0) throw refuse('the request has no expiry');
  if (nowMs > req.expiresAtMs) throw refuse('the request has expired');
  return { workspaceId: v.workspaceId, apiUserId: v.apiUserId, issuer: v.issuer, requestId: req.requestId, expiresAtMs: req.expiresAtMs, token: v };
}
