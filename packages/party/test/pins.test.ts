/**
 * Configured party identities (COSIGNER_PARTY_PINS) instead of trust on first use, and the
 * attestation binding of a PartyInfo's encryption key to its identity key.
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
  DEFAULT_PARTIES, PartyError, PartyNode, SoftwareEnclaveProvider, attestationBinds, parsePartyPins, partyEnv, schemeFor,
} from '../src/index.ts';
import { approvalKeys, testTrust } from './helpers.ts';

test('parsePartyPins: party=<64 hex>, comma separated; anything else is a configuration error', () => {
  const k = randomBytes(32).toString('hex');
  assert.deepEqual([...parsePartyPins(` customer=${k} , cloud-1=${k.toUpperCase()}`).keys()], ['customer', 'cloud-1']);
  assert.equal(parsePartyPins('').size, 0);
  for (const bad of ['customer', `customer=${k.slice(2)}`, `Customer=${k}`, `customer:${k}`]) {
    assert.throws(() => parsePartyPins(bad), (e: PartyError) => e.code === 'ERR_CONFIG', bad);
  }
  assert.throws(() => partyEnv({ PARTY_ID: 'customer', PARTY_INDEX: '1', COSIGNER_PARTY_PINS: 'nope' }), (e: PartyError) => e.code === 'ERR_CONFIG');
});

test('configured identities: the parties work with the right keys; a party with another key is refused; an unbound encryption key is refused', async (t) => {
  const nats = await startNats();
  t.after(() => nats.stop());
  const ak = approvalKeys();
  const conns = await Promise.all(DEFAULT_PARTIES.map(() => connect({ servers: nats.url })));
  t.after(async () => { for (const c of conns) await c.close(); });
  const dirs = DEFAULT_PARTIES.map(() => mkdtempSync(join(tmpdir(), 'cosigner-pins-')));
  const providers = DEFAULT_PARTIES.map(() => new SoftwareEnclaveProvider(randomBytes(32)));
  const start = (i: number, partyPins: ReadonlyMap<string, Uint8Array>) => PartyNode.start({
    nc: conns[i]!, partyId: DEFAULT_PARTIES[i]!.id, index: DEFAULT_PARTIES[i]!.index, dataDir: dirs[i]!, provider: providers[i]!,
    approvalKey: ak.publicKey, trust: testTrust(), allowTofu: true, scheme: schemeFor, roundTimeoutMs: 3000, log: () => undefined, partyPins, gc: { intervalMs: 0 },
  });
  // First start: each party makes its identity; the operator reads them (as `cosigner parties list` does).
  let nodes = await Promise.all(DEFAULT_PARTIES.map((_, i) => start(i, new Map())));
  const infos = nodes.map((n) => n.info());
  for (const info of infos) assert.equal(attestationBinds(info), true, info.partyId);
  for (const n of nodes) await n.stop();
  const pins = new Map(infos.map((i) => [i.partyId, new Uint8Array(i.identityPublicKey)]));

  nodes = await Promise.all(DEFAULT_PARTIES.map((_, i) => start(i, pins)));
  const keygen = (node: PartyNode, keyId: string) => node.coordinate({
    kind: 'KEYGEN', keyId, parties: DEFAULT_PARTIES.map((p) => p.id), context: Buffer.alloc(0), workspaceId: 'ws1', algorithm: 'EDDSA_ED25519',
    threshold: 3, count: 0, entryIndex: 0, presignatureId: Buffer.alloc(0), requestId: '', epoch: 0,
  });
  assert.ok(await keygen(nodes[0]!, 'k_pinned'), 'keygen with the configured identities');

  // The customer is told to expect another key for cloud-1: it refuses to run a session with it,
  // even though it pinned the real one before.
  await nodes[0]!.stop();
  const wrong = new Map(pins);
  wrong.set('cloud-1', new Uint8Array(randomBytes(32)));
  const customer = await start(0, wrong);
  nodes[0] = customer;
  t.after(async () => { for (const n of nodes) await n.stop(); });
  await assert.rejects(keygen(customer, 'k_refused'), (e: PartyError) => e.code === 'ERR_UNKNOWN_PARTY' && /configured/.test(e.message));

  // A PartyInfo whose encryption key is not the one its identity key signed is not bound.
  const swapped = { ...infos[1]!, encryptionPublicKey: Buffer.from(randomBytes(32)) };
  assert.equal(attestationBinds(swapped), false);
  const resigned = { ...infos[1]!, attestation: Buffer.concat([infos[1]!.attestation.subarray(0, infos[1]!.attestation.length - 64), randomBytes(64)]) };
  assert.equal(attestationBinds(resigned), false);
});
