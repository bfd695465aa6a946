/** A tampering cloud party is blamed and no signature is produced. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestFailed, type KeyInfo } from '@cosigner/proto';
import { approvedEvent } from '../../../packages/party/test/helpers.ts';
import { startSystem } from './system.ts';
import { countOn, waitEvent } from './util.ts';

test('tampering cloud party: blamed by identifiable abort, request failed, nothing signed', async (t) => {
  const s = await startSystem({ partyEnv: { 'cloud-1': { COSIGNER_UNSAFE_TEST_TAMPER: 'SIGN' } } });
  t.after(() => s.stop());
  const key = await s.call<KeyInfo>('createKey', { workspaceId: 'ws1', algorithm: 'EDDSA_ED25519', threshold: 0, keyId: 'k_tamper' });
  const ev = approvedEvent({ key: s.ak.privateKey, requestId: 'tamper-1', workspaceId: 'ws1', entries: [{ keyId: key.keyId, path: [1, 2], payload: Buffer.from('abc') }] });
  await s.js.publish('cosigner.requests.approved.tamper-1', ev.bytes, { msgID: 'tamper-1:approved' });
  const e = await waitEvent(s, 'tamper-1');
  assert.equal(e.kind, 'failed');
  const f = RequestFailed.decode(e.data);
  assert.equal(f.code, 'ERR_MPC_ABORT');
  assert.deepEqual(f.culprits, ['cloud-1']);
  assert.equal(await countOn(s, 'cosigner.requests.signed.tamper-1'), 0);
});
