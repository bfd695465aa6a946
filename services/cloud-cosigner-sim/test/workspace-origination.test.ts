/**
 * Origination: the pure parts (EIP-1559 encoding, digest, callback fields, submission JWT,
 * assembling the signed transaction), then the whole path against a real gRPC fake of
 * request-intake that checks the JWT and the request bytes exactly as intake will.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as jose from 'jose';
import { keccak256, parseTransaction, parseSignature, getAddress, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import {
  ConfigChangeRequest, RequestIntakeServiceService, TransactionSignRequest, WorkspaceServiceClient,
  type EntrySignature, type RequestState, type SubmitTransactionRequest, type Transaction,
} from '@cosigner/proto';
import { startNats, type NatsServerHandle } from '@cosigner/platform/testing';
import { createTrust, parseTrustConfig, type Trust } from '@cosigner/trust';
import { assembleSigned, buildTransfer, signSubmission, startWorkspace, type WorkspaceHandle } from '../src/index.ts';

const TO = '0x5dc6f3a5A0b1a36C3B6D8Ba1a7E2bE35B4c2f0A1';

function sign(digest: Hex, pk: Hex): Promise<Pick<EntrySignature, 'r' | 's' | 'recoveryId'>> {
  return privateKeyToAccount(pk).sign({ hash: digest }).then((sigHex) => {
    const s = parseSignature(sigHex);
    return { r: Buffer.from(s.r.slice(2).padStart(64, '0'), 'hex'), s: Buffer.from(s.s.slice(2).padStart(64, '0'), 'hex'), recoveryId: s.yParity ?? 0 };
  });
}

test('buildTransfer: a real EIP-1559 transaction, its keccak256 digest, and the callback fields', () => {
  const b = buildTransfer({
    requestId: 'r1', workspaceId: 'ws-1', apiUserId: 'u1', keyId: 'k1', path: [44, 60, 0, 0, 7], to: TO.toLowerCase(),
    amountWei: 10n ** 16n, chainId: 11155111, nonce: 3, note: 'n', externalTxId: 'x', expiresAtMs: 123,
  });
  assert.ok(b.rawTx.startsWith('0x02'));
  assert.equal(b.digest, keccak256(b.rawTx));
  const tx = parseTransaction(b.rawTx);
  assert.equal(tx.chainId, 11155111);
  assert.equal(tx.nonce, 3);
  assert.equal(tx.value, 10n ** 16n);
  assert.equal(tx.to?.toLowerCase(), TO.toLowerCase());
  assert.equal(tx.gas, 21000n);
  const d = b.request.details!;
  assert.equal(d.operation, 'TRANSFER');
  assert.equal(d.asset, 'ETH');
  assert.equal(d.amount, '0.01');
  assert.equal(d.requestedAmount, '0.01');
  assert.equal(d.fee, '0.00063');
  assert.equal(d.destAddress, TO.toLowerCase());
  assert.equal(d.destinations[0]!.displayDstAddress, getAddress(TO));
  assert.equal(d.destinations[0]!.amountNative, '0.01');
  assert.equal(d.chainId, 11155111);
  assert.deepEqual(b.request.players, ['customer', 'cloud-1', 'cloud-2']);
  const e = b.request.entries[0]!;
  assert.equal(e.algorithm, 'ECDSA_SECP256K1');
  assert.deepEqual(e.path, [44, 60, 0, 0, 7]);
  assert.equal(`0x${Buffer.from(e.rawTx).toString('hex')}`, b.rawTx);
  assert.equal(`0x${Buffer.from(e.payload).toString('hex')}`, b.digest);
  assert.deepEqual(TransactionSignRequest.decode(b.bytes), b.request);
  assert.throws(() => buildTransfer({ ...b.request, keyId: 'k', path: [], to: 'nope', amountWei: 1n, chainId: 1, nonce: 0, note: '', externalTxId: '', expiresAtMs: 0 } as never), /address/);
});

test('assembleSigned: signature (r, s, yParity) on the digest gives a transaction from the signer', async () => {
  const pk = generatePrivateKey();
  const b = buildTransfer({ requestId: 'r', workspaceId: 'w', apiUserId: 'u', keyId: 'k', path: [44, 60, 0, 0, 0], to: TO, amountWei: 5n, chainId: 11155111, nonce: 0, note: '', externalTxId: '', expiresAtMs: 0 });
  const { signedTx, from } = await assembleSigned(b.rawTx, await sign(b.digest, pk));
  assert.equal(from, privateKeyToAccount(pk).address);
  const parsed = parseTransaction(signedTx as Hex);
  assert.equal(parsed.value, 5n);
  await assert.rejects(assembleSigned(b.rawTx, { r: Buffer.alloc(31), s: Buffer.alloc(32), recoveryId: 0 }));
});

test('signSubmission: claims of the convention, verifiable by @cosigner/trust', async () => {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await jose.exportJWK(publicKey)), kid: 'k' };
  const bytes = new Uint8Array([1, 2, 3]);
  const now = Date.now();
  const jwt = await signSubmission({ kid: 'k', privateKey: privateKey as never, publicJwk: jwk }, { issuer: 'cosigner-sim/ws-1', apiUserId: 'u1', request: bytes, nonce: 'n1', nowMs: now });
  const trust = createTrust(parseTrustConfig([{ issuer: 'cosigner-sim/ws-1', jwks: { keys: [jwk] } }]));
  const v = await trust.verify(jwt, { audience: 'cosigner-intake', maxLifetimeS: 30 });
  assert.equal(v.claims.reqHash, createHash('sha256').update(bytes).digest('hex'));
  assert.equal(v.claims.nonce, 'n1');
  assert.equal(v.claims.jti, 'n1');
  assert.equal(v.claims.sub, 'u1');
  assert.equal(v.claims.exp - (v.claims.iat ?? 0), 30);
  trust.close();
});

// ---- integration with a fake intake (a real gRPC server) ----

const TOKEN = 'orig-admin';
let nats: NatsServerHandle;
let dir: string;
let sim: WorkspaceHandle;
let client: WorkspaceServiceClient;
let intake: grpc.Server;
let intakePort = 0;
let intakeTrust: Trust;

interface Held { state: RequestState; watchers: Set<grpc.ServerWritableStream<unknown, RequestState>>; request: TransactionSignRequest | ConfigChangeRequest; auth: Record<string, unknown> }
const held = new Map<string, Held>();
const refuseNext: { code?: string; status?: number } = {};
/** Watches answered NOT_FOUND before the state (intake's projector lagging behind its admission). */
let lagWatches = 0;
let clockOffset = 0;

