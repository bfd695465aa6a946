/**
 * Egress guard (issue 15 item 7): callbacks to loopback, link-local, private, multicast or the
 * co-signer's own listeners are refused unless allow-listed, the check is made on the address
 * connected to (names go through the guard's lookup), and failure reasons do not tell what
 * answered. Real nats-server, intake, dispatcher and HTTP / TCP servers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { RequestIntakeServiceClient } from '@cosigner/proto';
import { closeClient, createLogger } from '@cosigner/platform';
import { startNats, type NatsServerHandle } from '@cosigner/platform/testing';
import { parseTrustConfig } from '@cosigner/trust';
import { startIntake, type IntakeHandle } from '@cosigner/request-intake';
import { EgressGuard } from '../src/egress.ts';
import { startDispatcher, type DispatcherHandle } from '../src/index.ts';
import {
  ADMIN_TOKEN, cosignerKeys, ethRequest, intakeClient, makeWorkspace, seedApiUser, seedKey, submissionJwt, submitTx, waitFor,
  type CosignerKeys, type Workspace,
} from '../../request-intake/test/fixtures.ts';
import { startTestHandler, type TestHandler } from './handler.ts';

const quiet = (service: string) => createLogger({ service, level: 'error' });

test('classification: non-public ranges refused, public allowed, allow-list and own listeners', () => {
  const g = new EgressGuard({ allow: [], ownListeners: [] });
  for (const ip of [
    '127.0.0.1', '127.9.9.9', '0.0.0.0', '10.1.2.3', '172.16.0.1', '172.31.255.254', '192.168.1.1', '100.64.0.1', '169.254.169.254',
    '224.0.0.1', '239.255.255.250', '255.255.255.255', '198.18.0.1', '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1',
    '::ffff:127.0.0.1', '::ffff:169.254.169.254', '::ffff:10.0.0.1', '64:ff9b::a9fe:a9fe', '2002:a9fe:a9fe::1', 'not-an-ip',
  ]) assert.equal(g.allows(ip, 80), false, ip);
  for (const ip of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) assert.equal(g.allows(ip, 443), true, ip);
  const a = new EgressGuard({ allow: ['loopback', '10.1.0.0/16'], ownListeners: ['*:4222', '127.0.0.1:50052', '[::1]:7000'] });
  assert.equal(a.allows('127.0.0.1', 8080), true);
  assert.equal(a.allows('::1', 8080), true);
  assert.equal(a.allows('10.1.200.3', 80), true);
  assert.equal(a.allows('10.2.0.1', 80), false);
  assert.equal(a.allows('169.254.169.254', 80), false);
  // Own listeners stay refused inside an allow-listed range, and on public addresses too.
  assert.equal(a.allows('127.0.0.1', 4222), false);
  assert.equal(a.allows('8.8.8.8', 4222), false);
  assert.equal(a.allows('127.0.0.1', 50052), false);
  assert.equal(a.allows('127.0.0.2', 50052), true);
  assert.equal(a.allows('::1', 7000), false);
  for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.0/8/1', '1.2.3.4/x']) assert.throws(() => new EgressGuard({ allow: [bad], ownListeners: [] }), bad);
  assert.throws(() => new EgressGuard({ allow: [], ownListeners: ['4222'] }));
});

let nats: NatsServerHandle;
let nc: NatsConnection;
let intake: IntakeHandle;
let dispatcher: DispatcherHandle | undefined;
let client: RequestIntakeServiceClient;
let ws: Workspace;
let keys: CosignerKeys;
let handler: TestHandler;
let n = 0;

before(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  ws = await makeWorkspace();
  keys = cosignerKeys();
  intake = await startIntake({ natsUrl: nats.url, port: 0, adminTokens: [ADMIN_TOKEN], trust: parseTrustConfig(ws.trustJson), log: quiet('request-intake') });
  client = intakeClient(intake.address);
  handler = await startTestHandler(keys.callbackPublicPem);
  await seedKey(nc, 'key1');
});

after(async () => {
  closeClient(client);
  await dispatcher?.stop();
  await intake?.stop();
  await handler?.close();
  await nc?.close();
  await nats?.stop();
});

async function useDispatcher(callbackAllow: string[], ownListeners: string[] = []): Promise<void> {
  await dispatcher?.stop();
  dispatcher = await startDispatcher({
    natsUrl: nats.url, callbackKeyPem: keys.callbackPrivatePem, approvalKeyPem: keys.approvalPrivatePem, trust: parseTrustConfig(ws.trustJson),
    deadlineMs: 1200, configRetryMs: 300, callbackAllow, ownListeners, log: quiet('callback-dispatcher'),
  });
}

/** Submits one ETH transfer for a fresh API user whose handler is `url`; resolves with its final state. */
async function viaCallback(url: string) {
  const apiUserId = `u-egress-${++n}`;
  await seedApiUser(nc, apiUserId, { callback: { url, mode: 'JWT', publicKeyPem: handler.publicKeyPem, certPem: '', updatedAtMs: 0 } });
  const r = ethRequest({ apiUserId });
  await submitTx(client, r.bytes, await submissionJwt(ws, r.bytes, { apiUserId }));
  return { id: r.request.requestId, state: await waitFor(client, r.request.requestId, (x) => x.status !== 'RECEIVED') };
}

