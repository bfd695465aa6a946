/** The signer and the cloud parties on the platform lifecycle: startup errors, error mapping, health, SIGTERM. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { HealthClient, ServingStatus } from '@cosigner/platform';
import { spawnNode } from '@cosigner/platform/testing';
import { SIGNER_MAIN, startSystem } from './system.ts';

test('a signer without its sealing key refuses to start with a clear, typed error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cosigner-nokey-'));
  const p = spawnNode(SIGNER_MAIN, { env: { NATS_URL: 'nats://127.0.0.1:1', COSIGNER_DATA_DIR: dir, COSIGNER_SEALING_KEY_FILE: '', GRPC_PORT: '0' } });
  const { code } = await p.exited;
  assert.equal(code, 1);
  assert.match(p.stderr(), /ERR_SEALING_KEY_MISSING/);
  assert.match(p.stderr(), /COSIGNER_SEALING_KEY_FILE/);
});

test('KeyService: typed errors with stable codes, health SERVING; SIGTERM drains every party and exits 0', async (t) => {
  const s = await startSystem();
  t.after(() => s.stop());
  // A missing key: NOT_FOUND with the party's code in the trailers.
  await assert.rejects(s.call('getPublicKey', { keyId: 'nope', path: [] }), (e: grpc.ServiceError) =>
    e.code === grpc.status.NOT_FOUND && e.metadata.get('x-cosigner-error-code')[0] === 'ERR_KEY_NOT_FOUND');
  await assert.rejects(s.call('createKey', { workspaceId: '', algorithm: 'ECDSA_SECP256K1', threshold: 0, keyId: '' }), (e: grpc.ServiceError) =>
    e.code === grpc.status.INVALID_ARGUMENT && e.metadata.get('x-cosigner-error-code')[0] === 'ERR_INVALID_ARGUMENT');
  // No token: UNAUTHENTICATED, and the handler never ran.
  const c = s.client() as unknown as { listKeys(r: object, cb: (e: grpc.ServiceError | null) => void): void };
  const unauth = await new Promise<grpc.ServiceError | null>((r) => c.listKeys({ workspaceId: '' }, (e) => r(e)));
  assert.equal(unauth?.code, grpc.status.UNAUTHENTICATED);

  const health = new HealthClient(`127.0.0.1:${s.grpcPort}`, grpc.credentials.createInsecure());
  t.after(() => health.close());
  const status = await new Promise<string>((resolve, reject) => health.check({ service: 'cosigner.v1.KeyService' }, (e, r) => (e ? reject(e) : resolve(String(r.status)))));
  assert.equal(status, String(ServingStatus.SERVING));

  for (const party of ['customer', 'cloud-1'] as const) {
    const p = s.procs[party]!;
    p.signal('SIGTERM');
    const { code } = await p.exited;
    assert.equal(code, 0, `${party} exit code`);
    assert.match(p.stderr(), /"msg":"stopped"/, `${party} logged its orderly stop`);
  }
});

test('a restart with another ack wait converges the signer consumer in place (not recreated: nothing is replayed)', async (t) => {
  const s = await startSystem({ env: { COSIGNER_SIGNER_ACK_WAIT_MS: '30000' } });
  t.after(() => s.stop());
  const jsm = await s.js.jetstreamManager();
  const before = await jsm.consumers.info('COSIGNER_REQUESTS', 'mpc-signer');
  assert.equal(before.config.ack_wait, 30_000 * 1_000_000);
  await s.procs.customer!.kill9();
  await s.start('customer', { COSIGNER_SIGNER_ACK_WAIT_MS: '45000' });
  const after = await jsm.consumers.info('COSIGNER_REQUESTS', 'mpc-signer');
  assert.equal(after.config.ack_wait, 45_000 * 1_000_000);
  assert.equal(after.created, before.created, 'the same consumer, updated');
  assert.equal(after.config.filter_subject, 'cosigner.requests.approved.>');
  assert.equal(after.config.max_deliver, -1);
});
