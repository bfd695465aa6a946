import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import * as jose from 'jose';
import { getAddress } from 'viem';
import { ApprovalProof, RequestApproved, type RequestIntakeServiceClient } from '@cosigner/proto';
import { closeClient, createLogger } from '@cosigner/platform';
import { startNats, type NatsServerHandle } from '@cosigner/platform/testing';
import { parseTrustConfig } from '@cosigner/trust';
import { verifyApproval } from '@cosigner/party';
import { verifyAuditChain } from '@cosigner/audit';
import { startIntake, type IntakeHandle } from '@cosigner/request-intake';
import { startDispatcher, type DispatcherHandle } from '../src/index.ts';
import {
  ADMIN_TOKEN, DEST, configChange, cosignerKeys, ethRequest, intakeClient, makeWorkspace, seedApiUser, seedKey, submissionJwt, submitCc, submitTx, waitFor,
  type CosignerKeys, type Workspace,
} from '../../request-intake/test/fixtures.ts';
import { startTestHandler, type TestHandler } from './handler.ts';

let nats: NatsServerHandle;
let nc: NatsConnection;
let intake: IntakeHandle;
let dispatcher: DispatcherHandle;
let client: RequestIntakeServiceClient;
let ws: Workspace;
let keys: CosignerKeys;
let handler: TestHandler;
let sub: Subscription;
const approved = new Map<string, Uint8Array>();
const quiet = (service: string) => createLogger({ service, level: 'error' });

before(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  ws = await makeWorkspace();
  keys = cosignerKeys();
  intake = await startIntake({ natsUrl: nats.url, port: 0, adminTokens: [ADMIN_TOKEN], trust: parseTrustConfig(ws.trustJson), log: quiet('request-intake') });
  dispatcher = await startDispatcher({
    natsUrl: nats.url, callbackKeyPem: keys.callbackPrivatePem, approvalKeyPem: keys.approvalPrivatePem, trust: parseTrustConfig(ws.trustJson),
    deadlineMs: 2000, retryIntervalMs: 300, maxRetries: 3, configRetryMs: 300, callbackAllow: ['loopback'], log: quiet('callback-dispatcher'),
  });
  client = intakeClient(intake.address);
  handler = await startTestHandler(keys.callbackPublicPem);
  await seedKey(nc, 'key1');
  await seedApiUser(nc, 'u-auto');
  await seedApiUser(nc, 'u-cb', { callback: { url: handler.url, mode: 'JWT', publicKeyPem: handler.publicKeyPem, certPem: '', updatedAtMs: 0 } });
  await seedApiUser(nc, 'u-badcfg', { callback: { url: handler.url, mode: 'JWT', publicKeyPem: 'not a pem', certPem: '', updatedAtMs: 0 } });
  sub = nc.subscribe('cosigner.requests.approved.>');
  void (async () => {
    for await (const m of sub) approved.set(m.subject.split('.')[3]!, m.data);
  })();
});

after(async () => {
  sub?.unsubscribe();
  closeClient(client);
  await dispatcher?.stop();
  await intake?.stop();
  await handler?.close();
  await nc?.close();
  await nats?.stop();
});

async function submitEth(apiUserId: string) {
  const { bytes, request } = ethRequest({ apiUserId });
  await submitTx(client, bytes, await submissionJwt(ws, bytes, { apiUserId }));
  return request;
}

const approvalKey = () => createPublicKey(keys.approvalPublicPem);

test('no handler configured: auto-approve with a proof the signing parties accept', async () => {
  const r = await submitEth('u-auto');
  const s = await waitFor(client, r.requestId, (x) => x.status !== 'RECEIVED');
  assert.equal(s.status, 'APPROVED');
  for (let i = 0; i < 50 && !approved.has(r.requestId); i++) await new Promise((res) => setTimeout(res, 20));
  const v = verifyApproval(approved.get(r.requestId)!, approvalKey(), Date.now());
  assert.equal(v.proof.decision, 'APPROVE');
  assert.equal(v.proof.handlerUrl, '');
  assert.equal(v.proof.apiUserId, 'u-auto');
});