const TERMINAL = new Set(['SIGNED', 'REJECTED', 'IGNORED', 'FAILED']);
function push(id: string, patch: Partial<RequestState>): void {
  const h = held.get(id)!;
  h.state = { ...h.state, ...patch };
  for (const w of h.watchers) {
    w.write(h.state);
    if (TERMINAL.has(h.state.status) || (h.state.kind === 'CONFIG_CHANGE' && h.state.status === 'APPROVED')) w.end();
  }
}

function baseState(id: string, kind: RequestState['kind']): RequestState {
  return { requestId: id, kind, workspaceId: '', apiUserId: '', status: 'RECEIVED', reason: '', errorCode: '', culprits: [], createdAtMs: Date.now(), updatedAtMs: Date.now(), expiresAtMs: 0, signatures: [], traceId: 'trace-1', requestHash: Buffer.alloc(0), revision: 1 };
}

async function admit(call: grpc.ServerUnaryCall<SubmitTransactionRequest, unknown>, kind: 'TRANSACTION' | 'CONFIG_CHANGE', cb: grpc.sendUnaryData<unknown>): Promise<void> {
  try {
    if (refuseNext.code) {
      const md = new grpc.Metadata();
      md.set('x-cosigner-error-code', refuseNext.code);
      const st = refuseNext.status ?? grpc.status.FAILED_PRECONDITION;
      refuseNext.code = undefined;
      refuseNext.status = undefined;
      return cb({ code: st, details: 'refused by test', metadata: md });
    }
    const v = await intakeTrust.verify(call.request.authorization, { audience: 'cosigner-intake', maxLifetimeS: 30 });
    assert.equal(v.claims.reqHash, createHash('sha256').update(call.request.request).digest('hex'), 'reqHash binds the exact bytes');
    const req = kind === 'TRANSACTION' ? TransactionSignRequest.decode(call.request.request) : ConfigChangeRequest.decode(call.request.request);
    assert.equal(req.apiUserId, v.apiUserId);
    assert.equal(req.workspaceId, v.workspaceId);
    held.set(req.requestId, { state: { ...baseState(req.requestId, kind), workspaceId: req.workspaceId, apiUserId: req.apiUserId }, watchers: new Set(), request: req, auth: v.claims });
    cb(null, { state: held.get(req.requestId)!.state, created: true });
  } catch (e) {
    cb({ code: grpc.status.UNAUTHENTICATED, details: String(e) });
  }
}

