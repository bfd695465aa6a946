/**
 * Over NATS, with real parties: broadcast equivocation (issue 13 item 2): a party that sends
 * different broadcast bodies to different peers, in CMP presigning round 2 or in online signing,
 * is named by every honest party, and the outcome it is named in carries its two signed bodies'
 * digests. Verifiable complaints (item 3): a party that falsely accuses an honest sender, with
 * its genuine signed messages or forged ones, is named itself.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { startNats } from '@cosigner/platform/testing';
import { BROADCAST, type ProtocolMessage } from '@cosigner/mpc';
import { PartyEnvelope, SessionOutcome } from '@cosigner/proto';
import { PartyNode, SoftwareEnclaveProvider, schemeFor, DEFAULT_PARTIES, primeExtras, type PartyError } from '../src/index.ts';
import { decodeEvidence, encodeEvidence, verifySignedDigest, type SignedBody } from '../src/evidence.ts';
import { subjects } from '../src/transport.ts';
import { approvalKeys, approvedEvent, testTrust } from './helpers.ts';

interface Failure { party: string; culprits: string[] }

async function threeParties(t: TestContext): Promise<{ ak: ReturnType<typeof approvalKeys>; nodes: PartyNode[]; failures: Failure[]; outcomes: SessionOutcome[] }> {
  const nats = await startNats();
  t.after(() => nats.stop());
  const ak = approvalKeys();
  const conns = await Promise.all([...DEFAULT_PARTIES, 0].map(() => connect({ servers: nats.url })));
  t.after(async () => { for (const c of conns) await c.close(); });
  const failures: Failure[] = [];
  const outcomes: SessionOutcome[] = [];
  const watch = conns[3]!;
  watch.subscribe(subjects.outcome, { callback: (_e, m) => { outcomes.push(SessionOutcome.decode(PartyEnvelope.decode(m.data).payload)); } });
  const extras = primeExtras({ COSIGNER_TEST_PRIMES: '1' });
  const nodes = await Promise.all(DEFAULT_PARTIES.map((p, i) => PartyNode.start({
    nc: conns[i]!, partyId: p.id, index: p.index, dataDir: mkdtempSync(join(tmpdir(), 'cosigner-equiv-')), provider: new SoftwareEnclaveProvider(randomBytes(32)),
    approvalKey: ak.publicKey, trust: testTrust(), allowTofu: true, scheme: schemeFor, roundTimeoutMs: 60_000, keygenExtras: extras,
    log: (_level, msg, fields) => { if (msg === 'session failed') failures.push({ party: p.id, culprits: [...((fields?.culprits as string[] | undefined) ?? [])] }); },
  })));
  t.after(async () => { for (const n of nodes) await n.stop(); });
  return { ak, nodes, failures, outcomes };
}

/**
 * Makes `node` send, for the broadcasts `which` selects, `toFirst(body)` to the first other party
 * and `toSecond(body)` to the second, each signed by it: a broadcast equivocation.
 */
function equivocate(node: PartyNode, which: (m: ProtocolMessage) => boolean, toFirst: (body: Uint8Array) => Uint8Array, toSecond: (body: Uint8Array) => Uint8Array): void {
  const tr = node.transport;
  const orig = tr.send.bind(tr);
  tr.send = async (h, m, parties, echo) => {
    if (m.to !== BROADCAST || !which(m)) return orig(h, m, parties, echo);
    const [a, b] = parties.filter((p) => p.id !== tr.self);
    await orig(h, { ...m, body: toFirst(m.body) }, parties.filter((p) => p.id === tr.self || p.id === a!.id), echo);
    return orig(h, { ...m, body: toSecond(m.body) }, parties.filter((p) => p.id === tr.self || p.id === b!.id), echo);
  };
}