const port = (u: string) => new URL(u).port;

test('no allow-list: loopback (by address, by name, IPv4-mapped), metadata and private addresses are never dialled', async () => {
  await useDispatcher([]);
  const p = port(handler.url);
  for (const url of [`http://127.0.0.1:${p}`, `http://localhost:${p}`, `http://[::ffff:127.0.0.1]:${p}`, `http://[::1]:${p}`, 'http://169.254.169.254', 'http://10.0.0.1:8080', 'http://224.0.0.1']) {
    const { id, state } = await viaCallback(url);
    assert.equal(state.status, 'FAILED', url);
    assert.equal(state.errorCode, 'ERR_CALLBACK_FAILED', url);
    assert.match(state.reason, /ERR_CALLBACK_DESTINATION/, url);
    assert.doesNotMatch(state.reason, /127\.0\.0\.1|169\.254|ECONN|HTTP \d/, url);
    assert.equal(handler.seen.has(id), false, `${url} was called`);
  }
});

test('allow-list names loopback: the handler is called; the co-signer\'s own listeners still are not', async () => {
  await useDispatcher(['loopback'], [`127.0.0.1:${intake.address.split(':').pop()}`]);
  const ok = await viaCallback(handler.url);
  assert.equal(ok.state.status, 'APPROVED');
  assert.equal(handler.seen.get(ok.id)?.length, 1);
  const natsPort = new URL(nats.url).port;
  for (const url of [`http://127.0.0.1:${natsPort}`, `http://localhost:${natsPort}`, `http://${intake.address}`]) {
    const { state } = await viaCallback(url);
    assert.equal(state.status, 'FAILED', url);
    assert.match(state.reason, /ERR_CALLBACK_DESTINATION/, url);
  }
});

test('failure reasons do not tell a closed port from an open one that says nothing or hangs up', async () => {
  await useDispatcher(['loopback']);
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const silent = net.createServer(() => undefined);
  const hangup = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => hangup.listen(0, '127.0.0.1', r));
  try {
    const reasons: string[] = [];
    for (const p of [closedPort, (silent.address() as AddressInfo).port, (hangup.address() as AddressInfo).port]) {
      const { state } = await viaCallback(`http://127.0.0.1:${p}`);
      assert.equal(state.status, 'FAILED');
      // Only the number of tries may differ (it depends on timing, not on what answered).
      reasons.push(state.reason.replace(/\d+ tries/, 'N tries').replace(/ \(x\d+\)/g, ''));
    }
    assert.match(reasons[0]!, /ERR_CALLBACK_UNREACHABLE/);
    assert.equal(new Set(reasons).size, 1, reasons.join('\n'));
  } finally {
    silent.close();
    hangup.close();
  }
});
