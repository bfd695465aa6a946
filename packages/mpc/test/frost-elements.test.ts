// RFC 9591 §3.1 element validation on every received element (issue 19, item 2): the hiding
// commitments D_j get the full prime-order check, not only their sum R; the non-canonical
// "negative zero" encoding of the order-2 point is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { MpcAbort } from '../src/errors.ts';
import { BROADCAST, decodeMessage, encodeMessage, runLocal, type ProtocolMessage, type Step } from '../src/round.ts';
import { FrostKeygenParty } from '../src/frost/keygen.ts';
import { FrostSignParty, type FrostSignOutput } from '../src/frost/sign.ts';
import type { FrostKeyShare } from '../src/frost/share.ts';
import { viewOf } from '../src/frost/echo.ts';
import { G, bindingFactors, challenge, decodePoint, encodeScalar, isCanonicalEncoding, lagrange, mod, randomScalar, verifyEd25519, type EdPoint } from '../src/frost/suite.ts';
import * as fast from '../src/frost/fast.ts';

const sid = (): Uint8Array => new Uint8Array(randomBytes(32));
const PARTIES = [1, 2, 3];
const MSG = new TextEncoder().encode('pay 1 SOL');
const rand = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

const keys: Map<number, FrostKeyShare> = (() => {
  const session = sid();
  return runLocal(PARTIES.map((self) => new FrostKeygenParty({ session, self, parties: PARTIES, threshold: 3 })));
})();

/** The order-8 torsion points: T8 generates the torsion subgroup. */
const T8: EdPoint = ed25519.Point.fromBytes(Uint8Array.from(Buffer.from('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', 'hex')));
/** (0, -1), the point of order 2, in its non-canonical "negative zero" encoding (x = 0 with the sign bit set). */
const NEG_ZERO_ORDER2 = Uint8Array.from(Buffer.from('ec' + 'ff'.repeat(31), 'hex'));
const ORDER2_CANONICAL = Uint8Array.from(Buffer.from('ec' + 'ff'.repeat(30) + '7f', 'hex'));

const wire = (m: ProtocolMessage): ProtocolMessage => decodeMessage(encodeMessage(m));
const sent = (s: Step<FrostSignOutput>): ProtocolMessage[] => (s.kind === 'wait' ? [] : [...s.messages]);

/**
 * Honest signer 1 against colluding signers 2 and 3, whose round-1 hiding commitments are
 * `hiding(j, d_j·G)` and who finish the protocol consistently (their shares make a signature
 * valid under R as signer 1 computes it). Returns signer 1's outcome.
 */
function colluders(hiding: (j: number, D: EdPoint) => Uint8Array, nonce: (j: number) => bigint = () => randomScalar(rand)): { output?: FrostSignOutput; error?: unknown } {
  const session = sid();
  const honest = new FrostSignParty({ session, self: 1, signers: PARTIES, share: keys.get(1)!, message: MSG });
  const [m1] = sent(honest.start());
  const context = m1!.body.subarray(64);
  const nonces = new Map<number, { d: bigint; e: bigint; D: Uint8Array; E: Uint8Array }>();
  for (const j of [2, 3]) {
    const d = nonce(j);
    const e = randomScalar(rand);
    nonces.set(j, { d, e, D: hiding(j, G.multiply(mod(d) === 0n ? 1n : d)), E: G.multiply(e).toBytes() });
  }
  const bodies = new Map<number, Uint8Array>([[1, m1!.body]]);
  for (const [j, n] of nonces) bodies.set(j, Uint8Array.from([...n.D, ...n.E, ...context]));
  try {
    let round2: ProtocolMessage[] = [];
    for (const j of [2, 3]) round2 = sent(honest.receive(wire({ protocol: 'frost/sign', session, round: 1, from: j, to: BROADCAST, body: bodies.get(j)! })));
    // Signer 1 released its share: the colluders finish so that the signature verifies.
    const pk = keys.get(1)!.publicKey;
    const list = PARTIES.map((j) => ({ id: j, hidingBytes: bodies.get(j)!.subarray(0, 32), bindingBytes: bodies.get(j)!.subarray(32, 64) }));
    const rho = bindingFactors(pk, list, MSG);
    let R = ed25519.Point.ZERO;
    for (const c of list) R = R.add(ed25519.Point.fromBytes(c.hidingBytes, true)).add(ed25519.Point.fromBytes(c.bindingBytes).multiply(rho.get(c.id)!));
    const c = challenge(R.toBytes(), pk, MSG);
    const view = viewOf(PARTIES, bodies, 'frost/sign', session, 1);
    let out: Step<FrostSignOutput> = { kind: 'wait' };
    for (const j of [2, 3]) {
      const n = nonces.get(j)!;
      const z = mod(n.d + n.e * rho.get(j)! + lagrange(PARTIES, j) * keys.get(j)!.secret * c);
      out = honest.receive(wire({ protocol: 'frost/sign', session, round: 2, from: j, to: BROADCAST, body: Uint8Array.from([...encodeScalar(z), ...view.flatMap((v) => [...v])]) }));
    }
    assert.ok(round2.length > 0);
    return { output: out.kind === 'done' ? out.output : undefined };
  } catch (error) {
    return { error };
  }
}