before(async () => {
  nats = await startNats({ ignoreEnv: true });
  dir = await mkdtemp(join(tmpdir(), 'orig-test-'));
  intake = new grpc.Server();
  intake.addService(RequestIntakeServiceService, {
    submitTransaction: (call: grpc.ServerUnaryCall<SubmitTransactionRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => void admit(call, 'TRANSACTION', cb),
    submitConfigChange: (call: grpc.ServerUnaryCall<SubmitTransactionRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => void admit(call, 'CONFIG_CHANGE', cb),
    getRequest: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb({ code: grpc.status.UNIMPLEMENTED }),
    cancelRequest: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb({ code: grpc.status.UNIMPLEMENTED }),
    watchRequest: (call: grpc.ServerWritableStream<{ requestId: string }, RequestState>) => {
      assert.equal(call.metadata.get('authorization')[0], `Bearer ${TOKEN}`);
      const h = held.get(call.request.requestId);
      if (!h || lagWatches > 0) {
        if (h) lagWatches--;
        return call.emit('error', { code: grpc.status.NOT_FOUND, details: 'unknown' });
      }
      call.write(h.state);
      if (TERMINAL.has(h.state.status)) return call.end();
      h.watchers.add(call as never);
      call.on('cancelled', () => h.watchers.delete(call as never));
    },
  });
  intakePort = await new Promise<number>((res, rej) => intake.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  await startSim();
  intakeTrust = createTrust(parseTrustConfig([{ platform: sim.address, issuerPrefix: 'cosigner-sim/' }]));
});

async function startSim(port = 0): Promise<void> {
  sim = await startWorkspace({
    natsUrl: nats.url, port, adminTokens: [TOKEN], dataDir: join(dir, 'keys'), intakeUrl: `127.0.0.1:${intakePort}`, bucketPrefix: 'o-',
    clock: { now: () => Date.now() + clockOffset, newId: () => randomUUID() },
  });
  client = new WorkspaceServiceClient(sim.address, grpc.credentials.createInsecure());
}

after(async () => {
  client?.close();
  await sim?.stop();
  intakeTrust?.close();
  intake?.forceShutdown();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

function call<Res>(method: string, req: unknown): Promise<Res> {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${TOKEN}`);
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, (...a: unknown[]) => void>)[method]!.call(client, req, md, (e: grpc.ServiceError | null, r: Res) => (e ? reject(e) : resolve(r)));
  });
}

async function activeUser(): Promise<string> {
  const w = await sim.workspaces.createWorkspace('w');
  const u = await sim.workspaces.createApiUser(w.workspaceId, 'u');
  const t = await sim.workspaces.issuePairingToken(u.apiUserId);
  await sim.workspaces.completePairing({ token: t.token, cosignerId: 'c1', cosignerIdentityPublicKey: Buffer.alloc(0), callbackPublicKeyPem: '' });
  return u.apiUserId;
}

async function until(id: string, pred: (t: Transaction) => boolean): Promise<Transaction> {
  for (let i = 0; i < 200; i++) {
    const t = await call<Transaction>('getTransaction', { requestId: id });
    if (pred(t)) return t;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`transaction ${id} never reached the expected state`);
}

const transfer = (apiUserId: string, extra: Record<string, unknown> = {}) => ({ apiUserId, keyId: 'key-1', path: [], to: TO, amountWei: '10000000000000000', chainId: 0, nonce: 0, note: '', externalTxId: '', expiresInS: 0, requestId: '', algorithm: 'ECDSA_SECP256K1', ...extra });

test('CreateTransfer -> intake gets the signed request bytes; SIGNED assembles the transaction; resumes after a restart', async () => {
  const apiUserId = await activeUser();
  const tx = await call<Transaction>('createTransfer', transfer(apiUserId));
  assert.equal(tx.status, 'RECEIVED');
  assert.equal(tx.traceId, 'trace-1');
  const h = held.get(tx.requestId)!;
  const req = h.request as TransactionSignRequest;
  assert.equal(req.details!.chainId, 11155111);
  assert.equal(`0x${Buffer.from(req.entries[0]!.rawTx).toString('hex')}`, tx.rawTx);
  assert.equal(`0x${Buffer.from(req.entries[0]!.payload).toString('hex')}`, keccak256(tx.rawTx as Hex));
  assert.deepEqual(req.entries[0]!.path, [44, 60, 0, 0, 0]);
  assert.ok((h.auth.exp as number) - (h.auth.iat as number) <= 30);

  push(tx.requestId, { status: 'APPROVED' });
  await until(tx.requestId, (t) => t.status === 'APPROVED');

  // Restart the simulator while the request is in flight: it resumes watching.
  client.close();
  await sim.stop();
  const simPort = sim.port;
  const pk = generatePrivateKey();
  const sig = await sign(keccak256(tx.rawTx as Hex), pk);
  push(tx.requestId, { status: 'SIGNED', signatures: [{ index: 0, keyId: 'key-1', algorithm: 'ECDSA_SECP256K1', path: [44, 60, 0, 0, 0], publicKey: Buffer.alloc(33), r: Buffer.from(sig.r), s: Buffer.from(sig.s), recoveryId: sig.recoveryId, signature: Buffer.concat([sig.r, sig.s]), der: Buffer.alloc(0) }] });
  await startSim(simPort);
  const done = await until(tx.requestId, (t) => t.status === 'SIGNED');
  assert.equal(done.from, privateKeyToAccount(pk).address);
  assert.ok(done.signedTx.startsWith('0x02'));
  assert.equal(done.signatures.length, 1);
  const parsed = parseTransaction(done.signedTx as Hex);
  assert.equal(parsed.to?.toLowerCase(), TO.toLowerCase());
});

test('CreateConfigChange and refusals from intake', async () => {
  const apiUserId = await activeUser();
  const cc = await call<Transaction>('createConfigChange', { apiUserId, type: 'UNMANAGED_WALLET', extraInfoJson: JSON.stringify({ subType: 'EXTERNAL', walletName: 'w', asset: 'ETH', address: TO }), expiresInS: 0, requestId: 'cc-1' });
  assert.equal(cc.kind, 'CONFIG_CHANGE');
  assert.equal((held.get('cc-1')!.request as ConfigChangeRequest).type, 'UNMANAGED_WALLET');
  push('cc-1', { status: 'APPROVED' });
  assert.equal((await until('cc-1', (t) => t.status === 'APPROVED')).kind, 'CONFIG_CHANGE');
  const rej = await call<Transaction>('createTransfer', transfer(apiUserId, { requestId: 'rej-1' }));
  push(rej.requestId, { status: 'REJECTED', errorCode: 'ERR_REJECTED', reason: 'amount too high' });
  assert.equal((await until('rej-1', (t) => t.status === 'REJECTED')).reason, 'ERR_REJECTED: amount too high');

  const code = (e: unknown) => (e as grpc.ServiceError).metadata.get('x-cosigner-error-code')[0];
  await assert.rejects(call('createConfigChange', { apiUserId, type: 'NOPE', extraInfoJson: '', expiresInS: 0, requestId: '' }), (e) => code(e) === 'ERR_INVALID_CONFIG_CHANGE_TYPE');
  await assert.rejects(call('createTransfer', transfer(apiUserId, { to: '0x12' })), (e) => code(e) === 'ERR_INVALID_ADDRESS');
  await assert.rejects(call('createTransfer', transfer(apiUserId, { amountWei: '-1' })), (e) => code(e) === 'ERR_INVALID_AMOUNT');
  await assert.rejects(call('createTransfer', transfer(apiUserId, { requestId: 'cc-1' })), (e) => code(e) === 'ERR_ALREADY_EXISTS');
  refuseNext.code = 'ERR_API_USER_NOT_PAIRED';
  await assert.rejects(call('createTransfer', transfer(apiUserId, { requestId: 'refused-1' })), (e) => code(e) === 'ERR_API_USER_NOT_PAIRED');
  const failed = await call<Transaction>('getTransaction', { requestId: 'refused-1' });
  assert.equal(failed.status, 'FAILED');
  assert.match(failed.reason, /ERR_API_USER_NOT_PAIRED/);

  // Intake's projector behind its admission: the first watches say NOT_FOUND; nothing fails.
  lagWatches = 2;
  const lagged = await call<Transaction>('createTransfer', transfer(apiUserId, { requestId: 'lag-1' }));
  assert.equal(lagged.status, 'RECEIVED');
  await new Promise((r) => setTimeout(r, 300));
  push('lag-1', { status: 'APPROVED' });
  assert.equal((await until('lag-1', (t) => t.status === 'APPROVED' || t.status === 'FAILED')).status, 'APPROVED');

  // Transport failure on submit: outcome unknown, the record stays open; intake never heard of
  // it, so once the grace period has passed the watcher fails it.
  refuseNext.code = 'ERR_UNAVAILABLE';
  refuseNext.status = grpc.status.UNAVAILABLE;
  await assert.rejects(call('createTransfer', transfer(apiUserId, { requestId: 'lost-1' })), (e) => code(e) === 'ERR_INTAKE_UNAVAILABLE');
  assert.equal((await call<Transaction>('getTransaction', { requestId: 'lost-1' })).status, 'REQUEST_STATUS_UNSPECIFIED');
  clockOffset = 61_000;
  const lost = await until('lost-1', (t) => t.status === 'FAILED');
  clockOffset = 0;
  assert.match(lost.reason, /ERR_INTAKE_UNKNOWN/);

  const pending = await sim.workspaces.createApiUser((await sim.workspaces.createWorkspace('p')).workspaceId, '');
  await assert.rejects(call('createTransfer', transfer(pending.apiUserId)), (e) => code(e) === 'ERR_API_USER_NOT_ACTIVE');
});
