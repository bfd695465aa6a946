import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import * as jose from 'jose';
import { CancelRequest, type RequestIntakeServiceClient, type TransactionSignRequest } from '@cosigner/proto';
import { closeClient, createLogger, unary } from '@cosigner/platform';
import { startNats, type NatsServerHandle } from '@cosigner/platform/testing';
import { parseTrustConfig } from '@cosigner/trust';
import { startIntake, type IntakeHandle } from '../src/index.ts';
import {
  ADMIN_TOKEN, configChange, ethRequest, intakeClient, makeWorkspace, seedApiUser, seedKey, submissionJwt, submitCc, submitTx, waitFor,
  type Workspace,
} from './fixtures.ts';

let nats: NatsServerHandle;
let nc: NatsConnection;
let intake: IntakeHandle;
let client: RequestIntakeServiceClient;
let ws: Workspace;

before(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  ws = await makeWorkspace();
  intake = await startIntake({
    natsUrl: nats.url, port: 0, adminTokens: [ADMIN_TOKEN], trust: parseTrustConfig(ws.trustJson), sweepIntervalMs: 200,
    log: createLogger({ service: 'request-intake', level: 'error' }),
  });
  client = intakeClient(intake.address);
  await seedApiUser(nc, 'u1');
  await seedApiUser(nc, 'u-unpaired', { state: 'UNPAIRED' });
  await seedApiUser(nc, 'u-other', { workspaceId: 'ws2' });
  await seedKey(nc, 'key1');
  await seedKey(nc, 'key-other', { workspaceId: 'ws2' });
  await seedKey(nc, 'key-ed', { algorithm: 'EDDSA_ED25519' });
});

after(async () => {
  closeClient(client);
  await intake?.stop();
  await nc?.close();
  await nats?.stop();
});

async function streamMessages(): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info('COSIGNER_REQUESTS')).state.messages;
}

async function refusedWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: { code?: string }) => {
    assert.equal(e.code, code);
    return true;
  });
}

test('admits a valid ETH transfer, then Get and Watch serve it from the projection', async () => {
  const { bytes, request } = ethRequest();
  const res = await submitTx(client, bytes, await submissionJwt(ws, bytes));
  assert.equal(res.created, true);
  assert.equal(res.state?.status, 'RECEIVED');
  const s = await waitFor(client, request.requestId, (x) => x.status === 'RECEIVED');
  assert.equal(s.apiUserId, 'u1');
  assert.equal(s.kind, 'TRANSACTION');
  const g = await unary(client, 'getRequest', { requestId: request.requestId });
  assert.equal(g.requestId, request.requestId);
  assert.ok(g.revision > 0);
});

test('Get / Watch need the admin token', async () => {
  const { createClient } = await import('@cosigner/platform');
  const { RequestIntakeServiceClient } = await import('@cosigner/proto');
  const anon = createClient(RequestIntakeServiceClient, intake.address, {});
  await refusedWith(unary(anon, 'getRequest', { requestId: 'x' }), 'ERR_UNAUTHENTICATED');
  closeClient(anon);
});

