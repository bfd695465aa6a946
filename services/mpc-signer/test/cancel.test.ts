/**
 * Cancel means cancel (issue 15 item 4), with the real signer and both cloud parties as processes,
 * intake over gRPC and a real nats-server: a request is cancellable while no party can have
 * released a share (received; approved but not yet taken by the signer), and then nothing is ever
 * signed for it; once the signer has started (or finished), Cancel answers ERR_NOT_CANCELLABLE
 * with the request's real state. Tested at each stage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import { CancelRequest, TransactionSignRequest, type KeyInfo, type RequestIntakeServiceClient } from '@cosigner/proto';
import { closeClient, createLogger, unary } from '@cosigner/platform';
import { parseTrustConfig } from '@cosigner/trust';
import { startIntake } from '@cosigner/request-intake';
import { approvedEvent } from '../../../packages/party/test/helpers.ts';
import {
  ADMIN_TOKEN, WORKSPACE_ID, intakeClient, makeWorkspace, seedApiUser, submissionJwt, submitTx, waitFor, type Workspace,
} from '../../request-intake/test/fixtures.ts';
import { startSystem } from './system.ts';
import { countOn } from './util.ts';

function solRequest(keyId: string): { request: TransactionSignRequest; bytes: Uint8Array } {
  const requestId = randomUUID();
  const request: TransactionSignRequest = {
    requestId, workspaceId: WORKSPACE_ID, apiUserId: 'u1', expiresAtMs: Date.now() + 600_000,
    details: {
      txId: requestId, operation: 'TRANSFER', sourceType: 'VAULT', sourceId: '0', destType: 'ONE_TIME_ADDRESS', destId: '', asset: 'SOL',
      amount: '1', requestedAmount: '1', fee: '', destAddressType: 'ONE_TIME', destAddress: 'addr', destinations: [], note: '', externalTxId: '', extraParameters: {}, chainId: 0,
    },
    entries: [{ keyId, path: [44, 501, 0], algorithm: 'EDDSA_ED25519', rawTx: Buffer.alloc(0), payload: Buffer.from(`message ${requestId}`) }],
    players: ['customer', 'cloud-1', 'cloud-2'],
  };
  return { request, bytes: TransactionSignRequest.encode(request).finish() };
}

async function cancel(client: RequestIntakeServiceClient, ws: Workspace, requestId: string) {
  const bytes = CancelRequest.encode({ requestId, workspaceId: WORKSPACE_ID, apiUserId: 'u1', reason: 'changed my mind' }).finish();
  return unary(client, 'cancelRequest', { request: Buffer.from(bytes), authorization: await submissionJwt(ws, bytes) });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('cancel at each stage: received and approved-but-not-started cancel and never sign; started or signed answers the real state', async (t) => {
  const s = await startSystem();
  t.after(() => s.stop());
  const ws = await makeWorkspace();
  const intake = await startIntake({ natsUrl: s.nats.url, port: 0, adminTokens: [ADMIN_TOKEN], trust: parseTrustConfig(ws.trustJson), log: createLogger({ service: 'request-intake', level: 'error' }) });
  t.after(() => intake.stop());
  const client = intakeClient(intake.address);
  t.after(() => closeClient(client));
  await seedApiUser(s.nc, 'u1', { autoApprove: true });
  const key = await s.call<KeyInfo>('createKey', { workspaceId: WORKSPACE_ID, algorithm: 'EDDSA_ED25519', threshold: 0, keyId: '' });
  const approve = async (r: { request: TransactionSignRequest }) => {
    // What the dispatcher would publish for this request (no dispatcher runs: the test decides when).
    const ev = approvedEvent({ key: s.ak.privateKey, requestId: r.request.requestId, workspaceId: WORKSPACE_ID, entries: r.request.entries });
    await s.js.publish(`cosigner.requests.approved.${r.request.requestId}`, ev.bytes, { msgID: `${r.request.requestId}:approved` });
  };
  const submit = async () => {
    const r = solRequest(key.keyId);
    await submitTx(client, r.bytes, await submissionJwt(ws, r.bytes));
    return r;
  };

  // 1. RECEIVED: cancelled; an approval arriving afterwards signs nothing.
  const a = await submit();
  const ca = await cancel(client, ws, a.request.requestId) as { status: string; errorCode: string };
  assert.equal(ca.status, 'FAILED');
  assert.equal(ca.errorCode, 'ERR_CANCELLED');
  await approve(a);

  // 2. APPROVED, the signer not yet at it (it is down): cancelled; once back it signs nothing.
  await s.procs.customer!.kill9();
  const b = await submit();
  await approve(b);
  assert.equal((await waitFor(client, b.request.requestId, (x) => x.status === 'APPROVED')).status, 'APPROVED');
  const cb = await cancel(client, ws, b.request.requestId) as { status: string; errorCode: string };
  assert.equal(cb.status, 'FAILED');
  await s.start('customer');

  // 3. SIGNED: cancel answers with the real state and changes nothing.
  const c = await submit();
  await approve(c);
  assert.equal((await waitFor(client, c.request.requestId, (x) => x.status === 'SIGNED', 60_000)).status, 'SIGNED');
  await assert.rejects(cancel(client, ws, c.request.requestId), (e: unknown) => {
    assert.equal((e as { code?: string }).code, 'ERR_NOT_CANCELLABLE');
    assert.match((e as Error).message, /SIGNED/);
    return true;
  });
  assert.equal((await waitFor(client, c.request.requestId, () => true)).status, 'SIGNED');

  // 4. The signer has taken the request (its gate says SIGNING: shares may be out) but it is not
  //    signed yet: not cancellable, answered with the real state (APPROVED).
  const d = await submit();
  const gate = await new Kvm(s.js).open('cosigner-sign-gate');
  await gate.create(d.request.requestId, new TextEncoder().encode('SIGNING'));
  await assert.rejects(cancel(client, ws, d.request.requestId), (e: unknown) => {
    assert.equal((e as { code?: string }).code, 'ERR_NOT_CANCELLABLE');
    assert.match((e as Error).message, /RECEIVED and being signed/);
    return true;
  });
  assert.equal((await waitFor(client, d.request.requestId, () => true)).status, 'RECEIVED');

  // Neither cancelled request was ever signed (the signer saw both approvals: c was signed after them).
  await sleep(2000);
  assert.equal(await countOn(s, `cosigner.requests.signed.${a.request.requestId}`), 0);
  assert.equal(await countOn(s, `cosigner.requests.signed.${b.request.requestId}`), 0);
  assert.equal((await waitFor(client, a.request.requestId, () => true)).status, 'FAILED');
  assert.equal((await waitFor(client, b.request.requestId, () => true)).status, 'FAILED');
});
