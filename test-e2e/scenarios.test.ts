/**
 * The whole system, every service its own process (the supervisor `cosigner up` uses), driven only
 * through its public contracts, one scenario per test, each signature verified independently
 * (secp256k1: viem's sender recovery and noble; secp256r1: noble; Ed25519: OpenSSL through
 * node:crypto):
 * auto-approve, approve, reject, RETRY then approve, handler timeout, handler down, config change
 * approved and ignored, two workspaces on one co-signer, secp256r1 and Ed25519 keys, 100 concurrent
 * requests, a storm of duplicate submissions.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, verify as nodeVerify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keccak256, recoverTransactionAddress, type Hex } from 'viem';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p256 } from '@noble/curves/nist.js';
import {
  KeyServiceClient, PairingServiceClient, RequestIntakeServiceClient, WorkspaceServiceClient,
  type ApiUser, type CosignerInfo, type KeyInfo, type PairingToken, type RequestState, type Transaction, type Workspace, type WorkspaceApiUser,
} from '@cosigner/proto';
import { startHandler, type HandlerRules, type RunningHandler } from '@cosigner/example-callback-handler';
import { freePort } from '@cosigner/platform/testing';
import { startSystem, type RunningSystem } from '../packages/cli/src/system.ts';
import { makeClient, unary } from '../packages/cli/src/grpc.ts';
import { DEMO_DESTINATION } from '../packages/cli/src/demo.ts';

const TERMINAL = new Set(['SIGNED', 'REJECTED', 'IGNORED', 'FAILED', 'APPROVED']);
/** The dispatcher's callback deadline here: a handler slower than this has failed its attempt. */
const CALLBACK_DEADLINE_MS = 3_000;


let sys: RunningSystem;
let dataDir: string;
let ws: WorkspaceServiceClient;
let pairing: PairingServiceClient;
let keys: KeyServiceClient;
let intake: RequestIntakeServiceClient;
let token: string;
let cosignerPublicKeyPem: string;
const handlers: RunningHandler[] = [];

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'cosigner-scenarios-'));
  sys = await startSystem({
    dataDir,
    ports: { nats: await freePort(), pairing: await freePort(), intake: await freePort(), keys: await freePort(), workspace: await freePort() },
    serviceEnv: { dispatcher: { CALLBACK_DEADLINE_MS: String(CALLBACK_DEADLINE_MS), CALLBACK_RETRY_INTERVAL_MS: '1000' } },
  });
  token = sys.config.adminToken;
  ws = makeClient(WorkspaceServiceClient, sys.config.workspaceUrl);
  pairing = makeClient(PairingServiceClient, sys.config.pairingUrl);
  keys = makeClient(KeyServiceClient, sys.config.keysUrl);
  intake = makeClient(RequestIntakeServiceClient, sys.config.intakeUrl);
  cosignerPublicKeyPem = (await unary<object, CosignerInfo>(pairing, 'getCosignerInfo', {}, { token })).callbackPublicKeyPem;
  wsA = await workspace('e2e-a');
});

