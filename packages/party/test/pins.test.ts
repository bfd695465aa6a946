/**
 * Configured party identities (COSIGNER_PARTY_PINS) instead of trust on first use, and the
 * attestation binding of a PartyInfo's encryption key to its identity key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { spawnNode, startNats } from '@cosigner/platform/testing';
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

test('outside development a party without pins refuses to start (naming its own identity for the operator to pin); with the pins, or COSIGNER_DEV_TOFU=1, it starts', async (t) => {
  const nats = await startNats();
  t.after(() => nats.stop());
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  const ak = approvalKeys();
  // In process: PartyNode.start without pins and without allowTofu.
  const provider = new SoftwareEnclaveProvider(randomBytes(32));
  const dataDir = mkdtempSync(join(tmpdir(), 'cosigner-nopins-'));
  const opts = { nc, partyId: 'customer', index: 1, dataDir, provider, approvalKey: ak.publicKey, trust: testTrust(), scheme: schemeFor, log: () => undefined, gc: { intervalMs: 0 } };
  let own = '';
  await assert.rejects(PartyNode.start(opts), (e: PartyError) => {
    const m = /COSIGNER_PARTY_PINS is required.*customer=([0-9a-f]{64})/.exec(e.message);
    own = m?.[1] ?? '';
    return e.code === 'ERR_CONFIG' && own !== '';
  });
  const node = await PartyNode.start({ ...opts, partyPins: parsePartyPins(`customer=${own}`) });
  assert.equal(Buffer.from(node.info().identityPublicKey).toString('hex'), own, 'the identity named in the refusal is the party\'s own');
  await node.stop();

  // As its own process (a cloud party as a deployment runs it).
  const dir = mkdtempSync(join(tmpdir(), 'cosigner-nopins-proc-'));
  const sealing = join(dir, 'sealing.key');
  writeFileSync(sealing, randomBytes(32).toString('hex'));
  const main = join(import.meta.dirname, '..', '..', '..', 'services/cloud-cosigner-sim/src/parties/main.ts');
  const env = { NATS_URL: nats.url, PARTY_DATA_DIR: join(dir, 'data'), COSIGNER_SEALING_KEY_FILE: sealing, COSIGNER_APPROVAL_PUBLIC_KEY_FILE: ak.publicFile, COSIGNER_PARTY_PINS: '', COSIGNER_DEV_TOFU: '' };
  const refused = spawnNode(main, { args: ['--party', 'cloud-1'], env });
  const exit = await refused.exited;
  assert.notEqual(exit.code, 0);
  const line = (refused.stdout() + refused.stderr()).split('\n').find((l) => /COSIGNER_PARTY_PINS is required/.test(l));
  assert.ok(line, `no refusal naming the pins: ${refused.stderr().slice(-500)}`);
  const id = /cloud-1=([0-9a-f]{64})/.exec(line)![1]!;
  const dev = spawnNode(main, { args: ['--party', 'cloud-1'], env: { ...env, COSIGNER_DEV_TOFU: '1' } });
  await dev.waitForOutput(/party ready/, 60_000);
  await dev.kill9();
  const pinned = spawnNode(main, { args: ['--party', 'cloud-1'], env: { ...env, COSIGNER_PARTY_PINS: `cloud-1=${id}` } });
  await pinned.waitForOutput(/party ready/, 60_000);
  await pinned.kill9();
});
