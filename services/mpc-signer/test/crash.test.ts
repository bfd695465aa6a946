/** kill -9 of each party mid-round, backup/restore after losing the signer's volume (EdDSA: fast). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { rmSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import { RequestFailed, RequestSigned, type BackupKeyResponse, type KeyInfo } from '@cosigner/proto';
import { approvedEvent } from '../../../packages/party/test/helpers.ts';
import { startSystem } from './system.ts';
import { countOn, waitEvent } from './util.ts';

test('kill -9 of each party mid-round: the request completes after restart with exactly one signature; backup/restore round-trip', async (t) => {
  const slow = { COSIGNER_UNSAFE_TEST_SLOW_MS: '400' };
  const s = await startSystem({ env: { COSIGNER_SIGNER_ACK_WAIT_MS: '3000', COSIGNER_ROUND_TIMEOUT_MS: '2500' }, partyEnv: { customer: slow, 'cloud-1': slow, 'cloud-2': slow } });
  t.after(() => s.stop());
  const key = await s.call<KeyInfo>('createKey', { workspaceId: 'ws1', algorithm: 'EDDSA_ED25519', threshold: 0, keyId: 'k_crash' });
  const sign = async (id: string, victim?: string) => {
    const msg = Buffer.from(`pay ${id}`);
    const ev = approvedEvent({ key: s.ak.privateKey, requestId: id, workspaceId: 'ws1', entries: [{ keyId: key.keyId, path: [44, 501, 0, 0, 7], payload: msg }] });
    await s.js.publish(`cosigner.requests.approved.${id}`, ev.bytes, { msgID: `${id}:approved` });
    if (victim) {
      await new Promise((r) => setTimeout(r, 600)); // inside round 1/2 (each step waits 400 ms)
      await s.procs[victim]!.kill9();
      await new Promise((r) => setTimeout(r, 300));
      await s.start(victim);
    }
    const e = await waitEvent(s, id, 60_000);
    assert.equal(e.kind, 'signed', e.kind === 'failed' ? RequestFailed.decode(e.data).reason : '');
    const sig = RequestSigned.decode(e.data).signatures[0]!;
    assert.ok(ed25519.verify(sig.signature, msg, sig.publicKey));
    assert.equal(await countOn(s, `cosigner.requests.signed.${id}`), 1);
    assert.equal(await countOn(s, `cosigner.requests.failed.${id}`), 0);
  };
  await sign('warm');
  for (const victim of ['cloud-1', 'cloud-2', 'customer']) await sign(`crash-${victim}`, victim);

  // Backup to an offline RSA recovery key, lose the signer's volume, restore into a fresh signer, sign.
  const rec = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const b = await s.call<BackupKeyResponse>('backupKey', { keyId: key.keyId, recoveryPublicKeyPem: rec.publicKey.export({ type: 'spki', format: 'pem' }) });
  assert.ok(b.backup.length > 0);
  assert.equal(b.backup.includes(Buffer.from(key.publicKey).toString('base64')), false);
  await s.procs.customer!.kill9();
  rmSync(s.dirs.customer!, { recursive: true, force: true });
  await s.start('customer');
  const restored = await s.call<KeyInfo>('restoreKey', { backup: b.backup, recoveryPrivateKeyPem: rec.privateKey.export({ type: 'pkcs8', format: 'pem' }) });
  assert.equal(restored.keyId, key.keyId);
  // A wrong recovery key opens nothing.
  const wrong = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await assert.rejects(s.call('restoreKey', { backup: b.backup, recoveryPrivateKeyPem: wrong.privateKey.export({ type: 'pkcs8', format: 'pem' }) }), /does not open/);
  await sign('after-restore');
});