test('every bad-input class is refused with its code and publishes nothing', async () => {
  const other = await makeWorkspace();
  const now = Math.floor(Date.now() / 1000);
  const usedNonce = randomUUID();
  {
    const { bytes } = ethRequest();
    await submitTx(client, bytes, await submissionJwt(ws, bytes, { nonce: usedNonce }));
  }
  type Case = [string, () => Promise<{ bytes: Uint8Array; token: string }>, string];
  const tx = async (tweak?: (r: TransactionSignRequest) => void, jwt: Parameters<typeof submissionJwt>[2] = {}, o: Parameters<typeof ethRequest>[0] = {}) => {
    const { bytes } = ethRequest({ ...o, ...(tweak ? { tweak } : {}) });
    return { bytes, token: await submissionJwt(ws, bytes, jwt) };
  };
  const cases: Case[] = [
    ['bad signature', async () => tx(undefined, { key: other.privateKey }), 'ERR_TOKEN_SIGNATURE'],
    ['untrusted workspace', async () => tx(undefined, { issuer: 'cosigner-sim/evil' }), 'ERR_WORKSPACE_UNTRUSTED'],
    ['replayed nonce', async () => tx(undefined, { nonce: usedNonce }), 'ERR_NONCE_REPLAYED'],
    ['expired token', async () => tx(undefined, { iatS: now - 120, lifetimeS: 30 }), 'ERR_TOKEN_EXPIRED'],
    ['token lifetime over 30 s', async () => tx(undefined, { lifetimeS: 300 }), 'ERR_TOKEN_MALFORMED'],
    ['token over other bytes', async () => tx(undefined, { reqHash: 'ab'.repeat(32) }), 'ERR_REQUEST_HASH_MISMATCH'],
    ['API user unpaired', async () => tx(undefined, { apiUserId: 'u-unpaired' }, { apiUserId: 'u-unpaired' }), 'ERR_API_USER_NOT_PAIRED'],
    ['API user unknown', async () => tx(undefined, { apiUserId: 'nobody' }, { apiUserId: 'nobody' }), 'ERR_API_USER_NOT_PAIRED'],
    ['API user of another workspace', async () => tx(undefined, { apiUserId: 'u-other' }, { apiUserId: 'u-other' }), 'ERR_API_USER_WRONG_WORKSPACE'],
    ['token for another API user', async () => tx(undefined, { apiUserId: 'u-unpaired' }), 'ERR_API_USER_MISMATCH'],
    ['key of another workspace', async () => tx(undefined, {}, { keyId: 'key-other' }), 'ERR_KEY_WRONG_WORKSPACE'],
    ['unknown key', async () => tx(undefined, {}, { keyId: 'nokey' }), 'ERR_KEY_NOT_FOUND'],
    ['digest does not match raw tx', async () => tx((r) => { r.entries[0]!.payload = Buffer.alloc(32, 7); }), 'ERR_DIGEST_MISMATCH'],
    ['destination differs', async () => tx((r) => { r.details!.destAddress = '0x000000000000000000000000000000000000dead'; }), 'ERR_TX_FIELDS_MISMATCH'],
    ['amount differs', async () => tx((r) => { r.details!.amount = '5'; r.details!.destinations[0]!.amountNative = '5'; }), 'ERR_TX_FIELDS_MISMATCH'],
    ['chain id differs', async () => tx((r) => { r.details!.chainId = 1; }), 'ERR_TX_FIELDS_MISMATCH'],
    ['unknown algorithm', async () => tx((r) => { r.entries[0]!.algorithm = 'ALGORITHM_UNSPECIFIED'; }), 'ERR_UNKNOWN_ALGORITHM'],
    ['malformed path (hardened)', async () => tx((r) => { r.entries[0]!.path = [44 + 0x80000000, 60]; }), 'ERR_INVALID_PATH'],
    ['malformed path (too long)', async () => tx((r) => { r.entries[0]!.path = new Array(11).fill(1); }), 'ERR_INVALID_PATH'],
    ['digest of the wrong length', async () => tx((r) => { r.details!.asset = 'BTC'; r.entries[0]!.payload = Buffer.alloc(31, 1); }), 'ERR_DIGEST_LENGTH'],
    ['algorithm differs from the key', async () => tx((r) => { r.details!.asset = 'SOL'; r.entries[0]!.algorithm = 'EDDSA_ED25519'; }), 'ERR_ALGORITHM_MISMATCH'],
    ['expired request', async () => tx(undefined, {}, { expiresAtMs: Date.now() - 1000 }), 'ERR_REQUEST_EXPIRED'],
    ['malformed request id', async () => tx(undefined, {}, { requestId: 'a.b' }), 'ERR_INVALID_REQUEST_ID'],
    ['bytes that do not decode', async () => {
      const bytes = Buffer.from([0xff, 0xff, 0xff]);
      return { bytes, token: await submissionJwt(ws, bytes) };
    }, 'ERR_MALFORMED_REQUEST'],
    ['alg none', async () => {
      const { bytes } = ethRequest();
      const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
      return { bytes, token: `${b64({ alg: 'none' })}.${b64({ iss: 'cosigner-sim/ws1', sub: 'u1' })}.` };
    }, 'ERR_TOKEN_ALG'],
  ];
  const before = await streamMessages();
  for (const [name, make, code] of cases) {
    const { bytes, token } = await make();
    await assert.rejects(submitTx(client, bytes, token), (e: { code?: string }) => {
      assert.equal(e.code, code, name);
      return true;
    }, name);
  }
  // EdDSA with an empty message is a wrong-length payload too.
  {
    const { bytes } = ethRequest({ keyId: 'key-ed', tweak: (r) => { r.details!.asset = 'SOL'; r.entries[0]!.algorithm = 'EDDSA_ED25519'; r.entries[0]!.payload = Buffer.alloc(0); } });
    await refusedWith(submitTx(client, bytes, await submissionJwt(ws, bytes)), 'ERR_DIGEST_LENGTH');
  }
  assert.equal(await streamMessages(), before, 'nothing published for refused submissions');
  // An EdDSA message for a non-ETH asset is taken as given.
  const { bytes } = ethRequest({ keyId: 'key-ed', tweak: (r) => { r.details!.asset = 'SOL'; r.entries[0]!.algorithm = 'EDDSA_ED25519'; r.entries[0]!.rawTx = Buffer.alloc(0); r.entries[0]!.payload = Buffer.from('any message'); } });
  assert.equal((await submitTx(client, bytes, await submissionJwt(ws, bytes))).created, true);
});

