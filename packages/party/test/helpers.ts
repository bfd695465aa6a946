/**
 * Test helpers: approval keys, test workspaces (their signing keys and the COSIGNER_TRUST that
 * trusts them), and RequestApproved events like the dispatcher publishes, carrying the
 * workspace's submission JWT as intake verified it.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApprovalProof, RequestApproved, TransactionSignRequest, type PayloadEntry } from '@cosigner/proto';
import { INTAKE_AUDIENCE, createTrust, parseTrustConfig, requestHash, type Trust } from '@cosigner/trust';

export interface ApprovalKeys {
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicFile: string;
  privateFile: string;
}

export function approvalKeys(dir = mkdtempSync(join(tmpdir(), 'cosigner-approval-'))): ApprovalKeys {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const publicFile = join(dir, 'approval.pub.pem');
  const privateFile = join(dir, 'approval.pem');
  writeFileSync(publicFile, publicKey.export({ format: 'pem', type: 'spki' }));
  writeFileSync(privateFile, privateKey.export({ format: 'pem', type: 'pkcs8' }));
  return { privateKey, publicKey, publicFile, privateFile };
}

export function sealingKeyFile(dir: string): string {
  const f = join(dir, 'sealing.key');
  writeFileSync(f, randomBytes(32).toString('hex'));
  return f;
}

/** The workspaces the test trust configuration knows (each with its own key). */
export const TEST_WORKSPACES = ['ws1', 'ws2', 'bench'] as const;

export interface TestWorkspace {
  workspaceId: string;
  issuer: string;
  privateKey: KeyObject;
  /** The public JWK (what the trust configuration holds). */
  jwk: Record<string, unknown>;
}

/**
 * A test workspace's Ed25519 signing key, derived from its id (stable across processes, so a
 * test and the services it spawns agree without passing files around). Test-only keys.
 */
export function testWorkspace(workspaceId: string): TestWorkspace {
  const seed = createHash('sha256').update(`cosigner test workspace ${workspaceId}`).digest();
  // PKCS#8 of an Ed25519 seed (RFC 8410 §7): a fixed prefix and the 32 bytes.
  const privateKey = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
  const pub = createPublicKey(privateKey).export({ format: 'jwk' }) as Record<string, unknown>;
  return { workspaceId, issuer: `test-ws/${workspaceId}`, privateKey, jwk: { ...pub, kid: `${workspaceId}-k1`, alg: 'EdDSA', use: 'sig' } };
}

/** COSIGNER_TRUST for the test workspaces (inline keys). */
export function testTrustJson(ids: readonly string[] = TEST_WORKSPACES): string {
  return JSON.stringify(ids.map((id) => {
    const w = testWorkspace(id);
    return { issuer: w.issuer, workspaceId: id, jwks: { keys: [w.jwk] } };
  }));
}

/** A verifier for the test workspaces (what a party builds from COSIGNER_TRUST). */
export function testTrust(ids: readonly string[] = TEST_WORKSPACES): Trust {
  return createTrust(parseTrustConfig(testTrustJson(ids)));
}

const b64u = (b: Uint8Array | string): string => Buffer.from(b).toString('base64url');

/**
 * The workspace's submission JWT over `request` (service conventions: iss, sub = API user,
 * aud cosigner-intake, reqHash, nonce = jti, iat, exp = iat + 30), EdDSA (RFC 8037) built with
 * node:crypto so it is synchronous.
 */
export function submissionJwt(ws: TestWorkspace, apiUserId: string, request: Uint8Array, o: { nowMs?: number; reqHash?: string } = {}): string {
  const iat = Math.floor((o.nowMs ?? Date.now()) / 1000);
  const nonce = randomBytes(12).toString('hex');
  const header = b64u(JSON.stringify({ alg: 'EdDSA', kid: ws.jwk.kid, typ: 'JWT' }));
  const payload = b64u(JSON.stringify({ iss: ws.issuer, sub: apiUserId, aud: INTAKE_AUDIENCE, reqHash: o.reqHash ?? requestHash(request), nonce, jti: nonce, iat, exp: iat + 30 }));
  return `${header}.${payload}.${b64u(sign(null, Buffer.from(`${header}.${payload}`), ws.privateKey))}`;
}

export function approvedEvent(o: {
  key: KeyObject;
  requestId: string;
  workspaceId: string;
  entries: Partial<PayloadEntry>[];
  expiresAtMs?: number;
  tamperDigest?: boolean;
  /** The request's API user (default u1). */
  apiUserId?: string;
  /** Who signs the submission (default: the workspace the request names); null: nobody. */
  signedBy?: TestWorkspace | null;
  /** The API user the workspace signed for (default: the request's). */
  signedForApiUser?: string;
}): { bytes: Uint8Array; request: TransactionSignRequest } {
  const apiUserId = o.apiUserId ?? 'u1';
  const request: TransactionSignRequest = {
    requestId: o.requestId,
    workspaceId: o.workspaceId,
    apiUserId,
    expiresAtMs: o.expiresAtMs ?? Date.now() + 10 * 60_000,
    details: undefined,
    entries: o.entries.map((e) => ({ keyId: '', path: [], algorithm: 'ALGORITHM_UNSPECIFIED', rawTx: Buffer.alloc(0), payload: Buffer.alloc(0), ...e }) as PayloadEntry),
    players: [],
  };
  const reqBytes = TransactionSignRequest.encode(request).finish();
  const proof: ApprovalProof = {
    requestId: o.requestId,
    requestHash: createHash('sha256').update(reqBytes).digest(),
    digests: request.entries.map((e) => (o.tamperDigest ? Buffer.from(randomBytes(e.payload.length)) : e.payload)),
    decision: 'APPROVE',
    decidedAtMs: Date.now(),
    approvalKeyId: 'test',
    handlerUrl: '',
    handlerReply: '',
    apiUserId,
    attempt: 1,
  };
  const proofBytes = ApprovalProof.encode(proof).finish();
  const ev: RequestApproved = {
    requestId: o.requestId,
    kind: 'TRANSACTION',
    request: Buffer.from(reqBytes),
    proof: Buffer.from(proofBytes),
    proofSignature: sign(null, proofBytes, o.key),
    approvedAtMs: Date.now(),
    expiresAtMs: request.expiresAtMs,
    authorization: o.signedBy === null ? '' : submissionJwt(o.signedBy ?? testWorkspace(o.workspaceId), o.signedForApiUser ?? apiUserId, reqBytes),
  };
  return { bytes: RequestApproved.encode(ev).finish(), request };
}
