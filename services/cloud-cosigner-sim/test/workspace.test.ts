import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { WorkspaceServiceClient } from '@cosigner/proto';
import { startNats, type NatsServerHandle } from '@cosigner/platform/testing';
import { createTrust, parseTrustConfig } from '@cosigner/trust';
import { startWorkspace, type WorkspaceHandle } from '../src/index.ts';

const TOKEN = 'test-admin-token';
let nats: NatsServerHandle;
let dir: string;
let ws: WorkspaceHandle;
let client: WorkspaceServiceClient;

function call<Res>(method: string, req: unknown, token: string | null = TOKEN): Promise<Res> {
  const md = new grpc.Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, (...a: unknown[]) => void>)[method]!.call(client, req, md, (e: grpc.ServiceError | null, r: Res) => (e ? reject(e) : resolve(r)));
  });
}

function codeOf(e: unknown): string {
  return (e as grpc.ServiceError).metadata?.get('x-cosigner-error-code')[0]?.toString() ?? '';
}

async function start(): Promise<void> {
  ws = await startWorkspace({ natsUrl: nats.url, port: 0, adminTokens: [TOKEN], dataDir: join(dir, 'keys'), bucketPrefix: 't-', intakeUrl: '127.0.0.1:1' });
  client = new WorkspaceServiceClient(ws.address, grpc.credentials.createInsecure());
}

before(async () => {
  nats = await startNats({ ignoreEnv: true });
  dir = await mkdtemp(join(tmpdir(), 'ws-test-'));
  await start();
});

after(async () => {
  client?.close();
  await ws?.stop();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

interface W { workspaceId: string; issuer: string }
interface U { apiUserId: string; workspaceId: string; state: string; cosignerId: string }
interface T { token: string; tokenId: string; expiresAtMs: number }

test('admin methods require the bearer token; public keys do not', async () => {
  await assert.rejects(call('createWorkspace', { name: 'x' }, null), (e) => codeOf(e) === 'ERR_UNAUTHENTICATED');
  await assert.rejects(call('createWorkspace', { name: 'x' }, 'wrong'), (e) => (e as grpc.ServiceError).code === grpc.status.UNAUTHENTICATED);
  const w = await call<W>('createWorkspace', { name: 'x' });
  const keys = await call<{ issuer: string; jwksJson: string }>('getPublicKeys', { workspaceId: w.workspaceId }, null);
  assert.equal(keys.issuer, `cosigner-sim/${w.workspaceId}`);
  const jwks = JSON.parse(keys.jwksJson) as { keys: Array<Record<string, unknown>> };
  assert.equal(jwks.keys[0]!.kty, 'EC');
  assert.equal(jwks.keys[0]!.d, undefined, 'no private member');
  await assert.rejects(call('getPublicKeys', { workspaceId: 'ws-nope' }, null), (e) => codeOf(e) === 'ERR_WORKSPACE_NOT_FOUND');
  await assert.rejects(call('createApiUser', { workspaceId: 'ws-nope', name: '' }), (e) => codeOf(e) === 'ERR_WORKSPACE_NOT_FOUND');
});

test('pairing token: claims, verification through the platform, single use under a race, survives restart', async () => {
  const w = await call<W>('createWorkspace', { name: 'acme' });
  const u = await call<U>('createApiUser', { workspaceId: w.workspaceId, name: 'bot' });
  assert.equal(u.state, 'PENDING_ACTIVATION');
  const t = await call<T>('issuePairingToken', { apiUserId: u.apiUserId });
  const [, payload] = t.token.split('.');
  const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
  assert.equal(claims.iss, w.issuer);
  assert.equal(claims.sub, u.apiUserId);
  assert.equal(claims.aud, 'cosigner-pairing');
  assert.equal(claims.jti, t.tokenId);
  assert.equal((claims.exp as number) - (claims.iat as number), 3600);

  // A co-signer configured with the platform verifies it with keys fetched over gRPC.
  const trust = createTrust(parseTrustConfig([{ platform: ws.address, issuerPrefix: 'cosigner-sim/' }]));
  const v = await trust.verify(t.token, { audience: 'cosigner-pairing', maxLifetimeS: 3600 });
  assert.equal(v.workspaceId, w.workspaceId);
  assert.equal(v.apiUserId, u.apiUserId);
  trust.close();

  // Restart the simulator between issuing and spending: the token is still spendable.
  client.close();
  await ws.stop();
  await start();

  const attempt = (cosignerId: string) => call<U>('completePairing', { token: t.token, cosignerId, cosignerIdentityPublicKey: Buffer.alloc(32, 1), callbackPublicKeyPem: '' }, null);
  const results = await Promise.allSettled([attempt('cosigner-a'), attempt('cosigner-b'), attempt('cosigner-c')]);
  const won = results.filter((r) => r.status === 'fulfilled');
  assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status === 'rejected' ? codeOf(r.reason) : 'ok')));
  for (const r of results) if (r.status === 'rejected') assert.equal(codeOf(r.reason), 'ERR_TOKEN_SPENT');
  const winner = ['cosigner-a', 'cosigner-b', 'cosigner-c'][results.findIndex((r) => r.status === 'fulfilled')]!;
  // The winner may retry (lost reply): idempotent.
  const again = await attempt(winner);
  assert.equal(again.state, 'ACTIVE');
  await assert.rejects(call('issuePairingToken', { apiUserId: u.apiUserId }), (e) => codeOf(e) === 'ERR_API_USER_ALREADY_PAIRED');
});

test('a newer token supersedes the older one; tokens of other workspaces are refused', async () => {
  const w = await call<W>('createWorkspace', { name: 'w2' });
  const u = await call<U>('createApiUser', { workspaceId: w.workspaceId, name: '' });
  const t1 = await call<T>('issuePairingToken', { apiUserId: u.apiUserId });
  const t2 = await call<T>('issuePairingToken', { apiUserId: u.apiUserId });
  const attempt = (token: string) => call<U>('completePairing', { token, cosignerId: 'c1', cosignerIdentityPublicKey: Buffer.alloc(0), callbackPublicKeyPem: '' }, null);
  await assert.rejects(attempt(t1.token), (e) => codeOf(e) === 'ERR_TOKEN_SPENT');
  await assert.rejects(attempt('garbage'), (e) => codeOf(e) === 'ERR_TOKEN_MALFORMED');
  const forged = `${t2.token.split('.')[0]}.${Buffer.from(JSON.stringify({ iss: 'cosigner-sim/ws-other', sub: u.apiUserId, aud: 'cosigner-pairing', exp: 9e9, jti: 'x' })).toString('base64url')}.${t2.token.split('.')[2]}`;
  await assert.rejects(attempt(forged), (e) => ['ERR_WORKSPACE_UNTRUSTED', 'ERR_TOKEN_SIGNATURE'].includes(codeOf(e)));
  const ok = await attempt(t2.token);
  assert.equal(ok.state, 'ACTIVE');
});