test('idempotency: same id + same body returns the request, another body is ALREADY_EXISTS', async () => {
  const id = randomUUID();
  const a = ethRequest({ requestId: id });
  const r1 = await submitTx(client, a.bytes, await submissionJwt(ws, a.bytes));
  assert.equal(r1.created, true);
  const r2 = await submitTx(client, a.bytes, await submissionJwt(ws, a.bytes));
  assert.equal(r2.created, false);
  assert.equal(r2.state?.requestId, id);
  const b = ethRequest({ requestId: id, amountEth: '0.02' });
  await refusedWith(submitTx(client, b.bytes, await submissionJwt(ws, b.bytes)), 'ERR_ALREADY_EXISTS');
  await waitFor(client, id, (s) => s.status === 'RECEIVED');
  await refusedWith(submitTx(client, b.bytes, await submissionJwt(ws, b.bytes)), 'ERR_ALREADY_EXISTS');
  assert.equal((await submitTx(client, a.bytes, await submissionJwt(ws, a.bytes))).created, false);
});

test('1000 duplicate submissions of one id give one request', async () => {
  const id = randomUUID();
  const { bytes } = ethRequest({ requestId: id });
  const token = await submissionJwt(ws, bytes);
  const before = await streamMessages();
  const results = await Promise.all(Array.from({ length: 1000 }, () => submitTx(client, bytes, token)));
  assert.equal(results.filter((r) => r.created).length, 1);
  assert.ok(results.every((r) => r.state?.requestId === id));
  assert.equal(await streamMessages(), before + 1);
});

test('a config change is admitted; an unknown type is refused', async () => {
  const { bytes, request } = configChange();
  const r = await submitCc(client, bytes, await submissionJwt(ws, bytes));
  assert.equal(r.created, true);
  assert.equal(r.state?.kind, 'CONFIG_CHANGE');
  await waitFor(client, request.requestId, (s) => s.status === 'RECEIVED');
  const bad = configChange({ type: 'NOT_A_TYPE' });
  await refusedWith(submitCc(client, bad.bytes, await submissionJwt(ws, bad.bytes)), 'ERR_MALFORMED_REQUEST');
});

test('a request still unsigned at its expiry ends FAILED (ERR_EXPIRED)', async () => {
  const { bytes, request } = ethRequest({ expiresAtMs: Date.now() + 1500 });
  await submitTx(client, bytes, await submissionJwt(ws, bytes));
  const s = await waitFor(client, request.requestId, (x) => x.status === 'FAILED', 10_000);
  assert.equal(s.errorCode, 'ERR_EXPIRED');
});

test('cancel before signing ends FAILED (ERR_CANCELLED); a second cancel is refused', async () => {
  const { bytes, request } = ethRequest();
  await submitTx(client, bytes, await submissionJwt(ws, bytes));
  await waitFor(client, request.requestId, (s) => s.status === 'RECEIVED');
  const c = CancelRequest.encode({ requestId: request.requestId, workspaceId: 'ws1', apiUserId: 'u1', reason: 'changed my mind' }).finish();
  const res = await unary(client, 'cancelRequest', { request: Buffer.from(c), authorization: await submissionJwt(ws, c) });
  assert.equal(res.status, 'FAILED');
  const s = await waitFor(client, request.requestId, (x) => x.status === 'FAILED');
  assert.equal(s.errorCode, 'ERR_CANCELLED');
  await refusedWith(unary(client, 'cancelRequest', { request: Buffer.from(c), authorization: await submissionJwt(ws, c) }), 'ERR_NOT_CANCELLABLE');
});

test('status survives an intake restart', async () => {
  const { bytes, request } = ethRequest();
  await submitTx(client, bytes, await submissionJwt(ws, bytes));
  await waitFor(client, request.requestId, (s) => s.status === 'RECEIVED');
  closeClient(client);
  await intake.stop();
  intake = await startIntake({
    natsUrl: nats.url, port: 0, adminTokens: [ADMIN_TOKEN], trust: parseTrustConfig(ws.trustJson), sweepIntervalMs: 200,
    log: createLogger({ service: 'request-intake', level: 'error' }),
  });
  client = intakeClient(intake.address);
  const g = await unary(client, 'getRequest', { requestId: request.requestId });
  assert.equal(g.status, 'RECEIVED');
  void jose;
});
