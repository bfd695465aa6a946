/**
 * A redelivered approval whose outcome is already in the stream (an earlier run published it and
 * stopped before sealing it: the seal and the publish overlap) is settled from the stream: the
 * signer keeps that event and signs nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestSigned, type KeyInfo } from '@cosigner/proto';
import { freePort } from '@cosigner/platform/testing';
import { approvedEvent } from '../../../packages/party/test/helpers.ts';
import { SIGNER_CONSUMER } from '../src/signer.ts';
import { startSystem } from './system.ts';
import { countOn, waitEvent } from './util.ts';

test('a redelivered approval whose signed event is already in the stream is settled from it: nothing is signed again', async (t) => {
  const metricsPort = await freePort();
  const s = await startSystem({ env: { COSIGNER_ROUND_TIMEOUT_MS: '1500' }, partyEnv: { customer: { METRICS_PORT: String(metricsPort) } } });
  t.after(() => s.stop());
  const signedTotal = async (): Promise<number> => Number(/^cosigner_requests_signed_total (\d+)$/m.exec(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text())?.[1]);
  const key = await s.call<KeyInfo>('createKey', { workspaceId: 'ws1', algorithm: 'EDDSA_ED25519', threshold: 0, keyId: 'k_redeliver' });

  // The first delivery cannot sign (both cloud parties are down): it is retried.
  await s.procs['cloud-1']!.kill9();
  await s.procs['cloud-2']!.kill9();
  const id = 'rd-1';
  const ev = approvedEvent({ key: s.ak.privateKey, requestId: id, workspaceId: 'ws1', entries: [{ keyId: key.keyId, path: [], payload: Buffer.from('pay once'), algorithm: 'EDDSA_ED25519' }] });
  await s.js.publish(`cosigner.requests.approved.${id}`, ev.bytes, { msgID: `${id}:approved` });
  await s.procs.customer!.waitForOutput(/signing will be retried/, 30_000);
  // Meanwhile the outcome of "an earlier run" reaches the stream.
  const earlier = RequestSigned.encode({ requestId: id, signatures: [], signedAtMs: 1 }).finish();
  await s.js.publish(`cosigner.requests.signed.${id}`, earlier, { msgID: `${id}:signed` });
  await s.start('cloud-1');
  await s.start('cloud-2');

  // The redelivery is acked without a signing session.
  const jsm = await s.js.jetstreamManager();
  for (let i = 0; ; i++) {
    const c = await jsm.consumers.info('COSIGNER_REQUESTS', SIGNER_CONSUMER);
    if (c.num_ack_pending === 0 && c.num_pending === 0 && c.delivered.consumer_seq >= 2) break;
    assert.ok(i < 300, 'the redelivered approval was never acked');
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(await signedTotal(), 0);
  assert.equal(await countOn(s, `cosigner.requests.signed.${id}`), 1);
  assert.deepEqual(Buffer.from((await waitEvent(s, id)).data), Buffer.from(earlier));

  // The system still signs.
  const ev2 = approvedEvent({ key: s.ak.privateKey, requestId: 'rd-2', workspaceId: 'ws1', entries: [{ keyId: key.keyId, path: [], payload: Buffer.from('next'), algorithm: 'EDDSA_ED25519' }] });
  await s.js.publish('cosigner.requests.approved.rd-2', ev2.bytes, { msgID: 'rd-2:approved' });
  assert.equal((await waitEvent(s, 'rd-2')).kind, 'signed');
  assert.equal(await signedTotal(), 1);
});
