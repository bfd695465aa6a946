/**
 * Two co-signers (each its own nats-server, identity and registry) racing with one pairing token:
 * the workspace, where single use is enforced, lets exactly one of them pair.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNats, type NatsServerHandle } from '@cosigner/platform/testing';
import { createLogger } from '@cosigner/platform';
import { parseTrustConfig } from '@cosigner/trust';
import { startWorkspace, type WorkspaceHandle } from '@cosigner/cloud-cosigner-sim';
import { startPairing, type PairingHandle } from '../src/index.ts';

const TOKEN = 'race-admin';
const quiet = (service: string) => createLogger({ service, level: 'error' });
let dir: string;
let natsA: NatsServerHandle;
let natsB: NatsServerHandle;
let sim: WorkspaceHandle;
let a: PairingHandle;
let b: PairingHandle;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pairing-race-'));
  await writeFile(join(dir, 'cb.pem'), generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  [natsA, natsB] = await Promise.all([startNats({ ignoreEnv: true }), startNats({ ignoreEnv: true })]);
  sim = await startWorkspace({ natsUrl: natsA.url, port: 0, adminTokens: [TOKEN], dataDir: join(dir, 'sim'), intakeUrl: '127.0.0.1:1', log: quiet('sim') });
  const trust = parseTrustConfig([{ platform: sim.address, issuerPrefix: 'cosigner-sim/' }]);
  a = await startPairing({ natsUrl: natsA.url, port: 0, adminTokens: [TOKEN], trust, callbackKeyFile: join(dir, 'cb.pem'), dataDir: join(dir, 'a'), log: quiet('a') });
  b = await startPairing({ natsUrl: natsB.url, port: 0, adminTokens: [TOKEN], trust, callbackKeyFile: join(dir, 'cb.pem'), dataDir: join(dir, 'b'), log: quiet('b') });
});

after(async () => {
  await a?.stop();
  await b?.stop();
  await sim?.stop();
  await natsA?.stop();
  await natsB?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('two co-signers racing with one token: exactly one pairs', async () => {
  assert.notEqual(a.cosignerId, b.cosignerId);
  const ws = await sim.workspaces.createWorkspace('race');
  for (let round = 0; round < 5; round++) {
    const u = await sim.workspaces.createApiUser(ws.workspaceId, '');
    const { token } = await sim.workspaces.issuePairingToken(u.apiUserId);
    const results = await Promise.allSettled([a.registry.pair(token), b.registry.pair(token), a.registry.pair(token), b.registry.pair(token)]);
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1, `round ${round}`);
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { code: string }).code, 'ERR_TOKEN_SPENT');
    const winner = (await sim.workspaces.getApiUser(u.apiUserId)).value.cosignerId;
    const [inA, inB] = await Promise.all([a.registry.get(u.apiUserId).catch(() => undefined), b.registry.get(u.apiUserId).catch(() => undefined)]);
    // Only the winner records the API user; the loser stored nothing.
    assert.equal(inA !== undefined, winner === a.cosignerId);
    assert.equal(inB !== undefined, winner === b.cosignerId);
  }
});