function assertNamedByEveryHonest(failures: Failure[], outcomes: SessionOutcome[], cheater: string, cheaterKey: Parameters<typeof verifySignedDigest>[0]): void {
  for (const honest of DEFAULT_PARTIES.map((p) => p.id).filter((p) => p !== cheater)) {
    const f = failures.find((x) => x.party === honest);
    assert.ok(f, `${honest} did not fail`);
    assert.deepEqual(f.culprits, [cheater], `${honest} named ${f.culprits.join(',')}`);
    const o = outcomes.find((x) => x.partyId === honest && !x.ok);
    assert.ok(o, `${honest} published no failure`);
    assert.deepEqual(o.culprits, [cheater]);
    assert.match(o.reason, /two different signed/);
    const dec = decodeEvidence(o.evidence);
    assert.equal(dec?.kind, 'equivocation');
    const ev = dec.kind === 'equivocation' ? dec.digests : [];
    assert.equal(ev.length, 2, 'two signed digests as evidence');
    for (const e of ev) assert.ok(verifySignedDigest(cheaterKey, e, o.sessionId), 'each is signed by the cheater');
    assert.notDeepEqual(Buffer.from(ev[0]!.digest), Buffer.from(ev[1]!.digest));
  }
}

const until = async (f: () => boolean, ms = 60_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
};

test('CMP presigning round 2: a party that broadcasts different MtA ciphertexts to its two peers is named by both, with its two signed bodies', async (t) => {
  const { nodes, failures, outcomes } = await threeParties(t);
  const [customer, , cloud2] = nodes;
  const base = { keyId: 'k_eq', parties: DEFAULT_PARTIES.map((p) => p.id), workspaceId: 'ws1', algorithm: 'ECDSA_SECP256K1' as const, threshold: 3, entryIndex: 0, epoch: 0, presignatureId: Buffer.alloc(0), requestId: '' };
  await customer!.coordinate({ ...base, kind: 'KEYGEN', context: Buffer.alloc(0), count: 0 });
  // Round-2 broadcast: ver, tag, u16 count, Γ (33 bytes), then D_{1,3} (u32 length, bytes), ...
  // D_{1,3} is checked by party 1 only (Π^aff-g); party 2 takes any unit, so the altered copy
  // passes party 2's own checks: only the echo can catch it.
  equivocate(cloud2!, (m) => m.protocol === 'cmp/presign' && m.round === 2, (body) => body, (body) => {
    const b = body.slice();
    const len = new DataView(b.buffer, b.byteOffset + 37, 4).getUint32(0);
    b[41 + len - 1] = b[41 + len - 1]! ^ 2;
    return b;
  });
  await assert.rejects(customer!.coordinate({ ...base, kind: 'PRESIGN', context: Buffer.alloc(0), count: 1 }), (e: PartyError) => e.code === 'ERR_MPC_ABORT' && e.culprits.join(',') === 'cloud-2');
  await until(() => outcomes.filter((o) => !o.ok && o.partyId !== 'cloud-2').length >= 2);
  assertNamedByEveryHonest(failures, outcomes, 'cloud-2', (await customer!.transport.registry.resolve('cloud-2')).verifyKey);
});

test('CMP signing: a party that broadcasts different σ to its two peers is named by both, with its two signed bodies (still one round when nobody cheats)', async (t) => {
  const { ak, nodes, failures, outcomes } = await threeParties(t);
  const [customer, , cloud2] = nodes;
  const keyId = 'k_eqs';
  const base = { keyId, parties: DEFAULT_PARTIES.map((p) => p.id), workspaceId: 'ws1', algorithm: 'ECDSA_SECP256K1' as const, threshold: 3, entryIndex: 0, epoch: 0 };
  await customer!.coordinate({ ...base, kind: 'KEYGEN', context: Buffer.alloc(0), count: 0, presignatureId: Buffer.alloc(0), requestId: '' });
  const pre = JSON.parse(new TextDecoder().decode(await customer!.coordinate({ ...base, kind: 'PRESIGN', context: Buffer.alloc(0), count: 2, presignatureId: Buffer.alloc(0), requestId: '' }))) as { presignatureIds: string[] };
  const sign = (requestId: string, presig: string, text: string) => {
    const ev = approvedEvent({ key: ak.privateKey, requestId, workspaceId: 'ws1', entries: [{ keyId, path: [0, 1], payload: createHash('sha256').update(text).digest() }] });
    return customer!.coordinate({ ...base, sessionId: randomBytes(32), kind: 'SIGN', context: Buffer.from(ev.bytes), count: 0, presignatureId: Buffer.from(presig), requestId });
  };
  // Honest first: signs in one round.
  assert.ok(await sign('r1', pre.presignatureIds[0]!, 'one'));
  assert.equal(failures.length, 0);
  // σ is the scalar at offset 2 of the round-1 body; each peer gets a different wrong one.
  const flip = (bit: number) => (body: Uint8Array): Uint8Array => {
    const b = body.slice();
    b[33] = b[33]! ^ (1 << bit);
    return b;
  };
  equivocate(cloud2!, (m) => m.protocol === 'cmp/sign' && m.round === 1, flip(0), flip(1));
  await assert.rejects(sign('r2', pre.presignatureIds[1]!, 'two'), (e: PartyError) => e.code === 'ERR_MPC_ABORT' && e.culprits.join(',') === 'cloud-2');
  await until(() => outcomes.filter((o) => !o.ok && o.partyId !== 'cloud-2').length >= 2);
  assertNamedByEveryHonest(failures, outcomes, 'cloud-2', (await customer!.transport.registry.resolve('cloud-2')).verifyKey);
});

