/**
 * Epoch commit after a refresh (issue 19 item 5), with three party processes and a real
 * nats-server: refreshing an idle key leaves no share of the old epoch on any party's disk (the
 * sealed store files), for EdDSA and ECDSA; a party that is down during the commit drops its
 * old share once the signer commits again after its own restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyInfo } from '@cosigner/proto';
import { token } from '../../../packages/party/src/sealed.ts';
import { startSystem, type System } from './system.ts';

/** Epochs of `keyId` whose share file is on `party`'s disk. */
function shareEpochs(s: System, party: string, keyId: string): number[] {
  const out: number[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      const m = /^share\.(.+)\.(\d+)\.v\d+\.sealed$/.exec(e.name);
      if (m && m[1] === token(keyId)) out.push(Number(m[2]));
    }
  };
  walk(s.dirs[party]!);
  return out.sort((a, b) => a - b);
}

async function until(f: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const PARTIES = ['customer', 'cloud-1', 'cloud-2'];

test('refresh of an idle key: the old epoch is deleted on every party once all sealed the new one (EdDSA and ECDSA)', async (t) => {
  const s = await startSystem({ env: { COSIGNER_POOL_TARGET: '0' } });
  t.after(() => s.stop());
  for (const algorithm of ['EDDSA_ED25519', 'ECDSA_SECP256K1']) {
    const key = await s.call<KeyInfo>('createKey', { workspaceId: 'ws1', algorithm, threshold: 0, keyId: '' });
    for (const p of PARTIES) assert.deepEqual(shareEpochs(s, p, key.keyId), [0], `${algorithm} ${p} after keygen`);
    const r1 = await s.call<KeyInfo>('refreshKey', { keyId: key.keyId });
    assert.equal(r1.epoch, 1);
    for (const p of PARTIES) assert.deepEqual(shareEpochs(s, p, key.keyId), [1], `${algorithm} ${p} after refresh`);
    const r2 = await s.call<KeyInfo>('refreshKey', { keyId: key.keyId });
    assert.equal(r2.epoch, 2);
    for (const p of PARTIES) assert.deepEqual(shareEpochs(s, p, key.keyId), [2], `${algorithm} ${p} after a second refresh`);
  }
});

test('a party down during the commit keeps its old share only until the signer commits again (after its restart)', async (t) => {
  const s = await startSystem({ env: { COSIGNER_POOL_TARGET: '0' } });
  t.after(() => s.stop());
  const key = await s.call<KeyInfo>('createKey', { workspaceId: 'ws1', algorithm: 'EDDSA_ED25519', threshold: 0, keyId: '' });
  // cloud-2 seals the new epoch, but the commit never reaches it (a test hook makes it refuse
  // commits, as if it had crashed right after sealing).
  await s.procs['cloud-2']!.kill9();
  await s.start('cloud-2', { COSIGNER_UNSAFE_TEST_TAMPER: 'COMMIT' });
  const r = await s.call<KeyInfo>('refreshKey', { keyId: key.keyId });
  assert.equal(r.epoch, 1);
  assert.deepEqual(shareEpochs(s, 'customer', key.keyId), [1]);
  assert.deepEqual(shareEpochs(s, 'cloud-1', key.keyId), [1]);
  assert.deepEqual(shareEpochs(s, 'cloud-2', key.keyId), [0, 1]);
  // cloud-2 back to normal, the signer restarts: its start-up commit removes the leftover.
  await s.procs['cloud-2']!.kill9();
  await s.start('cloud-2');
  await s.procs.customer!.kill9();
  await s.start('customer');
  await until(() => shareEpochs(s, 'cloud-2', key.keyId).join() === '1', 'cloud-2 drops epoch 0');
  for (const p of PARTIES) assert.deepEqual(shareEpochs(s, p, key.keyId), [1]);
});
