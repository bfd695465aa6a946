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
const signed = (from: number, round: number, wire: Uint8Array): SignedDigest => {
  const digest = bodyDigest(wire);
  return { from, round, digest, sig: new Uint8Array(sign(null, bodyStatement(digest), keys.get(from)!.priv)) };
};
const ledger = (self: number): EchoLedger => new EchoLedger(self, (i) => keys.get(i)?.pub);

test('echo: a sender that broadcast two different signed bodies is named, with both as evidence, whichever arrives first', () => {
  const a = signed(3, 2, Buffer.from('version for party 1'));
  const b = signed(3, 2, Buffer.from('version for party 2'));
  // Party 1 got a, party 2 forwards b in its round-3 echo.
  const l1 = ledger(1);
  assert.equal(l1.broadcast(a), undefined);
  const f = l1.check(2, [b]);
  assert.equal(f?.culprit, 3);
  assert.equal(f.evidence.length, 2);
  for (const e of f.evidence) assert.ok(verifySignedDigest(keys.get(3)!.pub, e), 'evidence is signed by the culprit');
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
