/**
 * Sealed-store garbage collection (gc.ts) against a real nats-server: old bindings whose
 * presignature is gone are collected with their counters; bindings of live presignatures, young
 * bindings, current-epoch and bound presignatures stay; a collected record reads as absent even
 * when its old file is put back, and after a restart (counters read once at start).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, utimesSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { startNats } from '@cosigner/platform/testing';
import { SealedStore, SoftwareEnclaveProvider, collectGarbage, kvVersionCounter, openKv } from '../src/index.ts';

const HOUR = 3_600_000;

test('collectGarbage: old bindings and stranded old-epoch presignatures go, everything in use stays', async (t) => {
  const nats = await startNats();
  t.after(() => nats.stop());
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  const dir = mkdtempSync(join(tmpdir(), 'cosigner-gc-'));
  const provider = new SoftwareEnclaveProvider(randomBytes(32));
  const open = async () => {
    const s = new SealedStore({ dir, party: 'cloud-1', provider, counter: kvVersionCounter(await openKv(nc, 'cosigner-sealed-versions')) });
    await s.init();
    return s;
  };
  const store = await open();
  const put = (n: string) => store.put(n, new TextEncoder().encode(n));
  const id = (i: number) => i.toString(16).padStart(32, '0');
  // Key k1 at epoch 1 (epoch 0 refreshed away).
  await put('share.k1.1');
  await put(`presig.k1.1.${id(1)}`); // current epoch, unbound: stays
  await put(`presig.k1.0.${id(2)}`); // old epoch, unbound, old: goes
  await put(`presig.k1.0.${id(3)}`); // old epoch, bound: stays (its signature may be in flight)
  await put(`bind.k1.${id(3)}`);
  await put(`bind.k1.${id(4)}`); // presignature gone, old: goes
  await put(`bind.k1.${id(5)}`); // presignature gone, young: stays
  await put(`presig.k1.0.${id(6)}`); // old epoch, unbound, young (inside the grace): stays
  await put('done.req-old'); // an outcome from long ago: goes
  await put('done.req-new'); // a recent outcome: stays
  const oldFile = readdirSync(dir).find((f) => f.startsWith(`bind.k1.${id(4)}.v`))!;
  copyFileSync(join(dir, oldFile), join(dir, 'saved-binding'));
  const backdate = (name: string, ms: number) => {
    for (const f of readdirSync(dir)) if (f.startsWith(`${name}.v`)) utimesSync(join(dir, f), (Date.now() - ms) / 1000, (Date.now() - ms) / 1000);
  };
  backdate(`presig.k1.0.${id(2)}`, 2 * HOUR);
  backdate(`presig.k1.0.${id(3)}`, 2 * HOUR);
  backdate(`bind.k1.${id(3)}`, 9 * 24 * HOUR);
  backdate(`bind.k1.${id(4)}`, 9 * 24 * HOUR);
  backdate('done.req-old', 9 * 24 * HOUR);

  const r = await collectGarbage(store);
  assert.deepEqual(r, { bindings: 1, presignatures: 1, outcomes: 1 });
  assert.equal(await store.get('done.req-old'), undefined);
  assert.equal(await store.get(`bind.k1.${id(4)}`), undefined);
  assert.equal(await store.get(`presig.k1.0.${id(2)}`), undefined);
  for (const kept of [`presig.k1.1.${id(1)}`, `presig.k1.0.${id(3)}`, `bind.k1.${id(3)}`, `bind.k1.${id(5)}`, `presig.k1.0.${id(6)}`, 'share.k1.1', 'done.req-new']) {
    assert.ok(await store.get(kept), `${kept} kept`);
  }
  // The counter is gone too (nothing grows per signature), and a put-back file is not read.
  const kv = await openKv(nc, 'cosigner-sealed-versions');
  const e = await kv.get(`cloud-1.bind.k1.${id(4)}`);
  assert.ok(!e || e.operation !== 'PUT', 'counter purged');
  copyFileSync(join(dir, 'saved-binding'), join(dir, oldFile));
  assert.equal(await store.get(`bind.k1.${id(4)}`), undefined);
  const again = await open();
  assert.equal(await again.get(`bind.k1.${id(4)}`), undefined, 'absent after a restart as well');
  assert.ok(await again.get(`bind.k1.${id(3)}`));
  // A collected name can be written again from scratch.
  await again.put(`bind.k1.${id(4)}`, new TextEncoder().encode('new'));
  assert.equal(new TextDecoder().decode((await again.get(`bind.k1.${id(4)}`))!), 'new');
  // Nothing more to collect.
  assert.deepEqual(await collectGarbage(again), { bindings: 0, presignatures: 0, outcomes: 0 });
});