after(async () => {
  for (const h of handlers) await h.close();
  for (const c of [ws, pairing, keys, intake]) c?.close();
  await sys?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function workspace(name: string): Promise<string> {
  return (await unary<object, Workspace>(ws, 'createWorkspace', { name }, { token })).workspaceId;
}

/** A paired API user of `workspaceId`: with the example handler under `rules`, a handler URL of its own, or auto-approve. */
async function apiUser(workspaceId: string, how: { rules?: HandlerRules; delayMs?: number; url?: string; autoApprove?: boolean }): Promise<string> {
  const u = await unary<object, WorkspaceApiUser>(ws, 'createApiUser', { workspaceId, name: 'e2e' }, { token });
  const pt = await unary<object, PairingToken>(ws, 'issuePairingToken', { apiUserId: u.apiUserId }, { token });
  const paired = await unary<object, ApiUser>(pairing, 'pair', { token: pt.token, autoApprove: how.autoApprove === true }, { token });
  if (how.autoApprove) return paired.apiUserId;
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let url = how.url;
  if (!url) {
    const h = await startHandler(
      { port: 0, host: '127.0.0.1', cosignerPublicKeyFile: '', privateKeyFile: '', rules: how.rules ?? {}, ...(how.delayMs ? { delayMs: how.delayMs } : {}) },
      { cosignerPublicKey: createPublicKey(cosignerPublicKeyPem), privateKey },
    );
    handlers.push(h);
    url = h.url;
  }
  await unary<object, ApiUser>(pairing, 'setCallback', { apiUserId: paired.apiUserId, url, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() }, { token });
  return paired.apiUserId;
}

const keyCache = new Map<string, KeyInfo>();
async function key(workspaceId: string, algorithm: 'ECDSA_SECP256K1' | 'ECDSA_SECP256R1' | 'EDDSA_ED25519'): Promise<KeyInfo> {
  const k = `${workspaceId}/${algorithm}`;
  let info = keyCache.get(k);
  if (!info) {
    info = await unary<object, KeyInfo>(keys, 'createKey', { workspaceId, algorithm, threshold: 0, keyId: '' }, { token, deadlineMs: 600_000 });
    keyCache.set(k, info);
  }
  return info;
}

async function transfer(apiUserId: string, keyId: string, o: { requestId?: string; nonce?: number; amountWei?: bigint; algorithm?: KeyInfo['algorithm']; expiresInS?: number } = {}): Promise<Transaction> {
  return unary<object, Transaction>(
    ws,
    'createTransfer',
    {
      apiUserId, keyId, path: [44, 60, 0, 0, (o.nonce ?? 0) % 7], to: DEMO_DESTINATION, amountWei: (o.amountWei ?? 10n ** 16n).toString(), chainId: 0,
      nonce: o.nonce ?? 0, note: 'e2e', externalTxId: '', expiresInS: o.expiresInS ?? 600, requestId: o.requestId ?? '', algorithm: o.algorithm ?? 'ECDSA_SECP256K1',
    },
    { token },
  );
}

/** Waits for the request's terminal state as intake reports it. */
async function settle(requestId: string, timeoutMs = 300_000): Promise<RequestState> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = await unary<object, RequestState>(intake, 'getRequest', { requestId }, { token });
    if (TERMINAL.has(s.status) && !(s.status === 'APPROVED' && s.kind === 'TRANSACTION')) return s;
    if (Date.now() > until) throw new Error(`request ${requestId} still ${s.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Every signature of a SIGNED transfer verified by a library that is not ours, under the key its path derives. */
async function verifySigned(tx: Transaction, st: RequestState): Promise<void> {
  assert.equal(st.status, 'SIGNED', `${st.errorCode} ${st.reason}`);
  assert.equal(st.signatures.length, 1);
  const sig = st.signatures[0]!;
  const digest = Buffer.from(keccak256(tx.rawTx as Hex).slice(2), 'hex');
  const want = await unary<object, { publicKey: Uint8Array }>(keys, 'getPublicKey', { keyId: sig.keyId, path: sig.path }, { token });
  assert.deepEqual(Buffer.from(sig.publicKey), Buffer.from(want.publicKey), 'signed under the key its path derives');
  if (sig.algorithm === 'EDDSA_ED25519') {
    const pk = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(sig.publicKey).toString('base64url') }, format: 'jwk' });
    assert.ok(nodeVerify(null, digest, pk, sig.signature), 'OpenSSL verifies the Ed25519 signature');
  } else if (sig.algorithm === 'ECDSA_SECP256R1') {
    assert.ok(p256.verify(sig.signature, digest, sig.publicKey, { prehash: false, lowS: true }), 'noble verifies the P-256 signature');
  } else {
    assert.ok(secp256k1.verify(sig.signature, digest, sig.publicKey, { prehash: false, lowS: true }), 'noble verifies the secp256k1 signature');
    const done = await unary<object, Transaction>(ws, 'getTransaction', { requestId: tx.requestId }, { token });
    const sender = await recoverTransactionAddress({ serializedTransaction: done.signedTx as `0x02${string}` });
    assert.equal(sender.toLowerCase(), done.from.toLowerCase(), 'viem recovers the sender from the signed transaction');
  }
}

let wsA: string;

test('auto-approve (explicit at pairing): signed', { timeout: 900_000 }, async () => {
  const u = await apiUser(wsA, { autoApprove: true });
  const k = await key(wsA, 'ECDSA_SECP256K1');
  const tx = await transfer(u, k.keyId);
  await verifySigned(tx, await settle(tx.requestId));
});

test('approve by the handler: signed', { timeout: 900_000 }, async () => {
  const u = await apiUser(wsA, { rules: { allowedDestinations: [DEMO_DESTINATION] } });
  const k = await key(wsA, 'ECDSA_SECP256K1');
  const tx = await transfer(u, k.keyId, { nonce: 1 });
  await verifySigned(tx, await settle(tx.requestId));
});

test('reject by the handler: REJECTED, nothing signed', { timeout: 900_000 }, async () => {
  const u = await apiUser(wsA, { rules: { maxAmount: { ETH: '0.001' } } });
  const k = await key(wsA, 'ECDSA_SECP256K1');
  const st = await settle((await transfer(u, k.keyId, { nonce: 2 })).requestId);
  assert.equal(st.status, 'REJECTED');
  assert.equal(st.signatures.length, 0);
});

test('RETRY, then approve when asked again: signed', { timeout: 900_000 }, async () => {
  const u = await apiUser(wsA, { rules: { retryFirst: true } });
  const k = await key(wsA, 'ECDSA_SECP256K1');
  const tx = await transfer(u, k.keyId, { nonce: 3 });
  await verifySigned(tx, await settle(tx.requestId));
});

test('handler slower than the deadline: FAILED, nothing signed', { timeout: 900_000 }, async () => {
  const u = await apiUser(wsA, { delayMs: CALLBACK_DEADLINE_MS + 2_000 });
  const k = await key(wsA, 'ECDSA_SECP256K1');
  const st = await settle((await transfer(u, k.keyId, { nonce: 4 })).requestId);
  assert.equal(st.status, 'FAILED');
  assert.equal(st.signatures.length, 0);
});

test('handler down: FAILED, nothing signed', { timeout: 900_000 }, async () => {
  const u = await apiUser(wsA, { url: `http://127.0.0.1:${await freePort()}` });
  const k = await key(wsA, 'ECDSA_SECP256K1');
  const st = await settle((await transfer(u, k.keyId, { nonce: 5 })).requestId);
  assert.equal(st.status, 'FAILED');
  assert.equal(st.signatures.length, 0);
});

test('config changes: approved and ignored as the handler says', { timeout: 900_000 }, async () => {
  const u = await apiUser(wsA, { rules: { approveConfigChanges: ['ADD_USER'], ignoreConfigChanges: ['EXCHANGE'] } });
  const approved = await unary<object, Transaction>(ws, 'createConfigChange', { apiUserId: u, type: 'ADD_USER', extraInfoJson: '{"user":"alice"}', expiresInS: 600, requestId: '' }, { token });
  const ignored = await unary<object, Transaction>(ws, 'createConfigChange', { apiUserId: u, type: 'EXCHANGE', extraInfoJson: '{}', expiresInS: 600, requestId: '' }, { token });
  assert.equal((await settle(approved.requestId)).status, 'APPROVED');
  assert.equal((await settle(ignored.requestId)).status, 'IGNORED');
});

test('two workspaces on one co-signer: each signs with its own key', { timeout: 900_000 }, async () => {
  const wsB = await workspace('e2e-b');
  const uB = await apiUser(wsB, { autoApprove: true });
  const kB = await key(wsB, 'ECDSA_SECP256K1');
  const tx = await transfer(uB, kB.keyId, { nonce: 6 });
  await verifySigned(tx, await settle(tx.requestId));
  const kA = await key(wsA, 'ECDSA_SECP256K1');
  assert.notEqual(Buffer.from(kA.publicKey).toString('hex'), Buffer.from(kB.publicKey).toString('hex'));
});

test('secp256r1 and Ed25519 keys: signed and verified', { timeout: 900_000 }, async () => {
  const u = await apiUser(wsA, { autoApprove: true });
  for (const alg of ['ECDSA_SECP256R1', 'EDDSA_ED25519'] as const) {
    const k = await key(wsA, alg);
    const tx = await transfer(u, k.keyId, { nonce: 7, algorithm: alg });
    await verifySigned(tx, await settle(tx.requestId));
  }
});

// 100 presignatures are made for this burst (about 1.2 s of CPU each across the three parties): the
// requests live long enough for a loaded 2-core machine.
test('100 concurrent requests: every one signed once and verified', { timeout: 2_400_000 }, async () => {
  const u = await apiUser(wsA, { autoApprove: true });
  const k = await key(wsA, 'ECDSA_SECP256K1');
  const txs = await Promise.all(Array.from({ length: 100 }, (_, i) => transfer(u, k.keyId, { nonce: 100 + i, expiresInS: 3_600 })));
  assert.equal(new Set(txs.map((t) => t.requestId)).size, 100);
  const states = await Promise.all(txs.map((t) => settle(t.requestId, 2_300_000)));
  for (const [i, st] of states.entries()) await verifySigned(txs[i]!, st);
  assert.equal(new Set(states.map((s) => Buffer.from(s.signatures[0]!.signature).toString('hex'))).size, 100);
});

test('a storm of duplicate submissions: one request, one signature', { timeout: 900_000 }, async () => {
  const u = await apiUser(wsA, { autoApprove: true });
  const k = await key(wsA, 'ECDSA_SECP256K1');
  const requestId = `storm-${Date.now()}`;
  const results = await Promise.allSettled(Array.from({ length: 50 }, () => transfer(u, k.keyId, { requestId, nonce: 9 })));
  const ok = results.filter((r): r is PromiseFulfilledResult<Transaction> => r.status === 'fulfilled');
  assert.ok(ok.length >= 1, 'the request was created');
  for (const r of results) if (r.status === 'rejected') assert.match(String((r.reason as { code?: string }).code), /ALREADY_EXISTS/);
  const st = await settle(requestId);
  await verifySigned(ok[0]!.value, st);
  const again = await settle(requestId);
  assert.deepEqual(Buffer.from(again.signatures[0]!.signature), Buffer.from(st.signatures[0]!.signature));
});
