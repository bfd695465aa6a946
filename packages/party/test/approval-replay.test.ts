/**
 * Replays against the approval check every signing party runs (approval.ts): a config change's
 * valid approval relabelled as a transaction, and a transaction's valid approval reused for
 * another digest, key, path or request. Each must be refused before anything is contributed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { ApprovalProof, ConfigChangeRequest, RequestApproved, TransactionSignRequest } from '@cosigner/proto';
import { checkEntry, verifyApproval } from '../src/approval.ts';
import type { PartyError } from '../src/errors.ts';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const NOW = 1_900_000_000_000;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest();

function approve(kind: 'TRANSACTION' | 'CONFIG_CHANGE', request: Uint8Array, requestId: string, apiUserId: string, digests: Uint8Array[]): RequestApproved {
  const proof = ApprovalProof.encode({
    requestId, requestHash: sha(request), digests: digests.map((d) => Buffer.from(d)), decision: 'APPROVE', decidedAtMs: NOW,
    approvalKeyId: 'k', handlerUrl: '', handlerReply: '', apiUserId, attempt: 1,
  }).finish();
  return RequestApproved.fromPartial({ requestId, kind, request: Buffer.from(request), proof: Buffer.from(proof), proofSignature: sign(null, proof, privateKey), approvedAtMs: NOW, expiresAtMs: 0, authorization: 'x' });
}
const bytes = (a: RequestApproved) => RequestApproved.encode(a).finish();
const refused = (e: PartyError) => e.code === 'ERR_APPROVAL_INVALID';

test('a config change\'s approval relabelled as a transaction is refused', () => {
  for (const [type, extra] of [['', ''], ['UNMANAGED_WALLET', '{"address":"bc1q"}'], ['EXCHANGE', '{}']] as const) {
    const req = ConfigChangeRequest.encode({ requestId: 'c1', workspaceId: 'w', apiUserId: 'u', expiresAtMs: NOW + 60_000, type, extraInfoJson: extra }).finish();
    // Approved as what it is (no digests), then presented as a transaction.
    const a = approve('CONFIG_CHANGE', req, 'c1', 'u', []);
    assert.throws(() => verifyApproval(bytes({ ...a, kind: 'TRANSACTION' }), publicKey, NOW), refused, `type ${type || '(empty)'}`);
    assert.throws(() => verifyApproval(bytes(a), publicKey, NOW), refused);
  }
});

test('a transaction\'s approval is refused for another digest, key, path, request id, or after the request expired', () => {
  const entry = { keyId: 'key-a', path: [44, 0, 0], algorithm: 'ALGORITHM_UNSPECIFIED' as const, rawTx: Buffer.alloc(0), payload: Buffer.alloc(32, 1) };
  const tx = (e: typeof entry, id = 't1') => TransactionSignRequest.encode(TransactionSignRequest.fromPartial({ requestId: id, workspaceId: 'w', apiUserId: 'u', expiresAtMs: NOW + 60_000, entries: [e] })).finish();
  const good = approve('TRANSACTION', tx(entry), 't1', 'u', [entry.payload]);
  const v = verifyApproval(bytes(good), publicKey, NOW);
  assert.equal(checkEntry(v, 0, 'key-a').keyId, 'key-a');
  // Same proof, other request bytes (another digest, path or key): the proof's hash no longer matches.
  for (const other of [{ ...entry, payload: Buffer.alloc(32, 2) }, { ...entry, path: [44, 0, 1] }, { ...entry, keyId: 'key-b' }]) {
    assert.throws(() => verifyApproval(bytes({ ...good, request: Buffer.from(tx(other)) }), publicKey, NOW), refused);
  }
  // The approved request, used for another key or entry of the session.
  assert.throws(() => checkEntry(v, 0, 'key-b'), refused);
  assert.throws(() => checkEntry(v, 1, 'key-a'), refused);
  // Relabelled as another request.
  assert.throws(() => verifyApproval(bytes({ ...good, requestId: 't2' }), publicKey, NOW), refused);
  assert.throws(() => verifyApproval(bytes({ ...good, request: Buffer.from(tx(entry, 't2')), requestId: 't2' }), publicKey, NOW), refused);
  // Replayed once the request (its own, signed expiry) has expired.
  assert.throws(() => verifyApproval(bytes(good), publicKey, NOW + 60_001), refused);
});
