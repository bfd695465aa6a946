/** Signed bodies and the echo ledger (evidence.ts), with real Ed25519 identity keys. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { EchoLedger, bodyDigest, bodyStatement, decodeBody, decodeEcho, encodeBody, encodeEcho, verifySignedDigest, type SignedDigest } from '../src/evidence.ts';
import type { PartyError } from '../src/errors.ts';

const keys = new Map<number, { pub: KeyObject; priv: KeyObject }>();
for (const i of [1, 2, 3]) {
  const k = generateKeyPairSync('ed25519');
  keys.set(i, { pub: k.publicKey, priv: k.privateKey });
}
const SESSION = new Uint8Array(32).fill(7);
const signed = (from: number, round: number, wire: Uint8Array): SignedDigest => {
  const digest = bodyDigest(wire);
  return { from, round, digest, sig: new Uint8Array(sign(null, bodyStatement(digest, { session: SESSION, from, round, to: 0 }), keys.get(from)!.priv)) };
};
const ledger = (self: number): EchoLedger => new EchoLedger(self, (i) => keys.get(i)?.pub, SESSION);

test('echo: a sender that broadcast two different signed bodies is named, with both as evidence, whichever arrives first', () => {
  const a = signed(3, 2, Buffer.from('version for party 1'));
  const b = signed(3, 2, Buffer.from('version for party 2'));
  // Party 1 got a, party 2 forwards b in its round-3 echo.
  const l1 = ledger(1);
  assert.equal(l1.broadcast(a), undefined);
  const f = l1.check(2, [b]);
  assert.equal(f?.culprit, 3);
  assert.equal(f.evidence.length, 2);
  for (const e of f.evidence) assert.ok(verifySignedDigest(keys.get(3)!.pub, e, SESSION), 'evidence is signed by the culprit');
  assert.notDeepEqual(f.evidence[0]!.digest, f.evidence[1]!.digest);
  // The echo first, the broadcast later: found when the broadcast arrives.
  const l2 = ledger(1);
  assert.equal(l2.check(2, [b]), undefined);
  assert.equal(l2.broadcast(a)?.culprit, 3);
  // Two different copies straight to the same receiver.
  const l3 = ledger(1);
  l3.broadcast(a);
  assert.equal(l3.broadcast(b)?.culprit, 3);
});

test('echo: a forwarder whose echo carries a digest its sender did not sign is named (not the sender)', () => {
  const a = signed(3, 2, Buffer.from('m'));
  const l1 = ledger(1);
  l1.broadcast(a);
  const forged: SignedDigest = { ...a, digest: bodyDigest(Buffer.from('other')) };
  assert.equal(l1.check(2, [forged])?.culprit, 2);
  const badSig: SignedDigest = { ...a, sig: randomBytes(64) };
  assert.equal(l1.check(2, [badSig])?.culprit, 2);
  assert.equal(l1.check(2, [a, a])?.culprit, 2, 'an entry twice');
});

test('echo: consistent broadcasts pass; the echo for round r+1 lists the round-r broadcasts received', () => {
  const l1 = ledger(1);
  const mine = signed(1, 1, Buffer.from('own'));
  const b2 = signed(2, 1, Buffer.from('two'));
  const b3 = signed(3, 1, Buffer.from('three'));
  l1.broadcast(mine);
  l1.broadcast(b2);
  l1.broadcast(b3);
  assert.deepEqual(l1.echoFor(1).map((e) => e.from), [2, 3]);
  assert.equal(l1.lastRound, 1);
  assert.equal(l1.check(2, [mine, b3]), undefined);
  assert.equal(l1.check(3, [mine, b2]), undefined);
  // A party's echo about itself is not evidence of anything.
  assert.equal(l1.check(2, [signed(2, 1, Buffer.from('whatever'))]), undefined);
});

test('signed body and echo codecs are strict', () => {
  const e = [signed(2, 1, Buffer.from('x')), signed(3, 1, Buffer.from('y'))];
  const body = { wire: Buffer.from('wire bytes'), sig: randomBytes(64), echo: e };
  const enc = encodeBody(body);
  const dec = decodeBody(enc);
  assert.deepEqual(Buffer.from(dec.wire), Buffer.from(body.wire));
  assert.deepEqual(dec.echo.map((x) => x.from), [2, 3]);
  assert.deepEqual(decodeEcho(encodeEcho(e)).map((x) => Buffer.from(x.digest).toString('hex')), e.map((x) => Buffer.from(x.digest).toString('hex')));
  assert.throws(() => decodeBody(enc.subarray(0, enc.length - 1)), (x: PartyError) => x.code === 'ERR_ENVELOPE');
  assert.throws(() => decodeBody(Buffer.concat([enc, Buffer.of(0)])), (x: PartyError) => x.code === 'ERR_ENVELOPE');
  assert.throws(() => decodeEcho(Buffer.concat([encodeEcho(e), Buffer.of(0)])), (x: PartyError) => x.code === 'ERR_ENVELOPE');
});

/*
 * Framing by relabelling (attack-cmp): the body signature must cover what the echo entry claims
 * (session, sender, round, broadcast or recipient), not only the digest. Otherwise a forwarder
 * takes any body the honest sender signed (its direct message to the forwarder, its broadcast of
 * another round, or one of another session), labels it as that sender's broadcast of this round,
 * and every honest receiver "finds" an equivocation by the honest sender: two different digests,
 * both validly signed by it.
 */
test('echo: a forwarder cannot frame an honest sender with a body it signed for another recipient, round or session', () => {
  const session = new Uint8Array(32).fill(7);
  const other = new Uint8Array(32).fill(8);
  const sign3 = (sess: Uint8Array, round: number, to: number, wire: Uint8Array): SignedDigest => {
    const digest = bodyDigest(wire);
    return { from: 3, round, digest, sig: new Uint8Array(sign(null, bodyStatement(digest, { session: sess, from: 3, round, to }), keys.get(3)!.priv)) };
  };
  const honestBroadcast = sign3(session, 2, 0, Buffer.from('party 3 round 2 broadcast'));
  const relabelled: SignedDigest[] = [
    // Party 3's direct round-2 message to party 2, shown by 2 as 3's round-2 broadcast.
    { ...sign3(session, 2, 2, Buffer.from('party 3 round 2 direct to 2')), round: 2 },
    // Party 3's round-1 broadcast, relabelled round 2.
    { ...sign3(session, 1, 0, Buffer.from('party 3 round 1 broadcast')), round: 2 },
    // Party 3's round-2 broadcast of another session.
    sign3(other, 2, 0, Buffer.from('party 3 round 2 broadcast, other session')),
  ];
  for (const entry of relabelled) {
    for (const order of ['broadcast first', 'echo first'] as const) {
      const l = new EchoLedger(1, (i) => keys.get(i)?.pub, session);
      let f = order === 'broadcast first' ? l.broadcast(honestBroadcast) : undefined;
      f ??= l.check(2, [entry]);
      if (order === 'echo first') f ??= l.broadcast(honestBroadcast);
      assert.notEqual(f?.culprit, 3, `honest party 3 framed (${order})`);
      assert.equal(f?.culprit, 2, `the forwarder is named (${order})`);
    }
    assert.equal(verifySignedDigest(keys.get(3)!.pub, entry, session), false, 'a relabelled digest is not evidence');
  }
  assert.ok(verifySignedDigest(keys.get(3)!.pub, honestBroadcast, session));
});
