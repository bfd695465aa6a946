/**
 * Bounded input (issue 15 item 3), against a real nats-server, intake and dispatcher: the largest
 * request intake admits goes all the way to `approved` (the dispatcher's decision record and
 * event fit the server's max payload); one byte more is refused at intake with
 * ERR_REQUEST_TOO_LARGE and nothing is published; JSON depth and size limits; amounts of every
 * asset are plain bounded decimals.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ConfigChangeRequest, RequestApproved, TransactionSignRequest, type RequestIntakeServiceClient } from '@cosigner/proto';
import { closeClient, createLogger, unary } from '@cosigner/platform';
import { startNats, type NatsServerHandle } from '@cosigner/platform/testing';
import { parseTrustConfig } from '@cosigner/trust';
import { startDispatcher, type DispatcherHandle } from '@cosigner/callback-dispatcher';
import { startIntake, type IntakeHandle } from '../src/index.ts';
import { MAX_EDDSA_MESSAGE, requestBudget } from '../src/validate.ts';
import {
  ADMIN_TOKEN, WORKSPACE_ID, configChange, cosignerKeys, intakeClient, makeWorkspace, seedApiUser, seedKey, submissionJwt, submitCc, submitTx, waitFor,
  type Workspace,
} from './fixtures.ts';

const quiet = (service: string) => createLogger({ service, level: 'error' });
let nats: NatsServerHandle;
let nc: NatsConnection;
let intake: IntakeHandle;
let dispatcher: DispatcherHandle;
let client: RequestIntakeServiceClient;
let ws: Workspace;

before(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  ws = await makeWorkspace();
  const keys = cosignerKeys();
  intake = await startIntake({ natsUrl: nats.url, port: 0, adminTokens: [ADMIN_TOKEN], trust: parseTrustConfig(ws.trustJson), log: quiet('request-intake') });
  dispatcher = await startDispatcher({ natsUrl: nats.url, callbackKeyPem: keys.callbackPrivatePem, approvalKeyPem: keys.approvalPrivatePem, trust: parseTrustConfig(ws.trustJson), deadlineMs: 2000, log: quiet('callback-dispatcher') });
  client = intakeClient(intake.address);
  await seedKey(nc, 'ed1', { algorithm: 'EDDSA_ED25519' });
  await seedApiUser(nc, 'u1', { autoApprove: true });
});

after(async () => {
  closeClient(client);
  await dispatcher?.stop();
  await intake?.stop();
  await nc?.close();
  await nats?.stop();
});

/** A non-ETH transfer with EdDSA entries (full-size messages), padded by its note to exactly `size` bytes. */
function sizedRequest(size: number, tweak?: (r: TransactionSignRequest) => void): { request: TransactionSignRequest; bytes: Uint8Array } {
  const requestId = randomUUID();
  const entries = Array.from({ length: Math.floor(size / (MAX_EDDSA_MESSAGE + 64)) }, (_, i) => ({
    keyId: 'ed1', path: [44, 501, i], algorithm: 'EDDSA_ED25519' as const, rawTx: Buffer.alloc(0), payload: Buffer.alloc(MAX_EDDSA_MESSAGE, i + 1),
  }));
  const request: TransactionSignRequest = {
    requestId, workspaceId: WORKSPACE_ID, apiUserId: 'u1', expiresAtMs: Date.now() + 600_000,
    details: {
      txId: requestId, operation: 'TRANSFER', sourceType: 'VAULT', sourceId: '0', destType: 'ONE_TIME_ADDRESS', destId: '', asset: 'SOL',
      amount: '1.5', requestedAmount: '1.5', fee: '0.000005', destAddressType: 'ONE_TIME', destAddress: 'So1aNaDdReSs', destinations: [],
      note: '', externalTxId: '', extraParameters: {}, chainId: 0,
    },
    entries, players: ['customer', 'cloud-1', 'cloud-2'],
  };
  tweak?.(request);
  // Pad with the note until the encoding is exactly `size` (its length prefix may grow by a byte).
  for (let i = 0; i < 5; i++) {
    const n = TransactionSignRequest.encode(request).finish().length;
    if (n === size) break;
    request.details!.note += 'n'.repeat(Math.max(0, size - n));
    if (n > size) request.details!.note = request.details!.note.slice(0, request.details!.note.length - (n - size));
  }
  const bytes = TransactionSignRequest.encode(request).finish();
  assert.equal(bytes.length, size);
  return { request, bytes };
}

async function refusedWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.equal((e as { code?: string }).code, code, (e as Error).message);
    return true;
  });
}

