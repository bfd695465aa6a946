/**
 * TLS towards the workspace platform: the trust entry names the CA; key fetching (trust) and
 * CompletePairing (pairing) both go over TLS, and a platform with another certificate is refused.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@cosigner/platform';
import { startNats, type NatsServerHandle } from '@cosigner/platform/testing';
import { parseTrustConfig } from '@cosigner/trust';
import { startWorkspace, type WorkspaceHandle } from '@cosigner/cloud-cosigner-sim';
import { startPairing, type PairingHandle } from '../src/index.ts';

const TOKEN = 'tls-admin';
const quiet = (service: string) => createLogger({ service, level: 'error' });
let dir: string;
let nats: NatsServerHandle;
let sim: WorkspaceHandle;
const stops: Array<() => Promise<void>> = [];

function selfSigned(name: string): void {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`)], { stdio: 'ignore' });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pairing-tls-'));
  selfSigned('ws');
  selfSigned('other');
  await writeFile(join(dir, 'cb.pem'), generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  nats = await startNats({ ignoreEnv: true });
  sim = await startWorkspace({
    natsUrl: nats.url, port: 0, adminTokens: [TOKEN], dataDir: join(dir, 'sim'), intakeUrl: '127.0.0.1:1', log: quiet('sim'),
    serverTls: { certPem: await readFile(join(dir, 'ws.crt')), keyPem: await readFile(join(dir, 'ws.key')) },
  });
});

after(async () => {
  for (const s of stops) await s();
  await sim?.stop();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function pairingWithCa(ca: string, name: string): Promise<PairingHandle> {
  const p = await startPairing({
    natsUrl: nats.url, port: 0, adminTokens: [TOKEN], callbackKeyFile: join(dir, 'cb.pem'), dataDir: join(dir, name), log: quiet(name),
    trust: parseTrustConfig([{ platform: sim.address, issuerPrefix: 'cosigner-sim/', tls: { caFile: join(dir, ca) } }]),
  });
  stops.push(() => p.stop());
  return p;
}

test('pairing over TLS to the platform; a platform with an unexpected certificate is refused', async () => {
  const ws = await sim.workspaces.createWorkspace('tls');
  const u1 = await sim.workspaces.createApiUser(ws.workspaceId, '');
  const good = await pairingWithCa('ws.crt', 'good');
  const paired = await good.registry.pair((await sim.workspaces.issuePairingToken(u1.apiUserId)).token);
  assert.equal(paired.state, 'ACTIVE');

  const u2 = await sim.workspaces.createApiUser(ws.workspaceId, '');
  const wrong = await pairingWithCa('other.crt', 'wrong');
  await assert.rejects(wrong.registry.pair((await sim.workspaces.issuePairingToken(u2.apiUserId)).token),
    (e: unknown) => (e as { code: string }).code === 'ERR_KEYS_UNAVAILABLE');
});