test('sign: two colluding signers whose hiding commitments carry torsion that cancels in R are refused, naming them', () => {
  // Sanity of the attack: with plain commitments the colluders' run signs (the harness is right).
  const plain = colluders((_j, D) => D.toBytes());
  assert.ok(plain.output && verifyEd25519(keys.get(1)!.publicKey, MSG, plain.output.signature), 'the colluder harness must sign when honest');
  for (const T of [T8, T8.multiply(2n), T8.multiply(4n)]) {
    // D_2 + T and D_3 - T: R is the same as without torsion, so only a check of each D_j sees it.
    const r = colluders((j, D) => (j === 2 ? D.add(T) : D.subtract(T)).toBytes());
    assert.equal(r.output, undefined, 'signer 1 output a signature over torsioned commitments');
    assert.ok(r.error instanceof MpcAbort, `expected an abort, got ${String(r.error)}`);
    assert.ok(r.error.culprits.length > 0 && r.error.culprits.every((c) => c === 2 || c === 3), `culprits ${r.error.culprits.join(',')}`);
    assert.equal(r.error.code, 'ERR_MPC_PARSE');
  }
});

test('sign: the order-2 point in its "negative zero" encoding (and canonically) as hiding commitments of two colluders is refused', () => {
  for (const enc of [NEG_ZERO_ORDER2, ORDER2_CANONICAL]) {
    // D_2 = D_3 = (0, -1): they cancel in R (2·T = 0); the colluders' nonces d_j are 0.
    const r = colluders(() => enc, () => 0n);
    assert.equal(r.output, undefined, 'signer 1 output a signature');
    assert.ok(r.error instanceof MpcAbort, `expected an abort, got ${String(r.error)}`);
    assert.ok(r.error.culprits.every((c) => c === 2 || c === 3));
  }
});

test('element codecs: "negative zero" is not a canonical encoding; decodePoint refuses it and every small-order point', () => {
  assert.equal(isCanonicalEncoding(NEG_ZERO_ORDER2), false);
  assert.equal(isCanonicalEncoding(Uint8Array.from(Buffer.from('01' + '00'.repeat(30) + '80', 'hex'))), false);
  assert.equal(isCanonicalEncoding(G.toBytes()), true);
  assert.equal(fast.isValidElement(NEG_ZERO_ORDER2), false);
  assert.throws(() => decodePoint(NEG_ZERO_ORDER2), { code: 'ERR_MPC_PARSE' });
  for (let k = 1n; k < 8n; k++) {
    const T = T8.multiply(k);
    assert.throws(() => decodePoint(T.toBytes()), { code: 'ERR_MPC_PARSE' });
    // A valid element plus torsion: on the curve, canonical, but outside the prime-order subgroup.
    const P = G.multiply(12345n).add(T).toBytes();
    assert.equal(isCanonicalEncoding(P), true);
    assert.equal(fast.isValidElement(P), false);
    assert.throws(() => decodePoint(P), { code: 'ERR_MPC_PARSE' });
    // libsodium's multiplication (used on E_j) refuses it too.
    assert.throws(() => fast.mul(encodeScalar(5n), P), { code: 'ERR_MPC_PARSE' });
  }
});
