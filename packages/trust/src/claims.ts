/** Names and limits of the workspace JWTs, shared by issuers and verifiers (service conventions). */
import { createHash } from 'node:crypto';

/** `aud` of a pairing token. */
export const PAIRING_AUDIENCE = 'cosigner-pairing';
/** `aud` of a request submission JWT. */
export const INTAKE_AUDIENCE = 'cosigner-intake';
/** A pairing token is valid one hour. */
export const PAIRING_TOKEN_LIFETIME_S = 3600;
/** A submission JWT lives at most 30 s (exp <= iat + 30). */
export const SUBMISSION_MAX_LIFETIME_S = 30;

/** The `iss` of a workspace simulated by cloud-cosigner-sim. */
export function simIssuer(workspaceId: string): string {
  return `cosigner-sim/${workspaceId}`;
}

/** `reqHash` claim: hex SHA-256 of the exact request bytes. */
export function requestHash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
