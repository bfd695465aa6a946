// FROST(Ed25519): DKG, signing (any t of n, HD-derived keys), refresh, single-use nonces and
// the ThresholdScheme adapter. Every signature is checked by OpenSSL and by noble.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { ed25519, ed25519_FROST } from '@noble/curves/ed25519.js';
import { BROADCAST, decodeMessage, encodeMessage, runLocal, type ProtocolMessage } from '../src/round.ts';
import { MpcAbort, MpcError } from '../src/errors.ts';
import { FrostKeygenParty, dkgBinding, verifyKnowledgeProof } from '../src/frost/keygen.ts';
import { FrostSignParty, frostCommit, type FrostSignature } from '../src/frost/sign.ts';
import { FrostRefreshParty } from '../src/frost/refresh.ts';
import { decodeFrostShare, encodeFrostShare, validateFrostShare, type FrostKeyShare } from '../src/frost/share.ts';
import { deriveEd25519 } from '../src/frost/hd.ts';
import { G, lagrange, decodePoint } from '../src/frost/suite.ts';
import { eddsaEd25519Scheme, demoEddsa } from '../src/frost/index.ts';
import { schemeRegistry } from '../src/scheme.ts';
import { culpritsOf, drive, outputs } from './frost-driver.ts';

const sid = (): Uint8Array => new Uint8Array(randomBytes(32));
const msg = new TextEncoder().encode('transfer 1.5 SOL to 9xQe…');

/** OpenSSL's verdict, through a KeyObject built from the 32 raw bytes with a DER SPKI prefix. */
function opensslVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), publicKey]);
  return verify(null, message, createPublicKey({ key: spki, format: 'der', type: 'spki' }), signature);
}

function keygen(parties: number[], threshold: number): Map<number, FrostKeyShare> {
  const session = sid();
  return runLocal(parties.map((self) => new FrostKeygenParty({ session, self, parties, threshold })));
}

function sign(keys: Map<number, FrostKeyShare>, signers: number[], path = '44/501/0/0/0', message = msg): Map<number, FrostSignature> {
  const session = sid();
  return everyone(runLocal(signers.map((self) => new FrostSignParty({ session, self, signers, share: keys.get(self)!, message, path }))));
}

/** Without an aggregator every signer outputs the signature. */
function everyone<K>(out: Map<K, FrostSignature | null>): Map<K, FrostSignature> {
  const m = new Map<K, FrostSignature>();
  for (const [k, v] of out) {
    assert.ok(v, `signer ${String(k)} output no signature`);
    m.set(k, v);
  }
  return m;
}

const K23 = keygen([1, 2, 3], 2);

test('DKG 3-of-3 and 2-of-3: all parties agree on the public key, chain code and verifying shares', () => {
  for (const [keys, t] of [[keygen([1, 2, 3], 3), 3], [K23, 2]] as const) {
    const first = keys.get(1)!;
    assert.equal(first.threshold, t);
    assert.equal(first.commitments.length, t);
    for (const k of keys.values()) {
      assert.deepEqual(k.publicKey, first.publicKey);
      assert.deepEqual(k.chainCode, first.chainCode);
      assert.deepEqual(k.verifyingShares, first.verifyingShares);
      validateFrostShare(k);
      assert.deepEqual(decodeFrostShare(encodeFrostShare(k)), k);
    }
    // Public-level check that the shares interpolate to the key: Σ λ_i Y_i = PK.
    const S = first.parties.slice(0, t);
    const sum = S.map((i) => decodePoint(first.verifyingShares[first.parties.indexOf(i)]!).multiply(lagrange(S, i))).reduce((a, b) => a.add(b));
    assert.ok(sum.equals(decodePoint(first.publicKey)));
  }
});

test('2-of-3 signing works with any two (and all three) parties; OpenSSL and noble verify under the derived key', () => {
  const pk = K23.get(1)!.publicKey;
  const cc = K23.get(1)!.chainCode;
  for (const signers of [[1, 2], [1, 3], [2, 3], [1, 2, 3]]) {
    for (const path of ['44/501/0/0/0', '', 'm/0/7']) {
      const out = sign(K23, signers, path);
      const derived = deriveEd25519(pk, cc, path).publicKey;
      for (const o of out.values()) {
        assert.deepEqual(o.publicKey, derived);
        assert.equal(o.signature.length, 64);
        assert.ok(opensslVerify(derived, msg, o.signature), `OpenSSL rejects ${signers} ${path}`);
        assert.ok(ed25519.verify(o.signature, msg, derived, { zip215: false }));
        assert.ok(ed25519_FROST.verify(o.signature, msg, derived));
      }
      if (path !== '') assert.ok(!opensslVerify(pk, msg, out.get(signers[0]!)!.signature), 'must not verify under the master key');
    }
  }
});

