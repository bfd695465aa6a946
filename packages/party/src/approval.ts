/**
 * The two proofs every signing party checks before contributing anything (DESIGN.md "A
 * transaction, end to end" step 4: "a signature needs two proofs that no bus message can forge"):
 *
 * 1. origination (`verifyOrigin`): the workspace's own submission JWT over the exact request bytes,
 *    carried in `RequestApproved.authorization`, verifies against the workspace keys of this
 *    party's trust configuration (never keys read from the bus), for the workspace and API user
 *    the request names (packages/trust origination.ts); the caller then checks the key being used
 *    belongs to that workspace (its sealed key record);
 * 2. approval (`verifyApproval`): `RequestApproved.proof_signature` is the dispatcher's Ed25519
 *    signature over the serialized `ApprovalProof`, whose request id, request hash, digests,
 *    decision and API user must match the request bytes carried alongside; and the entry being
 *    signed must be the one the request names (key, path, digest).
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ApprovalProof, RequestApproved, TransactionSignRequest, type PayloadEntry } from '@cosigner/proto';
import { TrustError, verifyOrigination, type Trust, type VerifiedOrigination } from '@cosigner/trust';
import { verifyEd25519Key } from './crypto.ts';
import { PartyError } from './errors.ts';

export function loadApprovalKey(path: string | undefined): KeyObject {
  if (!path) throw new PartyError('ERR_CONFIG', 'COSIGNER_APPROVAL_PUBLIC_KEY_FILE is not set: a signing party needs the dispatcher approval public key (SPKI PEM)');
  let k: KeyObject;
  try {
    k = createPublicKey(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new PartyError('ERR_CONFIG', `cannot read the approval public key ${path}`, { cause: e });
  }
  if (k.asymmetricKeyType !== 'ed25519') throw new PartyError('ERR_CONFIG', 'the approval public key must be Ed25519');
  return k;
}

export interface VerifiedApproval {
  approved: RequestApproved;
  proof: ApprovalProof;
  request: TransactionSignRequest;
}

function bad(msg: string): PartyError {
  return new PartyError('ERR_APPROVAL_INVALID', msg);
}

function eq(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

/** Verify a RequestApproved as a whole (signature, hash, digests, decision, expiry). */
export function verifyApproval(bytes: Uint8Array, key: KeyObject, nowMs: number): VerifiedApproval {
  let approved: RequestApproved;
  let proof: ApprovalProof;
  let request: TransactionSignRequest;
  try {
    approved = RequestApproved.decode(bytes);
    proof = ApprovalProof.decode(approved.proof);
    request = TransactionSignRequest.decode(approved.request);
  } catch (e) {
    throw new PartyError('ERR_APPROVAL_INVALID', 'approval does not decode', { cause: e });
  }
  if (!verifyEd25519Key(key, approved.proof, approved.proofSignature)) throw bad('approval proof signature does not verify');
  if (approved.kind !== 'TRANSACTION') throw bad('not a transaction approval');
  if (proof.decision !== 'APPROVE') throw bad(`approval decision is ${proof.decision}`);
  if (!approved.requestId || proof.requestId !== approved.requestId || request.requestId !== approved.requestId) throw bad('request id mismatch');
  if (!eq(proof.requestHash, createHash('sha256').update(approved.request).digest())) throw bad('request hash mismatch');
  if (proof.apiUserId !== request.apiUserId) throw bad('the approval is for another API user than the request names');
  if (proof.digests.length !== request.entries.length || request.entries.length === 0) throw bad('digest count mismatch');
  for (let i = 0; i < request.entries.length; i++) {
    if (!eq(proof.digests[i]!, request.entries[i]!.payload)) throw bad(`digest of entry ${i} mismatch`);
  }
  const expires = request.expiresAtMs || approved.expiresAtMs;
  if (expires > 0 && nowMs > expires) throw new PartyError('ERR_APPROVAL_INVALID', 'request expired');
  return { approved, proof, request };
}

/** The entry a SIGN session claims to sign must be exactly the request's entry. */
export function checkEntry(v: VerifiedApproval, index: number, keyId: string): PayloadEntry {
  const e = v.request.entries[index];
  if (!e) throw bad(`no entry ${index}`);
  if (e.keyId !== keyId) throw bad(`entry ${index} names another key`);
  return e;
}

/**
 * Origination of an approved request: the workspace named in the request signed exactly these
 * bytes for the API user it names (checked against `trust`, this party's own configuration).
 * Throws PartyError ERR_ORIGINATION_INVALID, or ERR_KEYS_UNAVAILABLE when the workspace's keys
 * could not be fetched (nothing was contributed; the coordinator may try again).
 */
export async function verifyOrigin(v: VerifiedApproval, trust: Trust, nowMs: number): Promise<VerifiedOrigination> {
  let o: VerifiedOrigination;
  try {
    o = await verifyOrigination(trust, { kind: v.approved.kind, request: v.approved.request, authorization: v.approved.authorization }, nowMs);
  } catch (e) {
    if (e instanceof TrustError && e.code === 'ERR_KEYS_UNAVAILABLE') throw new PartyError('ERR_KEYS_UNAVAILABLE', e.message, { cause: e });
    throw new PartyError('ERR_ORIGINATION_INVALID', e instanceof Error ? e.message : 'origination does not verify', { cause: e });
  }
  // verifyOrigination decoded the same bytes; these hold by construction, checked to fail closed.
  if (o.workspaceId !== v.request.workspaceId || o.apiUserId !== v.request.apiUserId || o.requestId !== v.request.requestId) {
    throw new PartyError('ERR_ORIGINATION_INVALID', 'the workspace signed another request');
  }
  return o;
}