test('the largest admitted request (budget from the server\'s max payload) is approved; one byte more is refused and nothing is published', async () => {
  const budget = requestBudget(nc.info!.max_payload);
  assert.ok(budget > 300_000 && budget < nc.info!.max_payload / 2, `budget ${budget}`);
  const big = sizedRequest(budget);
  await submitTx(client, big.bytes, await submissionJwt(ws, big.bytes));
  const s = await waitFor(client, big.request.requestId, (x) => x.status !== 'RECEIVED', 30_000);
  assert.equal(s.status, 'APPROVED', s.reason);
  const jsm = await jetstreamManager(nc);
  const m = await jsm.streams.getMessage('COSIGNER_REQUESTS', { last_by_subj: `cosigner.requests.approved.${big.request.requestId}` });
  const ev = RequestApproved.decode(m!.data);
  assert.equal(ev.request.length, budget);

  const over = sizedRequest(budget + 1);
  await refusedWith(submitTx(client, over.bytes, await submissionJwt(ws, over.bytes)), 'ERR_REQUEST_TOO_LARGE');
  await refusedWith(unary(client, 'getRequest', { requestId: over.request.requestId }), 'ERR_NOT_FOUND');
});

test('extra_info_json: nesting deeper than the limit and JSON larger than the limit are refused with their codes', async () => {
  const deep = configChange();
  deep.request.extraInfoJson = `{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`;
  let bytes = ConfigChangeRequest.encode(deep.request).finish();
  await refusedWith(submitCc(client, bytes, await submissionJwt(ws, bytes)), 'ERR_JSON_TOO_DEEP');
  // Brackets inside strings do not count.
  const fine = configChange();
  fine.request.extraInfoJson = JSON.stringify({ walletName: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{{{{{{{{{"\\' });
  bytes = ConfigChangeRequest.encode(fine.request).finish();
  await seedApiUser(nc, 'u1', { autoApprove: true });
  await submitCc(client, bytes, await submissionJwt(ws, bytes));
  const large = configChange();
  large.request.extraInfoJson = JSON.stringify({ walletName: 'x'.repeat(70 * 1024) });
  bytes = ConfigChangeRequest.encode(large.request).finish();
  await refusedWith(submitCc(client, bytes, await submissionJwt(ws, bytes)), 'ERR_REQUEST_TOO_LARGE');
});

test('amounts of every asset: plain bounded decimals only (no exponent, sign, hex, excess precision)', async () => {
  const bad = ['1e400', '1E5', '0x10', '-1', '+1', '1.', '.5', '01', '1.0000000000000000001', ' 1', '1 ', 'NaN', 'Infinity', '1,5', '١', '1234567890123456789012345678901'];
  for (const amount of bad) {
    const r = sizedRequest(2000, (x) => { x.details!.amount = amount; x.entries = x.entries.slice(0, 0).concat([{ keyId: 'ed1', path: [], algorithm: 'EDDSA_ED25519', rawTx: Buffer.alloc(0), payload: Buffer.from('m') }]); });
    await refusedWith(submitTx(client, r.bytes, await submissionJwt(ws, r.bytes)), 'ERR_INVALID_AMOUNT');
  }
  for (const field of ['requestedAmount', 'fee'] as const) {
    const r = sizedRequest(2000, (x) => { x.details![field] = '2e3'; x.entries = [{ keyId: 'ed1', path: [], algorithm: 'EDDSA_ED25519', rawTx: Buffer.alloc(0), payload: Buffer.from('m') }]; });
    await refusedWith(submitTx(client, r.bytes, await submissionJwt(ws, r.bytes)), 'ERR_INVALID_AMOUNT');
  }
  const dst = sizedRequest(2000, (x) => {
    x.entries = [{ keyId: 'ed1', path: [], algorithm: 'EDDSA_ED25519', rawTx: Buffer.alloc(0), payload: Buffer.from('m') }];
    x.details!.destinations = [{ amountNative: '1e-7', amountUsd: '0', dstAddressType: 'ONE_TIME', dstId: '', dstWalletId: '', dstName: '', dstSubType: '', dstType: 'ONE_TIME_ADDRESS', displayDstAddress: 'a', action: 'ALLOW' }];
  });
  await refusedWith(submitTx(client, dst.bytes, await submissionJwt(ws, dst.bytes)), 'ERR_INVALID_AMOUNT');
  const missing = sizedRequest(2000, (x) => { x.details!.amount = ''; x.entries = [{ keyId: 'ed1', path: [], algorithm: 'EDDSA_ED25519', rawTx: Buffer.alloc(0), payload: Buffer.from('m') }]; });
  await refusedWith(submitTx(client, missing.bytes, await submissionJwt(ws, missing.bytes)), 'ERR_INVALID_AMOUNT');
  for (const amount of ['0', '0.5', '123456789012345678901234567890.123456789012345678']) {
    const r = sizedRequest(2000, (x) => { x.details!.amount = amount; x.details!.requestedAmount = amount; x.entries = [{ keyId: 'ed1', path: [], algorithm: 'EDDSA_ED25519', rawTx: Buffer.alloc(0), payload: Buffer.from('m') }]; });
    const res = await submitTx(client, r.bytes, await submissionJwt(ws, r.bytes));
    assert.ok(res, amount);
  }
});
