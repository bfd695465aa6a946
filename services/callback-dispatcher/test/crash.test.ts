/**
 * Two dispatcher processes share the consumer; the one holding a request is killed (SIGKILL)
 * mid-callback. After the (short) ack wait the other one takes the request over; it completes
 * exactly once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { closeClient, createLogger } from '@cosigner/platform';
import { spawnNode, startNats, type NatsServerHandle, type NodeProcess } from '@cosigner/platform/testing';
import { parseTrustConfig } from '@cosigner/trust';
import { verifyAuditChain } from '@cosigner/audit';
import { startIntake, type IntakeHandle } from '@cosigner/request-intake';
import type { RequestIntakeServiceClient } from '@cosigner/proto';
import {
  ADMIN_TOKEN, cosignerKeys, ethRequest, intakeClient, makeWorkspace, seedApiUser, seedKey, submissionJwt, submitTx, waitFor, type Workspace,
} from '../../request-intake/test/fixtures.ts';
import { startTestHandler, type TestHandler } from './handler.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
let nats: NatsServerHandle;
let nc: NatsConnection;
let intake: IntakeHandle;
let client: RequestIntakeServiceClient;
let ws: Workspace;
let handler: TestHandler;
const procs = new Map<string, NodeProcess>();

before(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  ws = await makeWorkspace();
  const keys = cosignerKeys();
  const dir = await mkdtemp(join(tmpdir(), 'dispatch-crash-'));
  await writeFile(join(dir, 'callback.pem'), keys.callbackPrivatePem);
  await writeFile(join(dir, 'approval.pem'), keys.approvalPrivatePem);
  intake = await startIntake({ natsUrl: nats.url, port: 0, adminTokens: [ADMIN_TOKEN], trust: parseTrustConfig(ws.trustJson), log: createLogger({ service: 'request-intake', level: 'error' }) });
  client = intakeClient(intake.address);
  handler = await startTestHandler(keys.callbackPublicPem);
  await seedKey(nc, 'key1');
  await seedApiUser(nc, 'u-cb', { callback: { url: handler.url, mode: 'JWT', publicKeyPem: handler.publicKeyPem, certPem: '', updatedAtMs: 0 } });
  for (const id of ['d1', 'd2']) {
    const p = spawnNode(MAIN, {
      env: {
        NATS_URL: nats.url, COSIGNER_CALLBACK_KEY_FILE: join(dir, 'callback.pem'), COSIGNER_APPROVAL_KEY_FILE: join(dir, 'approval.pem'),
        DISPATCHER_INSTANCE_ID: id, DISPATCHER_ACK_WAIT_MS: '1500', CALLBACK_DEADLINE_MS: '20000', OTEL_SDK_DISABLED: 'true', COSIGNER_CALLBACK_ALLOW: 'loopback',
        COSIGNER_TRUST: ws.trustJson,
      },
    });
    procs.set(id, p);
    await p.waitForOutput(/dispatching callbacks/);
  }
});

after(async () => {
  for (const p of procs.values()) await p.kill9().catch(() => undefined);
  closeClient(client);
  await intake?.stop();
  await handler?.close();
  await nc?.close();
  await nats?.stop();
});

test('a dispatcher killed mid-callback: the other one completes the request, once', async () => {
  const r = ethRequest({ apiUserId: 'u-cb' });
  const id = r.request.requestId;
  // First ask hangs (the holder is killed meanwhile); the next one approves.
  handler.set(id, { sequence: [{ delayMs: 60_000 }, { action: 'APPROVE' }] });
  const approvals: string[] = [];
  const sub = nc.subscribe(`cosigner.requests.approved.${id}`);
  void (async () => { for await (const m of sub) approvals.push(m.subject); })();
  await submitTx(client, r.bytes, await submissionJwt(ws, r.bytes, { apiUserId: 'u-cb' }));
  const first = await handler.asked(id, 1);
  const holder = /\((d[12])\)/.exec(first[0]!.userAgent)?.[1];
  assert.ok(holder, `user agent names the instance: ${first[0]!.userAgent}`);
  const tKill = Date.now();
  await procs.get(holder)!.kill9();
  const s = await waitFor(client, id, (x) => x.status !== 'RECEIVED', 20_000);
  assert.equal(s.status, 'APPROVED');
  process.stderr.write(`takeover after ${Date.now() - tKill} ms\n`);
  const seen = await handler.asked(id, 2);
  const other = holder === 'd1' ? 'd2' : 'd1';
  assert.match(seen[1]!.userAgent, new RegExp(`\\(${other}\\)`));
  await new Promise((res) => setTimeout(res, 500));
  sub.unsubscribe();
  assert.equal(approvals.length, 1, 'approved exactly once');
  assert.equal((await verifyAuditChain(nc)).ok, true);
});
