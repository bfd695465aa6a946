/**
 * A crash between sealing a request's outcome and tidying up (releasing its presignatures,
 * deleting its plans) leaves nothing behind: the redelivery republishes the sealed outcome and
 * tidies up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { Kvm } from '@nats-io/kv';
import type { KeyInfo } from '@cosigner/proto';
import { approvedEvent } from '../../../packages/party/test/helpers.ts';
import { startSystem } from './system.ts';
import { countOn, waitEvent, waitPool } from './util.ts';

test('a crash right after the outcome is durable: the redelivery republishes it and releases the presignature and the plan', async (t) => {
  const s = await startSystem({ env: { COSIGNER_POOL_TARGET: '2', COSIGNER_PRESIGN_BATCH: '2', COSIGNER_SIGNER_ACK_WAIT_MS: '2000', COSIGNER_ROUND_TIMEOUT_MS: '20000' } });
  t.after(() => s.stop());
  const key = await s.call<KeyInfo>('createKey', { workspaceId: 'ws1', algorithm: 'ECDSA_SECP256K1', threshold: 0, keyId: 'k_tidy' });
  await waitPool(s, key.keyId, 2);
  await s.procs.customer!.kill9();
  const crashing = await s.start('customer', { COSIGNER_UNSAFE_TEST_CRASH: 'after-outcome' });
  const id = 'td-1';
  const ev = approvedEvent({ key: s.ak.privateKey, requestId: id, workspaceId: 'ws1', entries: [{ keyId: key.keyId, path: [44, 60, 0, 0, 9], payload: createHash('sha256').update(id).digest(), algorithm: 'ECDSA_SECP256K1' }] });
  await s.js.publish(`cosigner.requests.approved.${id}`, ev.bytes, { msgID: `${id}:approved` });
  const exit = await crashing.exited;
  assert.equal(exit.signal, 'SIGKILL');
  assert.equal((await waitEvent(s, id)).kind, 'signed');

  // Left behind by the crash: the plan and the presignature it names.
  const plans = await new Kvm(s.js).open('cosigner-signing-plans');
  const left = await plans.get(`${id}.0`);
  assert.ok(left && left.operation === 'PUT', 'the crash left the plan');
  const presig = left.json<{ presig: string }>().presig;
  const held = () => readdirSync(s.dirs.customer!).filter((f) => f.startsWith('presig.') && f.includes(presig));
  assert.equal(held().length, 1, 'the crash left the presignature');

  await s.start('customer');
  for (let i = 0; ; i++) {
    const e = await plans.get(`${id}.0`);
    if (!e || e.operation !== 'PUT') break;
    assert.ok(i < 300, 'the plan was never cleaned up');
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(held().length, 0, 'the presignature was released');
  assert.equal(await countOn(s, `cosigner.requests.signed.${id}`), 1);
});
