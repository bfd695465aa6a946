/** kill -9 of each party in the middle of an ECDSA (CMP) signing round with a presignature. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { RequestFailed, RequestSigned, type KeyInfo, type PoolStatusResponse } from '@cosigner/proto';
import { approvedEvent } from '../../../packages/party/test/helpers.ts';
import { startSystem } from './system.ts';
import { countOn, waitEvent } from './util.ts';

test('ECDSA: kill -9 of each party mid-round; after restart exactly one signature per request', async (t) => {
  const slow = { COSIGNER_UNSAFE_TEST_SLOW_MS: '1500' };
  const s = await startSystem({
    env: { COSIGNER_SIGNER_ACK_WAIT_MS: '4000', COSIGNER_ROUND_TIMEOUT_MS: '15000', COSIGNER_POOL_TARGET: '4', COSIGNER_PRESIGN_BATCH: '4' },
    partyEnv: { customer: slow, 'cloud-1': slow, 'cloud-2': slow },
  });
  t.after(() => s.stop());
  const key = await s.call<KeyInfo>('createKey', { workspaceId: 'ws1', algorithm: 'ECDSA_SECP256K1', threshold: 0, keyId: 'k_crash_ec' });
  for (let i = 0; i < 600; i++) {
    const p = await s.call<PoolStatusResponse>('getPoolStatus', { keyId: key.keyId });
    if ((p.pools[0]?.ready ?? 0) >= 4) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const sign = async (id: string, victim?: string) => {
    const digest = createHash('sha256').update(id).digest();
    const ev = approvedEvent({ key: s.ak.privateKey, requestId: id, workspaceId: 'ws1', entries: [{ keyId: key.keyId, path: [44, 60, 0, 0, 9], payload: digest }] });
    await s.js.publish(`cosigner.requests.approved.${id}`, ev.bytes, { msgID: `${id}:approved` });
    if (victim) {
      await new Promise((r) => setTimeout(r, 900)); // shares sealed, not yet sent (each step waits 1.5 s)
      await s.procs[victim]!.kill9();
      await s.start(victim);
    }
    const e = await waitEvent(s, id, 120_000);
    assert.equal(e.kind, 'signed', e.kind === 'failed' ? RequestFailed.decode(e.data).reason : '');
    const sig = RequestSigned.decode(e.data).signatures[0]!;
    assert.ok(secp256k1.verify(sig.signature, digest, sig.publicKey, { prehash: false }));
    assert.equal(await countOn(s, `cosigner.requests.signed.${id}`), 1);
  };
  await sign('ec-warm');
  for (const victim of ['cloud-1', 'cloud-2', 'customer']) await sign(`ec-crash-${victim}`, victim);
});