test('JWT handler approves: text/plain RS256 request, text/html reply accepted, reply in the proof', async () => {
  const r = await submitEth('u-cb');
  const s = await waitFor(client, r.requestId, (x) => x.status !== 'RECEIVED');
  assert.equal(s.status, 'APPROVED');
  const seen = handler.seen.get(r.requestId)!;
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.path, '/v2/tx_sign_request');
  assert.match(seen[0]!.contentType, /^text\/plain/);
  const hdr = jose.decodeProtectedHeader(seen[0]!.body);
  assert.deepEqual(hdr, { typ: 'JWT', alg: 'RS256' });
  const p = seen[0]!.payload;
  assert.equal(p.requestId, r.requestId);
  assert.equal(p.asset, 'ETH');
  assert.equal(p.amount, 0.01);
  assert.equal(p.signerId, 'u-cb');
  // Field formats as the public product sends them (issue 15 item 8).
  assert.equal(p.destType, 'UNMANAGED', 'ONE_TIME_ADDRESS is not a documented destType');
  assert.equal(p.amountStr, '0.010000000000000000', 'amountStr with the asset\'s 18 decimals');
  assert.equal(p.requestedAmountStr, '0.01');
  assert.equal(p.fee, '0.000630000000000000');
  assert.equal(p.destAddress, getAddress(DEST), 'destAddress EIP-55 checksummed');
  assert.equal(p.destAddressType, 'ONE_TIME');
  const d0 = (p.destinations as Array<Record<string, unknown>>)[0]!;
  assert.equal(d0.dstType, 'UNMANAGED');
  assert.equal(d0.amountNativeStr, '0.01');
  const raw = (p.rawTx as Array<{ rawTx: string; payload: string; keyDerivationPath: string }>)[0]!;
  assert.equal(raw.keyDerivationPath, '[ 44, 60, 0, 0, 0 ]');
  assert.equal(raw.payload, Buffer.from(r.entries[0]!.payload).toString('hex'));
  for (let i = 0; i < 50 && !approved.has(r.requestId); i++) await new Promise((res) => setTimeout(res, 20));
  const v = verifyApproval(approved.get(r.requestId)!, approvalKey(), Date.now());
  assert.equal(v.proof.handlerUrl, `${handler.url}/v2/tx_sign_request`);
  const reply = jose.decodeJwt(v.proof.handlerReply);
  assert.equal(reply.action, 'APPROVE');
});

test('REJECT with a reason ends REJECTED with that reason', async () => {
  const r = ethRequest({ apiUserId: 'u-cb' });
  handler.set(r.request.requestId, { action: 'REJECT', rejectionReason: 'destination not allow-listed' });
  await submitTx(client, r.bytes, await submissionJwt(ws, r.bytes, { apiUserId: 'u-cb' }));
  const s = await waitFor(client, r.request.requestId, (x) => x.status !== 'RECEIVED');
  assert.equal(s.status, 'REJECTED');
  assert.equal(s.reason, 'destination not allow-listed');
});

test('RETRY then APPROVE: asked again later with the identical payload', async () => {
  const r = ethRequest({ apiUserId: 'u-cb' });
  handler.set(r.request.requestId, { sequence: [{ action: 'RETRY' }, { action: 'RETRY' }, { action: 'APPROVE' }] });
  await submitTx(client, r.bytes, await submissionJwt(ws, r.bytes, { apiUserId: 'u-cb' }));
  const s = await waitFor(client, r.request.requestId, (x) => x.status !== 'RECEIVED');
  assert.equal(s.status, 'APPROVED');
  const seen = handler.seen.get(r.request.requestId)!;
  assert.equal(seen.length, 3);
  assert.ok(seen.every((x) => x.body === seen[0]!.body), 'identical request each time');
  assert.ok(seen[1]!.at - seen[0]!.at >= 250, 'asked again after the retry interval');
});