/**
 * Makes `node` a false accuser in the next CMP presigning: it captures the honest `victim`'s
 * signed round-1 messages to it, stops sending, and publishes a failure blaming the victim with
 * them (or with `forge` applied) as its evidence.
 */
function falselyAccuse(node: PartyNode, victim: number, forge?: (b: SignedBody) => SignedBody, alsoNamed: readonly string[] = []): void {
  const tr = node.transport;
  const send = tr.send.bind(tr);
  tr.send = async (h, m, parties, echo) => (m.round >= 2 ? { from: m.from, round: m.round, digest: new Uint8Array(32), sig: new Uint8Array(64) } : send(h, m, parties, echo));
  const register = tr.register.bind(tr);
  tr.register = (sessionId, handler) => register(sessionId, (e) => {
    handler(e);
    if (e.kind !== 'message' || e.message.from !== victim || e.message.round !== 1) return;
    const got = (caught.get(Buffer.from(sessionId).toString('hex')) ?? []).concat({ wire: e.wire, sig: e.signed.sig, echo: [] });
    caught.set(Buffer.from(sessionId).toString('hex'), got);
    if (got.length !== 2) return;
    const bodies = forge ? got.map(forge) : got;
    tr.publishOutcome({
      sessionId: Buffer.from(sessionId), partyId: tr.self, ok: false, code: 'ERR_MPC_ABORT', reason: 'Π^enc failed (a lie)', culprits: [DEFAULT_PARTIES.find((p) => p.index === victim)!.id, ...alsoNamed],
      result: Buffer.alloc(0), evidence: Buffer.from(encodeEvidence({ kind: 'complaint', bodies })),
    }, 'PRESIGN', 'k_fc');
  });
  const caught = new Map<string, SignedBody[]>();
}

for (const forged of [false, true]) {
  test(`verifiable complaints: a false complaint ${forged ? 'with forged evidence ' : ''}against an honest sender names the complainer, and the sender is not blamed`, async (t) => {
    const { nodes, failures } = await threeParties(t);
    const [customer, , cloud2] = nodes;
    const base = { keyId: 'k_fc', parties: DEFAULT_PARTIES.map((p) => p.id), workspaceId: 'ws1', algorithm: 'ECDSA_SECP256K1' as const, threshold: 3, entryIndex: 0, epoch: 0, presignatureId: Buffer.alloc(0), requestId: '' };
    await customer!.coordinate({ ...base, kind: 'KEYGEN', context: Buffer.alloc(0), count: 0 });
    // cloud-2 accuses cloud-1 (index 2) with cloud-1's genuine signed messages, or altered ones.
    falselyAccuse(cloud2!, 2, forged ? (b) => ({ ...b, wire: Uint8Array.from([...b.wire.subarray(0, b.wire.length - 1), b.wire[b.wire.length - 1]! ^ 1]) }) : undefined);
    await assert.rejects(customer!.coordinate({ ...base, kind: 'PRESIGN', context: Buffer.alloc(0), count: 1 }), (e: PartyError) => {
      assert.equal(e.code, 'ERR_MPC_ABORT');
      assert.match(e.message, /complaint refused/);
      return true;
    });
    await until(() => ['customer', 'cloud-1'].every((p) => failures.some((f) => f.party === p)));
    // Whichever honest party judges the complaint first names the complainer; the other may get
    // that refusal (which carries no evidence) before the complaint and then names nobody (a
    // known race, see the attack-cmp report). The framed sender is never named.
    const honest = failures.filter((f) => f.party !== 'cloud-2');
    for (const f of honest) assert.ok(f.culprits.length === 0 || f.culprits.join(',') === 'cloud-2', `${f.party} named ${f.culprits.join(',')}`);
    assert.ok(honest.some((f) => f.culprits.join(',') === 'cloud-2'), 'the complainer is named');
  });
}

