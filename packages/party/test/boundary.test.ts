/**
 * The enclave boundary (docs/architecture.md, "The enclave boundary"): a started PartyNode exposes
 * no enclave and no sealed store, only the coordinator's facade (CoordinatorRecords), whose record
 * names are the enclave's own (records.ts). The lint rule in eslint.config.js keeps service code
 * away from `@cosigner/party/testing`, the only way behind it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { startNats } from '@cosigner/platform/testing';
import {
  CoordinatorRecords, PartyNode, SealedStore, SoftwareEnclaveProvider, bindingRecord, kvVersionCounter, openKv, presignatureRecord, schemeFor,
} from '../src/index.ts';
import { approvalKeys, testTrust } from './helpers.ts';

test('a started PartyNode exposes neither its enclave nor its sealed store; its records facade holds no store either', async (t) => {
  const nats = await startNats();
  t.after(() => nats.stop());
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  const node = await PartyNode.start({
    nc, partyId: 'customer', index: 1, dataDir: mkdtempSync(join(tmpdir(), 'cosigner-boundary-')), provider: new SoftwareEnclaveProvider(randomBytes(32)),
    approvalKey: approvalKeys().publicKey, trust: testTrust(), allowTofu: true, scheme: schemeFor, log: () => undefined, gc: { intervalMs: 0 },
  });
  t.after(() => node.stop());
  // @ts-expect-error the enclave is not part of PartyNode's type
  assert.equal(node.enclave, undefined);
  // @ts-expect-error nor is the store
  assert.equal(node.store, undefined);
  // Nothing reachable by walking the node's and the facade's public properties is a store or an enclave.
  const seen = new Set<unknown>();
  const walk = (o: unknown, depth: number): void => {
    if (o === null || typeof o !== 'object' || seen.has(o) || depth > 3) return;
    seen.add(o);
    assert.ok(!(o instanceof SealedStore), 'a SealedStore is reachable from a PartyNode');
    assert.ok(!('identitySign' in o), 'an Enclave is reachable from a PartyNode');
    for (const k of Object.keys(o)) walk((o as Record<string, unknown>)[k], depth + 1);
  };
  walk(node, 0);
  assert.ok(node.records instanceof CoordinatorRecords);
  assert.deepEqual(Object.keys(node.records), []);
});

test('CoordinatorRecords.freePresignatures: bound presignatures are not free, under the enclave\'s record names (key ids that need a token too)', async (t) => {
  const nats = await startNats();
  t.after(() => nats.stop());
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  const store = new SealedStore({
    dir: mkdtempSync(join(tmpdir(), 'cosigner-records-')), party: 'customer', provider: new SoftwareEnclaveProvider(randomBytes(32)),
    counter: kvVersionCounter(await openKv(nc, 'cosigner-sealed-versions')),
  });
  await store.init();
  const records = new CoordinatorRecords(store);
  const id = (i: number) => i.toString(16).padStart(32, '0');
  const one = new TextEncoder().encode('x');
  // A key id with characters outside a record token: the enclave names its records by token(keyId);
  // a facade spelling `bind.${keyId}.` itself would find no binding and hand out a bound presignature.
  for (const keyId of ['k1', 'workspace/key.1']) {
    await store.put(presignatureRecord(keyId, 0, id(1)), one);
    await store.put(presignatureRecord(keyId, 0, id(2)), one);
    await store.put(presignatureRecord(keyId, 1, id(3)), one);
    await store.put(bindingRecord(keyId, id(2)), one);
    assert.deepEqual(await records.freePresignatures(keyId, 0), [id(1)], keyId);
    assert.deepEqual(await records.freePresignatures(keyId, 1), [id(3)], keyId);
    await records.releasePresignature(keyId, 0, id(1));
    assert.deepEqual(await records.freePresignatures(keyId, 0), [], keyId);
  }
  await records.sealOutcome('req/1', one);
  assert.deepEqual(await records.outcome('req/1'), one);
  await records.sealEntrySignature('req/1', 2, one);
  assert.deepEqual(await records.entrySignature('req/1', 2), one);
  await records.dropEntrySignature('req/1', 2);
  assert.equal(await records.entrySignature('req/1', 2), undefined);
});