test('RETRY beyond the maximum ends FAILED', async () => {
  const r = ethRequest({ apiUserId: 'u-cb' });
  handler.set(r.request.requestId, { action: 'RETRY' });
  await submitTx(client, r.bytes, await submissionJwt(ws, r.bytes, { apiUserId: 'u-cb' }));
  const s = await waitFor(client, r.request.requestId, (x) => x.status !== 'RECEIVED');
  assert.equal(s.status, 'FAILED');
  assert.equal(s.errorCode, 'ERR_CALLBACK_RETRIES_EXHAUSTED');
});

for (const [name, b, reason] of [
  ['handler timeout', { delayMs: 5000 }, /ERR_CALLBACK_UNREACHABLE/],
  ['wrong requestId', { requestId: 'someone-else' }, /REQUEST_ID/],
  ['bad signature', { badSignature: true }, /SIGNATURE/],
  ['non-200', { status: 500 }, /ERR_CALLBACK_STATUS/],
  ['unknown action', { action: 'MAYBE' }, /ACTION/],
  ['IGNORE for a transaction', { action: 'IGNORE' }, /ACTION/],
] as const) {
  test(`${name}: FAILED with a reason, never approved`, async () => {
    const r = ethRequest({ apiUserId: 'u-cb' });
    handler.set(r.request.requestId, b);
    await submitTx(client, r.bytes, await submissionJwt(ws, r.bytes, { apiUserId: 'u-cb' }));
    const s = await waitFor(client, r.request.requestId, (x) => x.status !== 'RECEIVED');
    assert.equal(s.status, 'FAILED');
    assert.equal(s.errorCode, 'ERR_CALLBACK_FAILED');
    assert.match(s.reason, reason);
    assert.match(s.reason, /\d+ tries/);
    assert.equal(approved.has(r.request.requestId), false);
  });
}

test('config change: approved (terminal) and ignored', async () => {
  const a = configChange({ apiUserId: 'u-cb' });
  await submitCc(client, a.bytes, await submissionJwt(ws, a.bytes, { apiUserId: 'u-cb' }));
  const sa = await waitFor(client, a.request.requestId, (x) => x.status !== 'RECEIVED');
  assert.equal(sa.status, 'APPROVED');
  assert.equal(handler.seen.get(a.request.requestId)![0]!.path, '/v2/config_change_sign_request');
  assert.equal(handler.seen.get(a.request.requestId)![0]!.payload.type, 'UNMANAGED_WALLET');
  const i = configChange({ apiUserId: 'u-cb' });
  handler.set(i.request.requestId, { action: 'IGNORE' });
  await submitCc(client, i.bytes, await submissionJwt(ws, i.bytes, { apiUserId: 'u-cb' }));
  const si = await waitFor(client, i.request.requestId, (x) => x.status !== 'RECEIVED');
  assert.equal(si.status, 'IGNORED');
  const proof = ApprovalProof.decode(RequestApproved.decode(approved.get(a.request.requestId)!).proof);
  assert.equal(proof.digests.length, 0);
});

test('a callback config that cannot be read fails closed: the request waits', async () => {
  const r = await submitEth('u-badcfg');
  await new Promise((res) => setTimeout(res, 1500));
  const s = await waitFor(client, r.requestId, () => true);
  assert.equal(s.status, 'RECEIVED');
  // Fixing the config lets it through.
  await seedApiUser(nc, 'u-badcfg', { callback: { url: handler.url, mode: 'JWT', publicKeyPem: handler.publicKeyPem, certPem: '', updatedAtMs: 0 } });
  const s2 = await waitFor(client, r.requestId, (x) => x.status !== 'RECEIVED');
  assert.equal(s2.status, 'APPROVED');
});

test('auto-approve is a setting: no handler and no explicit auto-approve waits, never approved', async () => {
  await seedApiUser(nc, 'u-noauto', { autoApprove: false });
  const r = await submitEth('u-noauto');
  await new Promise((res) => setTimeout(res, 1500));
  assert.equal((await waitFor(client, r.requestId, () => true)).status, 'RECEIVED');
  assert.equal(approved.has(r.requestId), false);
  // Saying so explicitly lets it through.
  await seedApiUser(nc, 'u-noauto', { autoApprove: true });
  assert.equal((await waitFor(client, r.requestId, (x) => x.status !== 'RECEIVED')).status, 'APPROVED');
});