// attack-cmp: a complaint that also names an id outside the session skipped the re-check and was
// taken as given, so every honest party named the framed sender.
test('verifiable complaints: a false complaint that also names a party outside the session names the complainer, not the framed sender', async (t) => {
  const { nodes, failures } = await threeParties(t);
  const [customer, , cloud2] = nodes;
  const base = { keyId: 'k_fc', parties: DEFAULT_PARTIES.map((p) => p.id), workspaceId: 'ws1', algorithm: 'ECDSA_SECP256K1' as const, threshold: 3, entryIndex: 0, epoch: 0, presignatureId: Buffer.alloc(0), requestId: '' };
  await customer!.coordinate({ ...base, kind: 'KEYGEN', context: Buffer.alloc(0), count: 0 });
  falselyAccuse(cloud2!, 2, undefined, ['not-a-party']);
  await assert.rejects(customer!.coordinate({ ...base, kind: 'PRESIGN', context: Buffer.alloc(0), count: 1 }), (e: PartyError) => e.code === 'ERR_MPC_ABORT');
  await until(() => ['customer', 'cloud-1'].every((p) => failures.some((f) => f.party === p)));
  const honest = failures.filter((f) => f.party !== 'cloud-2');
  // Whichever honest party judges the complaint first names the complainer; the other may see
  // that refusal first (it carries no evidence) and then names nobody. Nobody names cloud-1.
  for (const f of honest) assert.ok(f.culprits.length === 0 || f.culprits.join(',') === 'cloud-2', `${f.party} named ${f.culprits.join(',')}`);
  assert.ok(honest.some((f) => f.culprits.join(',') === 'cloud-2'), 'the complainer is named');
});

test('verifiable complaints: a true complaint (a bad Π^enc sent to one peer) is re-checked by the other honest party, which names the sender too', async (t) => {
  const { nodes, failures } = await threeParties(t);
  const [customer, , cloud2] = nodes;
  const base = { keyId: 'k_tc', parties: DEFAULT_PARTIES.map((p) => p.id), workspaceId: 'ws1', algorithm: 'ECDSA_SECP256K1' as const, threshold: 3, entryIndex: 0, epoch: 0, presignatureId: Buffer.alloc(0), requestId: '' };
  await customer!.coordinate({ ...base, kind: 'KEYGEN', context: Buffer.alloc(0), count: 0 });
  const tr = cloud2!.transport;
  const send = tr.send.bind(tr);
  tr.send = async (h, m, parties, echo) => {
    if (m.protocol !== 'cmp/presign' || m.round !== 1 || m.to !== 1) return send(h, m, parties, echo);
    const body = m.body.slice();
    body[Math.floor(body.length / 2)] = body[Math.floor(body.length / 2)]! ^ 1;
    return send(h, { ...m, body }, parties, echo);
  };
  await assert.rejects(customer!.coordinate({ ...base, kind: 'PRESIGN', context: Buffer.alloc(0), count: 1 }), (e: PartyError) => e.code === 'ERR_MPC_ABORT' && e.culprits.join(',') === 'cloud-2');
  await until(() => failures.some((f) => f.party === 'cloud-1'));
  assert.deepEqual(failures.find((f) => f.party === 'cloud-1')!.culprits, ['cloud-2'], 'cloud-1, which got a valid proof, still names the sender after re-checking the complaint');
});