test('3-of-3 signing of messages of any length (empty, 1 MiB)', () => {
  const keys = keygen([1, 2, 3], 3);
  for (const m of [new Uint8Array(0), new Uint8Array(1 << 20).fill(7)]) {
    const o = sign(keys, [1, 2, 3], '44/501/0/0/0', m).get(2)!;
    assert.ok(opensslVerify(o.publicKey, m, o.signature));
  }
});

test('single aggregator: only it receives the shares (point to point) and outputs the signature; any signer set, any aggregator in it', () => {
  const pk = K23.get(1)!.publicKey;
  const cc = K23.get(1)!.chainCode;
  const path = '44/501/0/0/0';
  const derived = deriveEd25519(pk, cc, path).publicKey;
  for (const signers of [[1, 2], [2, 3], [1, 2, 3]]) {
    for (const aggregator of signers) {
      const session = sid();
      const ps = signers.map((self) => new FrostSignParty({ session, self, signers, share: K23.get(self)!, message: msg, path, aggregator }));
      const byIndex = new Map(ps.map((p) => [p.self, p]));
      const out = new Map<number, FrostSignature | null>();
      const queue: ProtocolMessage[] = [];
      const round2: ProtocolMessage[] = [];
      const take = (self: number, st: ReturnType<FrostSignParty['start']>): void => {
        if (st.kind === 'wait') return;
        queue.push(...st.messages);
        if (st.kind === 'done') out.set(self, st.output);
      };
      for (const p of ps) take(p.self, p.start());
      while (queue.length > 0) {
        const m = queue.shift()!;
        if (m.round === 2) round2.push(m);
        const targets = m.to === BROADCAST ? ps.filter((p) => p.self !== m.from) : [byIndex.get(m.to)!];
        for (const p of targets) take(p.self, p.receive(decodeMessage(encodeMessage(m))));
      }
      // Every other signer sent exactly one share, to the aggregator; the aggregator sent none.
      assert.deepEqual(round2.map((m) => [m.from, m.to]).sort(), signers.filter((x) => x !== aggregator).map((x) => [x, aggregator]).sort());
      assert.equal(out.size, signers.length, 'every signer finished');
      for (const [self, o] of out) {
        if (self !== aggregator) {
          assert.equal(o, null);
          continue;
        }
        assert.ok(o);
        assert.deepEqual(o.publicKey, derived);
        assert.ok(opensslVerify(derived, msg, o.signature), `OpenSSL rejects ${signers} aggregated by ${aggregator}`);
        assert.ok(ed25519.verify(o.signature, msg, derived, { zip215: false }));
      }
    }
  }
});

test('single aggregator: signers that disagree on who aggregates stop in round 1, before any share is sent', () => {
  const session = sid();
  const ps = [
    new FrostSignParty({ session, self: 1, signers: [1, 2], share: K23.get(1)!, message: msg, aggregator: 1 }),
    new FrostSignParty({ session, self: 2, signers: [1, 2], share: K23.get(2)!, message: msg, aggregator: 2 }),
  ];
  const r = drive(ps);
  assert.deepEqual(culpritsOf(r.get(1)), [2]);
  assert.deepEqual(culpritsOf(r.get(2)), [1]);
  assert.throws(() => new FrostSignParty({ session: sid(), self: 1, signers: [1, 2], share: K23.get(1)!, message: msg, aggregator: 3 }), MpcError);
  // Without an aggregator the same party may not join signers that have one (different context).
  const mixed = drive([
    new FrostSignParty({ session, self: 1, signers: [1, 2], share: K23.get(1)!, message: msg, aggregator: 1 }),
    new FrostSignParty({ session, self: 2, signers: [1, 2], share: K23.get(2)!, message: msg }),
  ]);
  assert.deepEqual(culpritsOf(mixed.get(1)), [2]);
});

test('signing refuses too few signers, strangers, and a share of another party', () => {
  const share = K23.get(1)!;
  assert.throws(() => new FrostSignParty({ session: sid(), self: 1, signers: [1], share, message: msg }), (e: unknown) => e instanceof MpcError && e.code === 'ERR_MPC_USAGE');
  assert.throws(() => new FrostSignParty({ session: sid(), self: 1, signers: [1, 9], share, message: msg }), MpcError);
  assert.throws(() => new FrostSignParty({ session: sid(), self: 2, signers: [1, 2], share, message: msg }), MpcError);
  assert.throws(() => new FrostSignParty({ session: sid(), self: 1, signers: [1, 2], share, message: msg, path: "44'/501" }), MpcError);
});