test('clearing the callback while a request awaits its RETRY approves nothing (even with auto-approve on)', async () => {
  await seedApiUser(nc, 'u-retry-clear', { callback: { url: handler.url, mode: 'JWT', publicKeyPem: handler.publicKeyPem, certPem: '', updatedAtMs: 0 } });
  const r = ethRequest({ apiUserId: 'u-retry-clear' });
  const id = r.request.requestId;
  handler.set(id, { action: 'RETRY' });
  await submitTx(client, r.bytes, await submissionJwt(ws, r.bytes, { apiUserId: 'u-retry-clear' }));
  await handler.asked(id, 1);
  await seedApiUser(nc, 'u-retry-clear', { autoApprove: true });
  const s = await waitFor(client, id, (x) => x.status !== 'RECEIVED');
  assert.equal(s.status, 'FAILED');
  assert.equal(s.errorCode, 'ERR_CALLBACK_REMOVED');
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(approved.has(id), false);
});

test('RETRY survives a dispatcher restart (the retry lives in JetStream and KV, not in memory)', async () => {
  const r = ethRequest({ apiUserId: 'u-cb' });
  const id = r.request.requestId;
  handler.set(id, { sequence: [{ action: 'RETRY' }, { action: 'APPROVE' }] });
  await submitTx(client, r.bytes, await submissionJwt(ws, r.bytes, { apiUserId: 'u-cb' }));
  await handler.asked(id, 1);
  await dispatcher.stop();
  dispatcher = await startDispatcher({
    natsUrl: nats.url, callbackKeyPem: keys.callbackPrivatePem, approvalKeyPem: keys.approvalPrivatePem, trust: parseTrustConfig(ws.trustJson),
    deadlineMs: 2000, retryIntervalMs: 300, maxRetries: 3, configRetryMs: 300, callbackAllow: ['loopback'], log: quiet('callback-dispatcher'),
  });
  const s = await waitFor(client, id, (x) => x.status !== 'RECEIVED');
  assert.equal(s.status, 'APPROVED');
  assert.equal(handler.seen.get(id)!.length, 2);
});

test('TLS pinning mode: plain JSON over HTTPS to the pinned certificate; another certificate is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pin-'));
  const mk = (name: string) => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '2', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`)], { stdio: 'ignore' });
    return { cert: readFileSync(join(dir, `${name}.crt`), 'utf8'), key: readFileSync(join(dir, `${name}.key`), 'utf8') };
  };
  const good = mk('good');
  const other = mk('other');
  const bodies: Array<{ contentType: string; body: Record<string, unknown> }> = [];
  const server = https.createServer({ cert: good.cert, key: good.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      bodies.push({ contentType: req.headers['content-type'] ?? '', body });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ action: 'APPROVE', requestId: body.requestId }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    await seedApiUser(nc, 'u-tls', { callback: { url, mode: 'TLS', publicKeyPem: '', certPem: good.cert, updatedAtMs: 0 } });
    await seedApiUser(nc, 'u-tls-wrong', { callback: { url, mode: 'TLS', publicKeyPem: '', certPem: other.cert, updatedAtMs: 0 } });
    const a = await submitEth('u-tls');
    assert.equal((await waitFor(client, a.requestId, (x) => x.status !== 'RECEIVED')).status, 'APPROVED');
    assert.match(bodies[0]!.contentType, /^application\/json/);
    assert.equal(bodies[0]!.body.requestId, a.requestId);
    const b = await submitEth('u-tls-wrong');
    const sb = await waitFor(client, b.requestId, (x) => x.status !== 'RECEIVED');
    assert.equal(sb.status, 'FAILED');
    assert.match(sb.reason, /PIN/);
    assert.equal(bodies.length, 1, 'nothing was sent to a server that is not the pinned one');
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('the audit chain verifies and records every decision', async () => {
  const res = await verifyAuditChain(nc);
  assert.equal(res.ok, true, res.reason);
  assert.ok(res.records >= 10);
  void randomUUID;
});
