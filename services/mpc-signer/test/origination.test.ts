/**
 * Origination attacks (issue 12; DESIGN.md step 4, "a signature needs two proofs that no bus
 * message can forge"): a real nats-server, the dispatcher, mpc-signer (the customer's party) and
 * both cloud parties each their own process. The attacker publishes on the bus with whatever the
 * harness gives (the tests do not depend on the bus being open or closed), holds the dispatcher's
 * approval key where the attack says so, and in the last attacks has taken over the customer's
 * party (its sealed store, identity and shares): every cloud party must still refuse on its own.
 *
 * Each attack signed something before origination was carried and verified.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { ApiUser, RequestFailed, RequestReceived, TransactionSignRequest, type KeyInfo, type SessionStart } from '@cosigner/proto';
import { spawnNode, type NodeProcess } from '@cosigner/platform/testing';
import { startPartyFromEnv, type PartyError, type PartyProcess } from '@cosigner/party';
import { approvedEvent, submissionJwt, testTrustJson, testWorkspace, type TestWorkspace } from '../../../packages/party/test/helpers.ts';
import { startSystem, type System } from './system.ts';
import { countOn, waitEvent } from './util.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const DISPATCHER_MAIN = join(ROOT, 'services/callback-dispatcher/src/main.ts');

let s: System;
let dispatcher: NodeProcess;
let keyA: KeyInfo;
let keyB: KeyInfo;
const wsA = testWorkspace('ws1');
/** A key the co-signer does not trust, presented as workspace A's. */
const impostor: TestWorkspace = { ...testWorkspace('impostor'), issuer: wsA.issuer, workspaceId: 'ws1' };

