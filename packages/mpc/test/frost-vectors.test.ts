// RFC 9591 Appendix E.1 (FROST(Ed25519, SHA-512)) through the project's own signing party, and
// through noble's packaged FROST on the same inputs as a cross-check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ed25519, ed25519_FROST } from '@noble/curves/ed25519.js';
import { encodeMessage, decodeMessage, BROADCAST, type ProtocolMessage, type Step } from '../src/round.ts';
import { FrostSignParty, type FrostSignOutput } from '../src/frost/sign.ts';
import { FrostNonce, encodeFrostShare, decodeFrostShare, validateFrostShare, type FrostKeyShare } from '../src/frost/share.ts';
import { G, decodeScalar, encodeScalar, fromHex, toHex, verifyEd25519, nonceGenerate } from '../src/frost/suite.ts';

interface Vectors {
  inputs: {
    participant_list: number[];
    group_public_key: string;
    message: string;
    share_polynomial_coefficients: string[];
    participant_shares: { identifier: number; participant_share: string }[];
  };
  round_one_outputs: {
    outputs: {
      identifier: number;
      hiding_nonce_randomness: string;
      binding_nonce_randomness: string;
      hiding_nonce: string;
      binding_nonce: string;
      hiding_nonce_commitment: string;
      binding_nonce_commitment: string;
    }[];
  };
  round_two_outputs: { outputs: { identifier: number; sig_share: string }[] };
  final_output: { sig: string };
}

const V: Vectors = JSON.parse(readFileSync(new URL('./vectors/frost-ed25519-sha512.json', import.meta.url), 'utf8'));
const parties = V.inputs.participant_shares.map((p) => p.identifier);
const signers = V.inputs.participant_list;
const message = fromHex(V.inputs.message);

function shareOf(id: number): FrostKeyShare {
  const pk = fromHex(V.inputs.group_public_key);
  const a1 = decodeScalar(fromHex(V.inputs.share_polynomial_coefficients[0]!));
  return {
    self: id,
    parties,
    threshold: 2,
    publicKey: pk,
    chainCode: new Uint8Array(32),
    commitments: [pk, G.multiply(a1).toBytes()],
    verifyingShares: V.inputs.participant_shares.map((p) => G.multiply(decodeScalar(fromHex(p.participant_share))).toBytes()),
    secret: decodeScalar(fromHex(V.inputs.participant_shares.find((p) => p.identifier === id)!.participant_share)),
  };
}

/** A random source replaying the vector's nonce randomness (hiding first, then binding). */
function replay(id: number): (n: number) => Uint8Array {
  const o = V.round_one_outputs.outputs.find((x) => x.identifier === id)!;
  const q = [fromHex(o.hiding_nonce_randomness), fromHex(o.binding_nonce_randomness)];
  return (n) => {
    const b = q.shift();
    assert.ok(b && b.length === n, 'unexpected randomness request');
    return b;
  };
}

test('RFC 9591 E.1: the dealer shares form a consistent key (Appendix C.2 vss_verify)', () => {
  for (const id of parties) {
    const k = shareOf(id);
    validateFrostShare(k);
    assert.deepEqual(decodeFrostShare(encodeFrostShare(k)), k);
  }
});

test('RFC 9591 E.1: nonce_generate reproduces the hiding and binding nonces', () => {
  for (const o of V.round_one_outputs.outputs) {
    const s = shareOf(o.identifier).secret;
    const r = replay(o.identifier);
    assert.equal(toHex(encodeScalar(nonceGenerate(s, r))), o.hiding_nonce);
    assert.equal(toHex(encodeScalar(nonceGenerate(s, r))), o.binding_nonce);
  }
});

test('RFC 9591 E.1: FrostSignParty reproduces commitments, signature shares and the signature', () => {
  const session = new Uint8Array(32).fill(0x91);
  // The vectors' nonces come from RFC 9591's nonce_generate (no context); a party making its own
  // nonces hedges them further with the session and signing context, so they are handed in.
  const nonceOf = (id: number): FrostNonce => {
    const r = replay(id);
    const s = shareOf(id).secret;
    return new FrostNonce(nonceGenerate(s, r), nonceGenerate(s, r));
  };
  const ps = signers.map((id) => new FrostSignParty({ session, self: id, signers, share: encodeFrostShare(shareOf(id)), message, path: '', nonce: nonceOf(id) }));
  const byId = new Map(ps.map((p) => [p.self, p]));
  const seen: ProtocolMessage[] = [];
  const outputs = new Map<number, FrostSignOutput>();
  const queue: ProtocolMessage[] = [];
  const take = (id: number, s: Step<FrostSignOutput>): void => {
    if (s.kind === 'wait') return;
    queue.push(...s.messages);
    if (s.kind === 'done') outputs.set(id, s.output);
  };
  for (const p of ps) take(p.self, p.start());
  while (queue.length) {
    const m = queue.shift()!;
    seen.push(m);
    assert.equal(m.to, BROADCAST);
    for (const p of ps) if (p.self !== m.from) take(p.self, byId.get(p.self)!.receive(decodeMessage(encodeMessage(m))));
  }
  for (const o of V.round_one_outputs.outputs) {
    const m = seen.find((x) => x.round === 1 && x.from === o.identifier)!;
    assert.equal(toHex(m.body.subarray(0, 64)), o.hiding_nonce_commitment + o.binding_nonce_commitment);
  }
  for (const o of V.round_two_outputs.outputs) {
    const m = seen.find((x) => x.round === 2 && x.from === o.identifier)!;
    assert.equal(toHex(m.body.subarray(0, 32)), o.sig_share);
  }
  for (const id of signers) {
    assert.equal(toHex(outputs.get(id)!.signature), V.final_output.sig);
    assert.equal(toHex(outputs.get(id)!.publicKey), V.inputs.group_public_key);
  }
  const sig = fromHex(V.final_output.sig);
  assert.ok(verifyEd25519(fromHex(V.inputs.group_public_key), message, sig));
  assert.ok(ed25519.verify(sig, message, fromHex(V.inputs.group_public_key)));
});

test('RFC 9591 E.1: noble ed25519_FROST agrees on the same vectors (cross-check of the suite)', () => {
  const F = ed25519_FROST;
  const pub = {
    signers: { min: 2, max: 3 },
    commitments: [...shareOf(1).commitments],
    verifyingShares: Object.fromEntries(parties.map((id, i) => [F.Identifier.fromNumber(id), shareOf(1).verifyingShares[i]!])),
  };
  const commitmentList = V.round_one_outputs.outputs.map((o) => ({ identifier: F.Identifier.fromNumber(o.identifier), hiding: fromHex(o.hiding_nonce_commitment), binding: fromHex(o.binding_nonce_commitment) }));
  const shares: Record<string, Uint8Array> = {};
  for (const o of V.round_one_outputs.outputs) {
    const secret = { identifier: F.Identifier.fromNumber(o.identifier), signingShare: fromHex(V.inputs.participant_shares.find((p) => p.identifier === o.identifier)!.participant_share) };
    const z = F.signShare(secret, pub, { hiding: fromHex(o.hiding_nonce), binding: fromHex(o.binding_nonce) }, commitmentList, message);
    assert.equal(toHex(z), V.round_two_outputs.outputs.find((x) => x.identifier === o.identifier)!.sig_share);
    shares[secret.identifier] = z;
  }
  assert.equal(toHex(F.aggregate(pub, commitmentList, message, shares)), V.final_output.sig);
});
