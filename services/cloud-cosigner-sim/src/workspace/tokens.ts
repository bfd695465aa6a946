/**
 * The JWTs a workspace signs (service conventions): the pairing token (single use, one hour) and
 * the submission JWT that binds the SHA-256 of the exact request bytes (lifetime <= 30 s).
 */
import * as jose from 'jose';
import { INTAKE_AUDIENCE, PAIRING_AUDIENCE, PAIRING_TOKEN_LIFETIME_S, requestHash } from '@cosigner/trust';
import { WORKSPACE_SIGNING_ALG, type WorkspaceKey } from './keys.ts';

/** Submission JWTs live this long (the verifier allows at most 30 s). */
export const SUBMISSION_LIFETIME_S = 30;

export interface PairingTokenClaims {
  issuer: string;
  apiUserId: string;
  jti: string;
  nowMs: number;
}

/** RFC 7519 claims iss/sub/aud/exp/nbf/iat/jti; signed ES256 with the workspace key. */
export async function signPairingToken(key: WorkspaceKey, c: PairingTokenClaims): Promise<{ token: string; expiresAtMs: number }> {
  const iat = Math.floor(c.nowMs / 1000);
  const exp = iat + PAIRING_TOKEN_LIFETIME_S;
  const token = await new jose.SignJWT({})
    .setProtectedHeader({ alg: WORKSPACE_SIGNING_ALG, kid: key.kid, typ: 'JWT' })
    .setIssuer(c.issuer)
    .setSubject(c.apiUserId)
    .setAudience(PAIRING_AUDIENCE)
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(exp)
    .setJti(c.jti)
    .sign(key.privateKey);
  return { token, expiresAtMs: exp * 1000 };
}

export interface SubmissionClaims {
  issuer: string;
  apiUserId: string;
  request: Uint8Array;
  nonce: string;
  nowMs: number;
}

/** Submission JWT: {iss, sub, aud 'cosigner-intake', reqHash, nonce, jti (= nonce), iat, exp = iat + 30}. */
export async function signSubmission(key: WorkspaceKey, c: SubmissionClaims): Promise<string> {
  const iat = Math.floor(c.nowMs / 1000);
  return new jose.SignJWT({ reqHash: requestHash(c.request), nonce: c.nonce })
    .setProtectedHeader({ alg: WORKSPACE_SIGNING_ALG, kid: key.kid, typ: 'JWT' })
    .setIssuer(c.issuer)
    .setSubject(c.apiUserId)
    .setAudience(INTAKE_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + SUBMISSION_LIFETIME_S)
    .setJti(c.nonce)
    .sign(key.privateKey);
}
