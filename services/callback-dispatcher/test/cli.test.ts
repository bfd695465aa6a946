/**
 * The CLI commands of this issue end to end: the workspace simulator originates (builds the
 * EIP-1559 transaction, signs the submission JWT), intake admits, the dispatcher asks a real
 * handler; `workspace transfer|config-change --wait`, `requests get|watch`, `audit verify`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { WorkspaceServiceClient, type PairingToken, type Workspace, type WorkspaceApiUser } from '@cosigner/proto';
import { closeClient, createClient, createLogger, unary } from '@cosigner/platform';
import { startNats, type NatsServerHandle } from '@cosigner/platform/testing';
import { parseTrustConfig } from '@cosigner/trust';
import { startIntake, type IntakeHandle } from '@cosigner/request-intake';
import { startWorkspace, type WorkspaceHandle } from '@cosigner/cloud-cosigner-sim';
import { startDispatcher, type DispatcherHandle } from '../src/index.ts';
import { ADMIN_TOKEN, DEST, cosignerKeys, seedApiUser, seedKey } from '../../request-intake/test/fixtures.ts';
import { startTestHandler, type TestHandler } from './handler.ts';

const CLI = fileURLToPath(new URL('../../../packages/cli/bin/cosigner.js', import.meta.url));
let nats: NatsServerHandle;
let nc: NatsConnection;
let intake: IntakeHandle;
let dispatcher: DispatcherHandle;
let workspace: WorkspaceHandle;
let handler: TestHandler;
let apiUserId = '';
let env: Record<string, string>;
const quiet = (s: string) => createLogger({ service: s, level: 'error' });

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

before(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  const keys = cosignerKeys();
  // Intake is started first on a fixed port so the workspace knows where to submit.
  const { freePort } = await import('@cosigner/platform/testing');
  const intakePort = await freePort();
  workspace = await startWorkspace({
    natsUrl: nats.url, port: 0, adminTokens: [ADMIN_TOKEN], dataDir: await mkdtemp(join(tmpdir(), 'ws-sim-')), intakeUrl: `127.0.0.1:${intakePort}`, log: quiet('workspace-sim'),
  });
  intake = await startIntake({
    natsUrl: nats.url, port: intakePort, adminTokens: [ADMIN_TOKEN], log: quiet('request-intake'),
    trust: parseTrustConfig(JSON.stringify([{ platform: workspace.address, issuerPrefix: 'cosigner-sim/' }])),
  });
  dispatcher = await startDispatcher({ natsUrl: nats.url, callbackKeyPem: keys.callbackPrivatePem, approvalKeyPem: keys.approvalPrivatePem, deadlineMs: 2000, callbackAllow: ['loopback'], log: quiet('callback-dispatcher'),
    trust: parseTrustConfig(JSON.stringify([{ platform: workspace.address, issuerPrefix: 'cosigner-sim/' }])),
  });
  handler = await startTestHandler(keys.callbackPublicPem);
  const ws = createClient(WorkspaceServiceClient, workspace.address, { token: ADMIN_TOKEN });
  const w = await unary(ws, 'createWorkspace', { name: 'cli-test' }) as Workspace;
  const u = await unary(ws, 'createApiUser', { workspaceId: w.workspaceId, name: 'bot' }) as WorkspaceApiUser;
  const t = await unary(ws, 'issuePairingToken', { apiUserId: u.apiUserId }) as PairingToken;
  await unary(ws, 'completePairing', { token: t.token, cosignerId: 'cosigner-test', cosignerIdentityPublicKey: Buffer.alloc(32, 1), callbackPublicKeyPem: keys.callbackPublicPem });
  closeClient(ws);
  apiUserId = u.apiUserId;
  // What pairing and mpc-signer would have written.
  await seedApiUser(nc, apiUserId, { workspaceId: w.workspaceId, callback: { url: handler.url, mode: 'JWT', publicKeyPem: handler.publicKeyPem, certPem: '', updatedAtMs: 0 } });
  await seedKey(nc, 'key-cli', { workspaceId: w.workspaceId });
  env = { COSIGNER_CONFIG: '/nonexistent', COSIGNER_WORKSPACE_URL: workspace.address, COSIGNER_INTAKE_URL: intake.address, COSIGNER_ADMIN_TOKEN: ADMIN_TOKEN, NATS_URL: nats.url };
});

after(async () => {
  await workspace?.stop();
  await dispatcher?.stop();
  await intake?.stop();
  await handler?.close();
  await nc?.close();
  await nats?.stop();
});

test('workspace transfer --wait: approved by the handler, stays APPROVED without a signer, --timeout-s ends the wait', async () => {
  const r = await cli(['workspace', 'transfer', '--api-user', apiUserId, '--key', 'key-cli', '--to', DEST, '--amount-eth', '0.01', '--wait', '--timeout-s', '3', '--json']);
  const doc = JSON.parse(r.stdout) as { requestId: string; status: string; reason: string; traceId: string };
  assert.equal(doc.status, 'APPROVED', r.stderr);
  assert.notEqual(r.code, 0, 'a transfer is not done until SIGNED');
  assert.ok('reason' in doc && 'traceId' in doc);
  const seen = handler.seen.get(doc.requestId)!;
  assert.equal(seen[0]!.payload.destAddress, DEST, 'EIP-55 checksummed as the public product sends it (DEST is checksummed)');
  const g = await cli(['requests', 'get', doc.requestId, '--json']);
  assert.equal(g.code, 0, g.stderr);
  assert.equal(JSON.parse(g.stdout).status, 'APPROVED');
});

test('workspace transfer rejected: non-zero exit with the reason', async () => {
  // The handler's answer is scripted per request id, so the test picks the id.
  const id = `cli-reject-${Date.now()}`;
  handler.set(id, { action: 'REJECT', rejectionReason: 'over the daily limit' });
  const r = await cli(['workspace', 'transfer', '--api-user', apiUserId, '--key', 'key-cli', '--to', DEST, '--amount-eth', '0.02', '--request-id', id, '--wait', '--timeout-s', '10', '--json']);
  const doc = JSON.parse(r.stdout) as { status: string; reason: string };
  assert.equal(doc.status, 'REJECTED', r.stderr);
  assert.match(doc.reason, /over the daily limit/);
  assert.equal(r.code, 1);
});

test('workspace config-change --wait: APPROVED is terminal (exit 0); IGNORED exits 0 too', async () => {
  const a = await cli(['workspace', 'config-change', '--api-user', apiUserId, '--type', 'UNMANAGED_WALLET', '--wait', '--timeout-s', '10', '--json']);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(JSON.parse(a.stdout).status, 'APPROVED');
  const id = `cli-ignore-${Date.now()}`;
  handler.set(id, { action: 'IGNORE' });
  const i = await cli(['workspace', 'config-change', '--api-user', apiUserId, '--type', 'ADD_USER', '--request-id', id, '--wait', '--timeout-s', '10', '--json']);
  assert.equal(i.code, 0, i.stderr);
  assert.equal(JSON.parse(i.stdout).status, 'IGNORED');
  const w = await cli(['requests', 'watch', id, '--json']);
  assert.equal(w.code, 0, w.stderr);
  const states = w.stdout.trim().split('\n').map((l) => JSON.parse(l) as { status: string });
  assert.equal(states.at(-1)!.status, 'IGNORED');
});

test('audit verify --json', async () => {
  const r = await cli(['audit', 'verify', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { ok: boolean; records: number };
  assert.equal(doc.ok, true);
  assert.ok(doc.records >= 4);
});
