/** The example handler against the real intake and dispatcher. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { RequestIntakeServiceClient } from '@cosigner/proto';
import { closeClient, createLogger } from '@cosigner/platform';
import { startNats, type NatsServerHandle } from '@cosigner/platform/testing';
import { parseTrustConfig } from '@cosigner/trust';
import { startIntake, type IntakeHandle } from '@cosigner/request-intake';
import { startDispatcher, type DispatcherHandle } from '@cosigner/callback-dispatcher';
import {
  ADMIN_TOKEN, DEST, configChange, cosignerKeys, ethRequest, intakeClient, makeWorkspace, seedApiUser, seedKey, submissionJwt, submitCc, submitTx, waitFor,
  type Workspace,
} from '../../../services/request-intake/test/fixtures.ts';
import { decideTransaction, startHandler, type RunningHandler } from '../src/handler.ts';

let nats: NatsServerHandle;
let nc: NatsConnection;
let intake: IntakeHandle;
let dispatcher: DispatcherHandle;
let client: RequestIntakeServiceClient;
let ws: Workspace;
let handler: RunningHandler;

before(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  ws = await makeWorkspace();
  const keys = cosignerKeys();
  const hk = generateKeyPairSync('rsa', { modulusLength: 2048 });
  handler = await startHandler({
    port: 0, cosignerPublicKeyFile: '', privateKeyFile: '',
    rules: { allowedDestinations: [DEST], maxAmount: { ETH: '1.0' }, approveConfigChanges: ['UNMANAGED_WALLET'], ignoreConfigChanges: ['ADD_USER'] },
  }, { cosignerPublicKey: createPublicKey(keys.callbackPublicPem), privateKey: createPrivateKey(hk.privateKey.export({ type: 'pkcs8', format: 'pem' })) });
  const quiet = (s: string) => createLogger({ service: s, level: 'error' });
  intake = await startIntake({ natsUrl: nats.url, port: 0, adminTokens: [ADMIN_TOKEN], trust: parseTrustConfig(ws.trustJson), log: quiet('request-intake') });
  dispatcher = await startDispatcher({ natsUrl: nats.url, callbackKeyPem: keys.callbackPrivatePem, approvalKeyPem: keys.approvalPrivatePem, trust: parseTrustConfig(ws.trustJson), deadlineMs: 2000, callbackAllow: ['loopback'], log: quiet('callback-dispatcher') });
  client = intakeClient(intake.address);
  await seedKey(nc, 'key1');
  await seedApiUser(nc, 'u1', { callback: { url: handler.url, mode: 'JWT', publicKeyPem: hk.publicKey.export({ type: 'spki', format: 'pem' }).toString(), certPem: '', updatedAtMs: 0 } });
});

after(async () => {
  closeClient(client);
  await dispatcher?.stop();
  await intake?.stop();
  await handler?.close();
  await nc?.close();
  await nats?.stop();
});

async function run(o: Parameters<typeof ethRequest>[0]) {
  const r = ethRequest(o);
  await submitTx(client, r.bytes, await submissionJwt(ws, r.bytes));
  return waitFor(client, r.request.requestId, (s) => s.status !== 'RECEIVED');
}

test('approves an allow-listed transfer within the limit', async () => {
  assert.equal((await run({ amountEth: '0.5' })).status, 'APPROVED');
});

test('rejects over the limit and to an unlisted destination, with reasons', async () => {
  const a = await run({ amountEth: '2' });
  assert.equal(a.status, 'REJECTED');
  assert.match(a.reason, /limit/);
  const b = await run({ to: '0x000000000000000000000000000000000000dEaD' });
  assert.equal(b.status, 'REJECTED');
  assert.match(b.reason, /allow-listed/);
});

test('config changes: approved and ignored by rule', async () => {
  const a = configChange();
  await submitCc(client, a.bytes, await submissionJwt(ws, a.bytes));
  assert.equal((await waitFor(client, a.request.requestId, (s) => s.status !== 'RECEIVED')).status, 'APPROVED');
  const i = configChange({ type: 'ADD_USER' });
  await submitCc(client, i.bytes, await submissionJwt(ws, i.bytes));
  assert.equal((await waitFor(client, i.request.requestId, (s) => s.status !== 'RECEIVED')).status, 'IGNORED');
});

test('a digest that is not keccak256(rawTx) is rejected by the handler itself', () => {
  const { request, rawTx } = ethRequest();
  const d = decideTransaction({
    requestId: request.requestId, asset: 'ETH', amountStr: '0.01', destAddress: DEST.toLowerCase(),
    rawTx: [{ rawTx: rawTx.slice(2), payload: '00'.repeat(32) }],
  }, {});
  assert.equal(d.action, 'REJECT');
});
