/** Test helpers: approval keys and signed RequestApproved events like the dispatcher publishes. */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApprovalProof, RequestApproved, TransactionSignRequest, type PayloadEntry } from '@cosigner/proto';

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

export function approvedEvent(o: {
  key: KeyObject;
  requestId: string;
  workspaceId: string;
  entries: Partial<PayloadEntry>[];
  expiresAtMs?: number;
  tamperDigest?: boolean;
}): { bytes: Uint8Array; request: TransactionSignRequest } {
  const request: TransactionSignRequest = {
    requestId: o.requestId,
    workspaceId: o.workspaceId,
    apiUserId: 'u1',
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
    apiUserId: 'u1',
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
  };
  return { bytes: RequestApproved.encode(ev).finish(), request };
}