before(async () => {
  s = await startSystem();
  const dir = mkdtempSync(join(tmpdir(), 'cosigner-origin-'));
  const cb = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const callbackKeyFile = join(dir, 'callback.pem');
  writeFileSync(callbackKeyFile, cb.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  dispatcher = spawnNode(DISPATCHER_MAIN, {
    env: {
      NATS_URL: s.nats.url, COSIGNER_CALLBACK_KEY_FILE: callbackKeyFile, COSIGNER_APPROVAL_KEY_FILE: s.ak.privateFile,
      COSIGNER_TRUST: testTrustJson(), CALLBACK_DEADLINE_MS: '1500', INSTANCE_ID: 'dispatcher-test',
    },
    echo: process.env.COSIGNER_TEST_ECHO === '1',
  });
  await dispatcher.waitForOutput(/"msg":"ready"/, 60_000);
  keyA = await s.call<KeyInfo>('createKey', { workspaceId: 'ws1', algorithm: 'EDDSA_ED25519', threshold: 0, keyId: '' });
  keyB = await s.call<KeyInfo>('createKey', { workspaceId: 'ws2', algorithm: 'EDDSA_ED25519', threshold: 0, keyId: '' });
  const users = await new Kvm(jetstream(s.nc)).create('cosigner-api-users', { history: 5 });
  const put = async (u: Omit<ApiUser, 'pairedAtMs' | 'revision'>) => users.put(u.apiUserId, ApiUser.encode({ ...u, pairedAtMs: Date.now(), revision: 0 }).finish());
  // u1, u2: no callback handler and auto-approve on, so the dispatcher approves by itself.
  // u-guarded: a handler that never answers, so none of its requests is ever approved.
  await put({ apiUserId: 'u1', workspaceId: 'ws1', state: 'ACTIVE', autoApprove: true });
  await put({ apiUserId: 'u2', workspaceId: 'ws2', state: 'ACTIVE', autoApprove: true });
  await put({
    apiUserId: 'u-guarded', workspaceId: 'ws1', state: 'ACTIVE', autoApprove: false,
    callback: { url: 'http://127.0.0.1:9/', mode: 'JWT', publicKeyPem: cb.publicKey.export({ type: 'spki', format: 'pem' }).toString(), certPem: '', updatedAtMs: 0 },
  });
});

after(async () => {
  await dispatcher?.kill9();
  await s?.stop();
});

function request(id: string, o: { workspaceId: string; apiUserId: string; key: KeyInfo }): { bytes: Uint8Array; request: TransactionSignRequest } {
  const r: TransactionSignRequest = {
    requestId: id, workspaceId: o.workspaceId, apiUserId: o.apiUserId, expiresAtMs: Date.now() + 10 * 60_000, details: undefined,
    entries: [{ keyId: o.key.keyId, path: [44, 501, 0, 0, 0], algorithm: 'EDDSA_ED25519', rawTx: Buffer.alloc(0), payload: Buffer.from(randomBytes(32)) }],
    players: [],
  };
  return { bytes: TransactionSignRequest.encode(r).finish(), request: r };
}

/** A `received` as intake publishes it, with envelope fields the attacker may change. */
function received(r: { bytes: Uint8Array; request: TransactionSignRequest }, authorization: string, envelope: Partial<RequestReceived> = {}): Uint8Array {
  return RequestReceived.encode({
    requestId: r.request.requestId, kind: 'TRANSACTION', workspaceId: r.request.workspaceId, apiUserId: r.request.apiUserId,
    request: Buffer.from(r.bytes), requestHash: createHash('sha256').update(r.bytes).digest(), receivedAtMs: Date.now(), expiresAtMs: r.request.expiresAtMs,
    authorization, ...envelope,
  }).finish();
}

async function publish(event: 'received' | 'approved', id: string, data: Uint8Array): Promise<void> {
  await s.js.publish(`cosigner.requests.${event}.${id}`, data, { msgID: `${id}:${event}` });
}

async function failedWith(id: string, code: string): Promise<void> {
  const ev = await waitEvent(s, id, 60_000);
  assert.equal(ev.kind, 'failed', `${id} was signed`);
  const f = RequestFailed.decode(ev.data);
  assert.equal(f.code, code, f.reason);
  assert.equal(await countOn(s, `cosigner.requests.signed.${id}`), 0);
}

test('baseline: a request the workspace signed, auto-approved by the dispatcher, is signed by the three parties', async () => {
  const r = request('origin-genuine', { workspaceId: 'ws1', apiUserId: 'u1', key: keyA });
  await publish('received', 'origin-genuine', received(r, submissionJwt(wsA, 'u1', r.bytes)));
  const ev = await waitEvent(s, 'origin-genuine', 60_000);
  assert.equal(ev.kind, 'signed', ev.kind === 'failed' ? RequestFailed.decode(ev.data).reason : '');
});

test('forged RequestReceived: without a workspace signature, or signed by a key the co-signer does not trust, the dispatcher approves nothing and no party signs', async () => {
  const none = request('forged-rx-unsigned', { workspaceId: 'ws1', apiUserId: 'u1', key: keyA });
  await publish('received', 'forged-rx-unsigned', received(none, ''));
  const imp = request('forged-rx-impostor', { workspaceId: 'ws1', apiUserId: 'u1', key: keyA });
  await publish('received', 'forged-rx-impostor', received(imp, submissionJwt(impostor, 'u1', imp.bytes)));
  await failedWith('forged-rx-unsigned', 'ERR_ORIGINATION_INVALID');
  await failedWith('forged-rx-impostor', 'ERR_ORIGINATION_INVALID');
  assert.equal(await countOn(s, 'cosigner.requests.approved.forged-rx-unsigned'), 0);
  assert.equal(await countOn(s, 'cosigner.requests.approved.forged-rx-impostor'), 0);
});

test('forged RequestApproved with a valid approval signature (the approval key holder): the customer party refuses, nothing is signed', async () => {
  const none = approvedEvent({ key: s.ak.privateKey, requestId: 'forged-ap-unsigned', workspaceId: 'ws1', signedBy: null, entries: [{ keyId: keyA.keyId, path: [], payload: Buffer.from(randomBytes(32)), algorithm: 'EDDSA_ED25519' }] });
  await publish('approved', 'forged-ap-unsigned', none.bytes);
  const imp = approvedEvent({ key: s.ak.privateKey, requestId: 'forged-ap-impostor', workspaceId: 'ws1', signedBy: impostor, entries: [{ keyId: keyA.keyId, path: [], payload: Buffer.from(randomBytes(32)), algorithm: 'EDDSA_ED25519' }] });
  await publish('approved', 'forged-ap-impostor', imp.bytes);
  await failedWith('forged-ap-unsigned', 'ERR_ORIGINATION_INVALID');
  await failedWith('forged-ap-impostor', 'ERR_ORIGINATION_INVALID');
});

test('workspace A signs a request for a key of workspace B: the dispatcher and the customer party refuse it', async () => {
  // The request names workspace B (whose key it uses); the signature is workspace A's.
  const r = request('cross-rx', { workspaceId: 'ws2', apiUserId: 'u2', key: keyB });
  await publish('received', 'cross-rx', received(r, submissionJwt(wsA, 'u2', r.bytes)));
  await failedWith('cross-rx', 'ERR_ORIGINATION_INVALID');
  // The same as an approval (the approval key holder colluding with workspace A).
  const ap = approvedEvent({ key: s.ak.privateKey, requestId: 'cross-ap', workspaceId: 'ws2', apiUserId: 'u2', signedBy: wsA, entries: [{ keyId: keyB.keyId, path: [], payload: Buffer.from(randomBytes(32)), algorithm: 'EDDSA_ED25519' }] });
  await publish('approved', 'cross-ap', ap.bytes);
  await failedWith('cross-ap', 'ERR_ORIGINATION_INVALID');
  // Workspace A names itself but B's key: the key's workspace decides.
  const own = approvedEvent({ key: s.ak.privateKey, requestId: 'cross-own', workspaceId: 'ws1', entries: [{ keyId: keyB.keyId, path: [], payload: Buffer.from(randomBytes(32)), algorithm: 'EDDSA_ED25519' }] });
  await publish('approved', 'cross-own', own.bytes);
  await failedWith('cross-own', 'ERR_WRONG_WORKSPACE');
});

test('API user substitution: a request the workspace signed for a guarded API user, relabelled as an auto-approved one, is never approved or signed', async () => {
  // The envelope names u1 (no handler: auto-approve); the workspace signed for u-guarded.
  const r = request('swap-rx', { workspaceId: 'ws1', apiUserId: 'u-guarded', key: keyA });
  await publish('received', 'swap-rx', received(r, submissionJwt(wsA, 'u-guarded', r.bytes), { apiUserId: 'u1' }));
  await failedWith('swap-rx', 'ERR_ORIGINATION_INVALID');
  // The bytes relabelled to u1, the workspace's signature for u-guarded kept: approved by the
  // approval key holder, refused by the customer party.
  const relabelled = approvedEvent({ key: s.ak.privateKey, requestId: 'swap-ap', workspaceId: 'ws1', apiUserId: 'u1', signedForApiUser: 'u-guarded', entries: [{ keyId: keyA.keyId, path: [], payload: Buffer.from(randomBytes(32)), algorithm: 'EDDSA_ED25519' }] });
  await publish('approved', 'swap-ap', relabelled.bytes);
  await failedWith('swap-ap', 'ERR_ORIGINATION_INVALID');
});

test('a compromised customer party (its store, identity and shares, its own trust list) holding the approval key: each cloud party refuses an unsigned, an impostor-signed, a cross-workspace and a relabelled request', async (t) => {
  await s.procs.customer!.kill9();
  // The attacker's trust list accepts the impostor as workspace A: its own checks pass.
  const attackerTrust = JSON.stringify([
    { issuer: wsA.issuer, workspaceId: 'ws1', jwks: { keys: [wsA.jwk, impostor.jwk] } },
    ...(JSON.parse(testTrustJson(['ws2'])) as unknown[]),
  ]);
  const evil: PartyProcess = await startPartyFromEnv({ env: { ...process.env, ...s.envOf('customer'), COSIGNER_TRUST: attackerTrust }, log: () => undefined });
  t.after(async () => {
    await evil.stop();
    await s.start('customer');
  });
  const attempts: { id: string; key: KeyInfo; bytes: Uint8Array }[] = [
    { id: 'evil-unsigned', key: keyA, bytes: approvedEvent({ key: s.ak.privateKey, requestId: 'evil-unsigned', workspaceId: 'ws1', signedBy: null, entries: [{ keyId: keyA.keyId, path: [], payload: Buffer.from(randomBytes(32)), algorithm: 'EDDSA_ED25519' }] }).bytes },
    { id: 'evil-impostor', key: keyA, bytes: approvedEvent({ key: s.ak.privateKey, requestId: 'evil-impostor', workspaceId: 'ws1', signedBy: impostor, entries: [{ keyId: keyA.keyId, path: [], payload: Buffer.from(randomBytes(32)), algorithm: 'EDDSA_ED25519' }] }).bytes },
    { id: 'evil-cross', key: keyB, bytes: approvedEvent({ key: s.ak.privateKey, requestId: 'evil-cross', workspaceId: 'ws2', apiUserId: 'u2', signedBy: wsA, entries: [{ keyId: keyB.keyId, path: [], payload: Buffer.from(randomBytes(32)), algorithm: 'EDDSA_ED25519' }] }).bytes },
    { id: 'evil-relabel', key: keyA, bytes: approvedEvent({ key: s.ak.privateKey, requestId: 'evil-relabel', workspaceId: 'ws1', apiUserId: 'u1', signedForApiUser: 'u-guarded', entries: [{ keyId: keyA.keyId, path: [], payload: Buffer.from(randomBytes(32)), algorithm: 'EDDSA_ED25519' }] }).bytes },
  ];
  for (const a of attempts) {
    const start: Omit<SessionStart, 'sessionId' | 'initiator' | 'deadlineMs' | 'traceparent'> = {
      kind: 'SIGN', keyId: a.key.keyId, parties: ['customer', 'cloud-1', 'cloud-2'], context: Buffer.from(a.bytes), workspaceId: a.key.workspaceId,
      algorithm: 'EDDSA_ED25519', threshold: 3, count: 0, entryIndex: 0, presignatureId: Buffer.alloc(0), requestId: a.id, epoch: 0,
    };
    // Through the attacker's own coordinator: refused (by the clouds, or by its own enclave
    // where no trust list makes the request verify).
    await assert.rejects(evil.node.coordinate(start), (e: PartyError) => e.code === 'ERR_ORIGINATION_INVALID');
    // Asking each cloud party directly, as the customer: each refuses by itself.
    for (const cloud of ['cloud-1', 'cloud-2']) {
      const out = await evil.node.transport.requestStart(cloud, { ...start, sessionId: Buffer.from(randomBytes(32)), initiator: 'customer', deadlineMs: Date.now() + 30_000, traceparent: '' }, 30_000);
      assert.equal(out.ok, false, `${cloud} joined ${a.id}`);
      assert.equal(out.code, 'ERR_ORIGINATION_INVALID', `${cloud}: ${out.reason}`);
    }
  }
});