test('nonces are single use: a consumed nonce throws, and a party consumes its nonce when it signs', () => {
  const share = K23.get(1)!;
  const nonce = frostCommit(share);
  nonce.take();
  assert.throws(() => nonce.take(), (e: unknown) => e instanceof MpcError && e.code === 'ERR_MPC_PRESIGNATURE_USED');
  assert.throws(() => new FrostSignParty({ session: sid(), self: 1, signers: [1, 2], share, message: msg, nonce }), MpcError);

  const n1 = frostCommit(share);
  const session = sid();
  const out = everyone(runLocal([
    new FrostSignParty({ session, self: 1, signers: [1, 2], share, message: msg, nonce: n1 }),
    new FrostSignParty({ session, self: 2, signers: [1, 2], share: K23.get(2)!, message: msg }),
  ]));
  assert.ok(opensslVerify(out.get(1)!.publicKey, msg, out.get(1)!.signature));
  assert.equal(n1.consumed, true);
  assert.throws(() => new FrostSignParty({ session: sid(), self: 1, signers: [1, 2], share, message: new Uint8Array(1), nonce: n1 }), MpcError);
});

test('parties on different epochs (either side of a refresh) stop in round 1: no share is released, nobody is blamed', () => {
  const session = sid();
  const fresh = runLocal([1, 2, 3].map((self) => new FrostRefreshParty({ session, self, share: encodeFrostShare(K23.get(self)!) })));
  for (const aggregator of [undefined, 1]) {
    const s2 = sid();
    const released: number[] = [];
    const r = drive(
      [
        new FrostSignParty({ session: s2, self: 1, signers: [1, 2], share: K23.get(1)!, message: msg, path: '44/501/0/0/0', ...(aggregator ? { aggregator } : {}) }),
        new FrostSignParty({ session: s2, self: 2, signers: [1, 2], share: fresh.get(2)!, message: msg, path: '44/501/0/0/0', ...(aggregator ? { aggregator } : {}) }),
      ],
      (m) => {
        if (m.round === 2) released.push(m.from);
        return m;
      },
    );
    for (const i of [1, 2]) {
      const o = r.get(i);
      assert.ok(o && !o.ok, `party ${i} did not stop`);
      assert.ok(o.error instanceof MpcError && !(o.error instanceof MpcAbort), `party ${i}: ${String(o.error)}`);
      assert.equal(o.error.code, 'ERR_MPC_KEY_STATE');
    }
    assert.deepEqual(released, []);
  }
});

test('refresh keeps the public key and chain code, changes every share; old and new shares do not combine', () => {
  for (const [keys, t] of [[K23, 2], [keygen([1, 2, 3], 3), 3]] as const) {
    const session = sid();
    const fresh = runLocal([1, 2, 3].map((self) => new FrostRefreshParty({ session, self, share: keys.get(self)! })));
    for (const [i, k] of fresh) {
      const old = keys.get(i)!;
      validateFrostShare(k);
      assert.deepEqual(k.publicKey, old.publicKey);
      assert.deepEqual(k.chainCode, old.chainCode);
      assert.equal(k.threshold, t);
      assert.notEqual(k.secret, old.secret);
      assert.notDeepEqual(k.verifyingShares, old.verifyingShares);
    }
    // New shares sign (any t of them); OpenSSL verifies under the same derived key as before.
    const S = [1, 2, 3].slice(0, t);
    const o = sign(fresh, S).get(1)!;
    assert.deepEqual(o.publicKey, deriveEd25519(keys.get(1)!.publicKey, keys.get(1)!.chainCode, '44/501/0/0/0').publicKey);
    assert.ok(opensslVerify(o.publicKey, msg, o.signature));
    // Public-level: λ-combining an old verifying share with new ones misses the key.
    const PK = decodePoint(keys.get(1)!.publicKey);
    const Y = (k: FrostKeyShare, i: number) => decodePoint(k.verifyingShares[k.parties.indexOf(i)]!);
    const mixed = S.map((i, n) => Y(n === 0 ? keys.get(1)! : fresh.get(1)!, i).multiply(lagrange(S, i))).reduce((a, b) => a.add(b));
    assert.ok(!mixed.equals(PK));
    // And a signing run mixing an old share with new ones stops in round 1 (ERR_MPC_KEY_STATE).
    const s2 = sid();
    const r = drive(S.map((self) => new FrostSignParty({ session: s2, self, signers: S, share: self === 1 ? keys.get(1)! : fresh.get(self)!, message: msg })));
    for (const i of S) assert.equal((r.get(i) as { error?: { code?: string } } | undefined)?.error?.code, 'ERR_MPC_KEY_STATE');
  }
});

