/**
 * Pairing meets admission: the workspace simulator, the pairing service and the real
 * request-intake on one nats-server. A paired API user's transfer is admitted (intake verifies
 * the workspace JWT through @cosigner/trust against the simulator's published keys and sees the
 * pairing through KV); the signed event flows back through WatchRequest and the simulator
 * assembles the transaction; after unpair, intake refuses the API user.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { keccak256, parseSignature, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { KeyInfo, RequestSigned, type Transaction } from '@cosigner/proto';
import { freePort, startNats, type NatsServerHandle } from '@cosigner/platform/testing';
import { parseTrustConfig } from '@cosigner/trust';
import { startWorkspace, type WorkspaceHandle } from '@cosigner/cloud-cosigner-sim';
import { startIntake, type IntakeHandle } from '@cosigner/request-intake';
import { startPairing, type PairingHandle } from '../src/index.ts';

const TOKEN = 'intake-test-admin';
const TO = '0x000000000000000000000000000000000000dEaD';
let nats: NatsServerHandle;
let dir: string;
let sim: WorkspaceHandle;
let intake: IntakeHandle;
let pairing: PairingHandle;
let nc: NatsConnection;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pairing-intake-'));
  await writeFile(join(dir, 'callback.key.pem'), generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  nats = await startNats({ ignoreEnv: true });
  const simPort = await freePort();
  const trust = parseTrustConfig([{ platform: `127.0.0.1:${simPort}`, issuerPrefix: 'cosigner-sim/' }]);
  intake = await startIntake({ natsUrl: nats.url, port: 0, host: '127.0.0.1', adminTokens: [TOKEN], trust });
  sim = await startWorkspace({ natsUrl: nats.url, port: simPort, adminTokens: [TOKEN], dataDir: join(dir, 'sim'), intakeUrl: intake.address });
  pairing = await startPairing({ natsUrl: nats.url, port: 0, adminTokens: [TOKEN], trust, callbackKeyFile: join(dir, 'callback.key.pem'), dataDir: join(dir, 'pairing') });
  nc = await connect({ servers: nats.url });
});

after(async () => {
  await nc?.close();
  await pairing?.stop();
  await sim?.stop();
  await intake?.stop();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function until(id: string, pred: (t: Transaction) => boolean): Promise<Transaction> {
  for (let i = 0; i < 400; i++) {
    const t = await sim.originator.getTransaction(id);
    if (pred(t)) return t;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`transaction ${id} never reached the expected state`);
}

test('paired API user: transfer admitted by the real intake, signed event assembled; unpaired: refused', async () => {
  const ws = await sim.workspaces.createWorkspace('acme');
  const user = await sim.workspaces.createApiUser(ws.workspaceId, 'bot');
  const { token } = await sim.workspaces.issuePairingToken(user.apiUserId);
  const paired = await pairing.registry.pair(token);
  assert.equal(paired.state, 'ACTIVE');

  // The key as mpc-signer would register it (intake checks it belongs to the workspace).
  const keys = await new Kvm(jetstream(nc)).open('cosigner-keys');
  await keys.put('key-1', KeyInfo.encode({ keyId: 'key-1', workspaceId: ws.workspaceId, algorithm: 'ECDSA_SECP256K1', publicKey: Buffer.alloc(33, 2), chainCode: Buffer.alloc(32), threshold: 3, parties: ['customer', 'cloud-1', 'cloud-2'], createdAtMs: Date.now(), epoch: 0, refreshedAtMs: 0 }).finish());

  const req = { apiUserId: user.apiUserId, keyId: 'key-1', path: [], to: TO, amountWei: '10000000000000000', chainId: 0, nonce: 0, note: '', externalTxId: '', expiresInS: 0, requestId: '', algorithm: 'ECDSA_SECP256K1' as const };
  const tx = await sim.originator.createTransfer(req);
  assert.equal(tx.status, 'RECEIVED');
  const state = await intake.intake.get(tx.requestId);
  assert.equal(state.apiUserId, user.apiUserId);
  assert.equal(state.workspaceId, ws.workspaceId);

  // The signing side's event, as mpc-signer publishes it.
  const pk = generatePrivateKey();
  const sig = parseSignature(await privateKeyToAccount(pk).sign({ hash: keccak256(tx.rawTx as Hex) }));
  const r = Buffer.from(sig.r.slice(2).padStart(64, '0'), 'hex');
  const s = Buffer.from(sig.s.slice(2).padStart(64, '0'), 'hex');
  const h = headers();
  h.set('Nats-Msg-Id', `${tx.requestId}:signed`);
  await jetstream(nc).publish(`cosigner.requests.signed.${tx.requestId}`, RequestSigned.encode({
    requestId: tx.requestId, signedAtMs: Date.now(),
    signatures: [{ index: 0, keyId: 'key-1', algorithm: 'ECDSA_SECP256K1', path: [44, 60, 0, 0, 0], publicKey: Buffer.alloc(33), r, s, recoveryId: sig.yParity ?? 0, signature: Buffer.concat([r, s]), der: Buffer.alloc(0) }],
  }).finish(), { headers: h });
  const done = await until(tx.requestId, (t) => t.status === 'SIGNED');
  assert.equal(done.from, privateKeyToAccount(pk).address);
  assert.ok(done.signedTx.startsWith('0x02'));

  // Config change: admitted as well.
  const cc = await sim.originator.createConfigChange({ apiUserId: user.apiUserId, type: 'ADD_USER', extraInfoJson: '{}', expiresInS: 0, requestId: '' });
  assert.equal(cc.status, 'RECEIVED');

  // Unpaired: intake refuses at once (it watches cosigner-api-users).
  await pairing.registry.unpair(user.apiUserId);
  await assert.rejects(sim.originator.createTransfer(req), (e: unknown) => (e as { code?: string }).code === 'ERR_API_USER_NOT_PAIRED');
});
