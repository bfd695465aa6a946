/**
 * Each party's version counters live in its own bucket (the bus authorization lets only that party
 * write it). A store sealed when every party shared one bucket keeps working: its counters are
 * carried over once, and a rollback is still detected afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { startNats } from '@cosigner/platform/testing';
import { PartyError, SEALED_VERSIONS_BUCKET, SealedStore, SoftwareEnclaveProvider, carryOverCounters, kvVersionCounter, openKv, sealedVersionsBucketOf } from '../src/index.ts';

test('counters sealed in the shared bucket are carried over to the party\'s own, once; a rollback is still refused', async (t) => {
  const nats = await startNats();
  t.after(() => nats.stop());
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  const dir = mkdtempSync(join(tmpdir(), 'cosigner-counters-'));
  const provider = new SoftwareEnclaveProvider(randomBytes(32));
  const logs: string[] = [];
  const log = (_l: string, msg: string) => { logs.push(msg); };

  // Sealed by an earlier version: counters in the shared bucket (another party's too).
  const legacy = await openKv(nc, SEALED_VERSIONS_BUCKET);
  const old = new SealedStore({ dir, party: 'cloud-1', provider, counter: kvVersionCounter(legacy) });
  await old.init();
  await old.put('share.k1', new TextEncoder().encode('v1'));
  const f1 = readdirSync(dir).find((f) => f.startsWith('share.k1.'))!;
  const v1 = readFileSync(join(dir, f1));
  await old.put('share.k1', new TextEncoder().encode('v2'));
  await legacy.put('cloud-2.share.k1', '7');

  assert.equal(sealedVersionsBucketOf('cloud-1'), 'cosigner-sealed-versions-cloud-1');
  const own = await openKv(nc, sealedVersionsBucketOf('cloud-1'));
  assert.ok(await carryOverCounters(nc, own, 'cloud-1', log) > 0);
  assert.equal((await own.get('cloud-2.share.k1')), null, 'another party\'s counters stay where they were');
  const store = new SealedStore({ dir, party: 'cloud-1', provider, counter: kvVersionCounter(own) });
  await store.init();
  assert.equal(new TextDecoder().decode((await store.get('share.k1'))!), 'v2');
  // Once only: a later start with counters in its own bucket copies nothing.
  assert.equal(await carryOverCounters(nc, own, 'cloud-1', log), 0);

  // The rollback protection holds with the carried-over counters: an old file put back is refused.
  const f2 = readdirSync(dir).find((f) => f.startsWith('share.k1.'))!;
  writeFileSync(join(dir, f2), v1);
  const fresh = new SealedStore({ dir, party: 'cloud-1', provider, counter: kvVersionCounter(own) });
  await fresh.init();
  await assert.rejects(fresh.get('share.k1'), (e: PartyError) => e.code === 'ERR_SEALED_ROLLBACK');
});