test('refresh refuses parties holding a different version of the key', () => {
  const session = sid();
  const fresh = runLocal([1, 2, 3].map((self) => new FrostRefreshParty({ session, self, share: K23.get(self)! })));
  const s2 = sid();
  const r = drive([1, 2, 3].map((self) => new FrostRefreshParty({ session: s2, self, share: self === 3 ? fresh.get(3)! : K23.get(self)! })));
  assert.deepEqual(culpritsOf(r.get(1)), [3]);
  assert.deepEqual(culpritsOf(r.get(2)), [3]);
});

test('DKG proof of knowledge is bound to the session, the party list and t: a package made for another is refused at the proof, naming its sender', () => {
  const session = sid();
  const parties = [1, 2, 3];
  const round1Of = (o: { session: Uint8Array; parties: readonly number[]; threshold: number }, self = 3): Uint8Array => {
    const s = new FrostKeygenParty({ ...o, self }).start();
    return s.kind === 'send' ? s.messages[0]!.body : new Uint8Array(0);
  };
  for (const [what, other] of [
    ['another session', { session: sid(), parties, threshold: 2 }],
    ['another party list', { session, parties: [1, 2, 3, 4], threshold: 2 }],
    ['another party list (same size)', { session, parties: [1, 3, 4], threshold: 2 }],
  ] as const) {
    const body = round1Of(other);
    const r = drive(parties.map((self) => new FrostKeygenParty({ session, self, parties, threshold: 2 })), (m) => (m.from === 3 && m.round === 1 ? { ...m, body } : m));
    for (const i of [1, 2]) {
      const o = r.get(i);
      assert.ok(o && !o.ok && o.error instanceof MpcAbort, `${what}: party ${i} did not abort`);
      assert.equal(o.error.code, 'ERR_MPC_PROOF', what);
      assert.deepEqual(o.error.culprits, [3], what);
    }
  }
  // The threshold changes the package's length, so the binding is checked on the proof alone.
  const body = round1Of({ session, parties, threshold: 2 });
  const C0 = body.subarray(0, 32);
  const proof = body.subarray(64, 128);
  assert.ok(verifyKnowledgeProof(dkgBinding(session, parties, 2), 3, decodePoint(C0), C0, proof));
  assert.ok(!verifyKnowledgeProof(dkgBinding(session, parties, 3), 3, decodePoint(C0), C0, proof));
  assert.ok(!verifyKnowledgeProof(dkgBinding(session, parties, 2), 2, decodePoint(C0), C0, proof));
  // An independent check of the Schnorr equation with noble: μ·G = R + c·C0, c from the documented hash.
  const R = ed25519.Point.fromBytes(proof.subarray(0, 32));
  const mu = BigInt('0x' + Buffer.from(proof.subarray(32, 64)).reverse().toString('hex'));
  const h = createHash('sha512').update('FROST-ED25519-SHA512-v1dkg').update(dkgBinding(session, parties, 2)).update(Uint8Array.of(3, ...new Uint8Array(31))).update(C0).update(R.toBytes()).digest();
  const c = BigInt('0x' + Buffer.from(h).reverse().toString('hex')) % ed25519.Point.Fn.ORDER;
  assert.ok(ed25519.Point.BASE.multiply(mu).equals(R.add(ed25519.Point.fromBytes(C0).multiply(c))));
});

test('ThresholdScheme (EDDSA_ED25519): keygen, shareInfo, sign, verify, refresh through the one interface', () => {
  const scheme = schemeRegistry([eddsaEd25519Scheme])('EDDSA_ED25519');
  assert.equal(scheme.needsPresignature, false);
  assert.equal(scheme.presign, undefined);
  const parties = [1, 2, 3];
  const session = sid();
  const keys = runLocal(parties.map((self) => scheme.keygen({ session, self, parties })));
  const k1 = keys.get(1)!;
  assert.equal(k1.threshold, 3);
  assert.equal(k1.algorithm, 'EDDSA_ED25519');
  assert.deepEqual(scheme.shareInfo(k1.share), { algorithm: 'EDDSA_ED25519', self: 1, parties, threshold: 3, publicKey: k1.publicKey, chainCode: k1.chainCode });
  const path = 'm/44/501/0/0/0';
  const s = sid();
  const sigs = everyone(runLocal(parties.map((self) => scheme.sign({ session: s, self, signers: parties, share: keys.get(self)!.share, message: msg, path }))));
  const derived = scheme.derivePublicKey(k1.publicKey, k1.chainCode, path);
  const sig = sigs.get(3)!;
  assert.deepEqual(sig.publicKey, derived.publicKey);
  assert.ok(scheme.verify(derived.publicKey, msg, sig.signature));
  assert.ok(!scheme.verify(derived.publicKey, new Uint8Array(3), sig.signature));
  assert.ok(!scheme.verify(derived.publicKey, msg, new Uint8Array(64)));
  assert.throws(() => scheme.sign({ session: s, self: 1, signers: parties, share: k1.share, message: msg, path, presignature: new Uint8Array(1) }), MpcError);
  const rs = sid();
  const fresh = runLocal(parties.map((self) => scheme.refresh({ session: rs, self, share: keys.get(self)!.share })));
  assert.deepEqual(fresh.get(2)!.publicKey, k1.publicKey);
  assert.notDeepEqual(fresh.get(2)!.share, keys.get(2)!.share);
  assert.throws(() => scheme.shareInfo(k1.share.subarray(1)), MpcError);
  assert.throws(() => schemeRegistry([eddsaEd25519Scheme])('ECDSA_SECP256K1'), MpcError);
});

test('demoEddsa returns a signature OpenSSL verifies under the derived key', async () => {
  const r = await demoEddsa({ parties: 3, threshold: 2, path: '44/501/0/0/0', messageHex: '68656c6c6f' });
  assert.equal(r.algorithm, 'EDDSA_ED25519');
  assert.equal(r.publicKey.length, 64);
  assert.equal(r.signature.length, 128);
  assert.equal(r.path, '44/501/0/0/0');
  assert.ok(opensslVerify(Buffer.from(r.derivedPublicKey, 'hex'), Buffer.from(r.messageHex, 'hex'), Buffer.from(r.signature, 'hex')));
  assert.equal(Buffer.from(deriveEd25519(Buffer.from(r.publicKey, 'hex'), Buffer.from(r.chainCode, 'hex'), r.path).publicKey).toString('hex'), r.derivedPublicKey);
});

test('decodeFrostShare is strict', () => {
  const b = encodeFrostShare(K23.get(1)!);
  assert.throws(() => decodeFrostShare(Uint8Array.from([...b, 0])), MpcError);
  assert.throws(() => decodeFrostShare(b.subarray(0, b.length - 1)), MpcError);
  const v = Uint8Array.from(b);
  v[0] = 2;
  assert.throws(() => decodeFrostShare(v), MpcError);
  const big = Uint8Array.from(b);
  big.fill(0xff, big.length - 32);
  assert.throws(() => decodeFrostShare(big), MpcError);
  assert.ok(G);
  void outputs;
});

test('benchEddsa returns per-party timings (smoke, 1 iteration)', async () => {
  const { benchEddsa } = await import('../src/frost/bench.ts');
  const r = benchEddsa({ iterations: 1 });
  for (const k of [r.keygen, r.sign, r.signCachedPath]) {
    assert.ok(k.medianMs > 0 && k.p95Ms >= k.medianMs);
  }
});

test('nonces are hedged with the session and signing context: a repeated random stream (a cloned enclave) still gives different nonces for another message or session', () => {
  const stuck = (n: number): Uint8Array => new Uint8Array(n).fill(7);
  const commitmentOf = (session: Uint8Array, message: Uint8Array): string => {
    const p = new FrostSignParty({ session, self: 1, signers: [1, 2], share: K23.get(1)!, message, rand: stuck });
    const s = p.start();
    return Buffer.from(s.kind === 'send' ? s.messages[0]!.body.subarray(0, 64) : new Uint8Array(0)).toString('hex');
  };
  const s1 = sid();
  const a = commitmentOf(s1, msg);
  assert.notEqual(commitmentOf(s1, new TextEncoder().encode('another message')), a, 'same nonce for another message');
  assert.notEqual(commitmentOf(sid(), msg), a, 'same nonce in another session');
  // Same everything: same nonce (the hedge is deterministic in its inputs; the RNG is what repeats).
  assert.equal(commitmentOf(s1, msg), a);
});
