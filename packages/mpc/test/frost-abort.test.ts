// Identifiable aborts: bits flipped in every round's messages of every party (keygen, refresh,
// signing), and equivocated broadcasts, must abort every honest receiver with MpcAbort naming
// the sender.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BROADCAST, runLocal, type Party, type ProtocolMessage } from '../src/round.ts';
import { FrostKeygenParty } from '../src/frost/keygen.ts';
import { FrostRefreshParty } from '../src/frost/refresh.ts';
import { FrostSignParty } from '../src/frost/sign.ts';
import type { FrostKeyShare } from '../src/frost/share.ts';
import { culpritsOf, drive, flipBit } from './frost-driver.ts';

const sid = (): Uint8Array => new Uint8Array(randomBytes(32));
const parties = [1, 2, 3];
const msg = new TextEncoder().encode('tamper');

const keys: Map<number, FrostKeyShare> = (() => {
  const session = sid();
  return runLocal(parties.map((self) => new FrostKeygenParty({ session, self, parties, threshold: 2 })));
})();

type Factory = () => Party<unknown>[];
const protocols: Array<{ name: string; members?: number[]; aggregator?: number; make: Factory; rounds: Array<{ round: number; direct: boolean; bytes: Array<{ at: number; exact: boolean }> }> }> = [
  {
    name: 'keygen',
    make: () => {
      const s = sid();
      return parties.map((self) => new FrostKeygenParty({ session: s, self, parties, threshold: 2 }));
    },
    rounds: [
      // C_0 (proof of knowledge fails or point invalid), C_1 (share check fails), the proof, the chain-code commitment.
      { round: 1, direct: false, bytes: [{ at: 0, exact: true }, { at: 33, exact: true }, { at: 70, exact: true }, { at: -1, exact: true }] },
      // Echo: the sender's own entry / another party's entry; the revealed chain-code contribution.
      { round: 2, direct: false, bytes: [{ at: 0, exact: false }, { at: 40, exact: false }, { at: 70, exact: false }, { at: -1, exact: true }] },
      { round: 2, direct: true, bytes: [{ at: 0, exact: true }, { at: 31, exact: true }] },
      // Key confirmation.
      { round: 3, direct: false, bytes: [{ at: 0, exact: true }, { at: -1, exact: true }] },
    ],
  },
  {
    name: 'refresh',
    make: () => {
      const s = sid();
      return parties.map((self) => new FrostRefreshParty({ session: s, self, share: keys.get(self)! }));
    },
    rounds: [
      { round: 1, direct: false, bytes: [{ at: 0, exact: true }, { at: 32, exact: true }, { at: -1, exact: true }] },
      { round: 2, direct: false, bytes: [{ at: 0, exact: false }, { at: 40, exact: false }, { at: -1, exact: false }] },
      { round: 2, direct: true, bytes: [{ at: 0, exact: true }, { at: 31, exact: true }] },
      { round: 3, direct: false, bytes: [{ at: 0, exact: true }, { at: -1, exact: true }] },
    ],
  },
  {
    name: 'sign 3 of 3 (2-of-3 key)',
    make: () => {
      const s = sid();
      return parties.map((self) => new FrostSignParty({ session: s, self, signers: parties, share: keys.get(self)!, message: msg, path: '44/501/0/0/0' }));
    },
    rounds: [
      { round: 1, direct: false, bytes: [{ at: 0, exact: true }, { at: 33, exact: true }, { at: 63, exact: true }, { at: 95, exact: true }] },
      // The signature share z, then the echo entries.
      { round: 2, direct: false, bytes: [{ at: 0, exact: true }, { at: 31, exact: true }, { at: 32, exact: false }, { at: -1, exact: false }] },
    ],
  },
  {
    // The signer service's mode: shares go to the aggregator (party 1) only, and only it can name a bad one.
    name: 'sign 3 of 3 (2-of-3 key), aggregator 1',
    make: () => {
      const s = sid();
      return parties.map((self) => new FrostSignParty({ session: s, self, signers: parties, share: keys.get(self)!, message: msg, path: '44/501/0/0/0', aggregator: 1 }));
    },
    members: [2, 3],
    aggregator: 1,
    rounds: [
      { round: 1, direct: false, bytes: [{ at: 0, exact: true }, { at: 33, exact: true }, { at: 63, exact: true }, { at: 95, exact: true }] },
      { round: 2, direct: true, bytes: [{ at: 0, exact: true }, { at: 31, exact: true }, { at: 32, exact: false }, { at: -1, exact: false }] },
    ],
  },
  {
    name: 'sign 2 of 3 (signers 1, 3)',
    members: [1, 3],
    make: () => {
      const s = sid();
      return [1, 3].map((self) => new FrostSignParty({ session: s, self, signers: [1, 3], share: keys.get(self)!, message: msg, path: '44/501/0/0/0' }));
    },
    rounds: [
      { round: 1, direct: false, bytes: [{ at: 0, exact: true }, { at: 33, exact: true }, { at: 70, exact: true }] },
      // With two signers every echo entry is the sender's or the receiver's: always exact.
      { round: 2, direct: false, bytes: [{ at: 0, exact: true }, { at: 40, exact: true }, { at: -1, exact: true }] },
    ],
  },
];

for (const p of protocols) {
  for (const r of p.rounds) {
    test(`${p.name}: a bit flipped in round ${r.round} ${r.direct ? 'direct' : 'broadcast'} messages aborts naming the sender`, () => {
      for (const cheat of p.members ?? parties) {
        for (const { at, exact } of r.bytes) {
          const hit = new Set<number>();
          const tamper = (m: ProtocolMessage, to: number): ProtocolMessage => {
            if (m.from !== cheat || m.round !== r.round || (m.to === BROADCAST) === r.direct) return m;
            hit.add(to);
            return { ...m, body: flipBit(m.body, at, 3) };
          };
          const res = drive(p.make(), tamper);
          assert.ok(hit.size > 0, 'tamper hook never fired');
          for (const honest of hit) {
            // With an aggregator, another signer sees a tampered commitment that happens to decode
            // to a valid element (about 1 in 16 flips) only as a different commitment, the same for
            // every receiver: it sends its share to the aggregator and ends with no output. Only
            // the aggregator can check shares; it must name the cheater. Nobody may output a signature.
            const o = res.get(honest);
            if (p.aggregator !== undefined && honest !== p.aggregator && o?.ok) {
              assert.equal(o.output, null, `${p.name} r${r.round} cheat=${cheat} at=${at}: a non-aggregator output something`);
              continue;
            }
            const c = culpritsOf(o);
            const where = `${p.name} r${r.round} cheat=${cheat} at=${at} seen by ${honest}: [${c}]`;
            if (exact) assert.deepEqual(c, [cheat], where);
            else assert.ok(c.includes(cheat) && c.length <= 2, where);
          }
        }
      }
    });
  }
}

test('keygen: a party that equivocates its round-1 broadcast is caught by the echo round', () => {
  const s = sid();
  const ps = parties.map((self) => new FrostKeygenParty({ session: s, self, parties, threshold: 2 }));
  // A second, valid round-1 package of party 3 (fresh polynomial, valid proof) shown only to party 2.
  const alt = new FrostKeygenParty({ session: s, self: 3, parties, threshold: 2 }).start();
  assert.equal(alt.kind, 'send');
  const altBody = alt.kind === 'send' ? alt.messages[0]!.body : new Uint8Array(0);
  const res = drive(ps, (m, to) => (m.from === 3 && m.round === 1 && to === 2 ? { ...m, body: altBody } : m));
  // Party 2 sees 3's own echo of its package differ from what 3 sent it: certain.
  assert.deepEqual(culpritsOf(res.get(2)), [3]);
  // Party 1 cannot tell whether 3 equivocated or 2 lies about what it received.
  assert.deepEqual(culpritsOf(res.get(1)), [2, 3]);
});

test('sign: a signer that equivocates its nonce commitments is named, not the honest signers', () => {
  const s = sid();
  const ps = parties.map((self) => new FrostSignParty({ session: s, self, signers: parties, share: keys.get(self)!, message: msg }));
  const other = new FrostSignParty({ session: s, self: 3, signers: parties, share: keys.get(3)!, message: msg }).start();
  const altBody = other.kind === 'send' ? other.messages[0]!.body : new Uint8Array(0);
  const res = drive(ps, (m, to) => (m.from === 3 && m.round === 1 && to === 2 ? { ...m, body: altBody } : m));
  assert.deepEqual(culpritsOf(res.get(2)), [3]);
  assert.ok(culpritsOf(res.get(1)).includes(3));
});

test('sign: a nonce commitment with a small-order (torsion) component is refused, naming its sender', async () => {
  const { ed25519 } = await import('@noble/curves/ed25519.js');
  // (0, -1): the point of order 2.
  const T = ed25519.Point.fromBytes(Uint8Array.from(Buffer.from('ec' + 'ff'.repeat(30) + '7f', 'hex')));
  assert.ok(T.isSmallOrder() && !T.is0());
  for (const offset of [0, 32]) {
    const s = sid();
    const ps = parties.map((self) => new FrostSignParty({ session: s, self, signers: parties, share: keys.get(self)!, message: msg }));
    const res = drive(ps, (m) => {
      if (m.from !== 2 || m.round !== 1) return m;
      const body = Uint8Array.from(m.body);
      body.set(ed25519.Point.fromBytes(body.subarray(offset, offset + 32)).add(T).toBytes(), offset);
      return { ...m, body };
    });
    assert.deepEqual(culpritsOf(res.get(1)), [2]);
    assert.deepEqual(culpritsOf(res.get(3)), [2]);
  }
});

test('keygen: when one party aborts in round 2, no party outputs a key (round-3 confirmation)', () => {
  const s = sid();
  const ps = parties.map((self) => new FrostKeygenParty({ session: s, self, parties, threshold: 2 }));
  const res = drive(ps, (m, to) => (m.from === 1 && to === 2 && m.round === 2 && m.to === 2 ? { ...m, body: flipBit(m.body, 0) } : m));
  assert.deepEqual(culpritsOf(res.get(2)), [1]);
  assert.equal(res.get(1), undefined);
  assert.equal(res.get(3), undefined);
});

test('sign: parties asked to sign different messages (or paths) stop in round 1, before any share is released', () => {
  for (const variant of ['message', 'path'] as const) {
    const s = sid();
    const ps = parties.map(
      (self) =>
        new FrostSignParty({
          session: s,
          self,
          signers: parties,
          share: keys.get(self)!,
          message: variant === 'message' && self === 3 ? new Uint8Array(1) : msg,
          path: variant === 'path' && self === 3 ? '0' : '44/501/0/0/0',
        }),
    );
    const released: number[] = [];
    const res = drive(ps, (m) => {
      if (m.round === 2) released.push(m.from);
      return m;
    });
    assert.deepEqual(culpritsOf(res.get(1)), [3]);
    assert.deepEqual(culpritsOf(res.get(2)), [3]);
    assert.deepEqual(culpritsOf(res.get(3)), [1]);
    assert.deepEqual(released, []);
  }
});

test('sign: identity or non-canonical nonce commitments are refused, naming the sender', () => {
  const bad = [
    '01' + '00'.repeat(31), // identity
    '01' + '00'.repeat(30) + '80', // identity with the sign bit ("negative zero")
    'ed' + 'ff'.repeat(30) + '7f', // y = p: non-canonical
  ];
  for (const enc of bad)
    for (const offset of [0, 32]) {
      const s = sid();
      const ps = parties.map((self) => new FrostSignParty({ session: s, self, signers: parties, share: keys.get(self)!, message: msg }));
      const res = drive(ps, (m) => {
        if (m.from !== 3 || m.round !== 1) return m;
        const body = Uint8Array.from(m.body);
        body.set(Buffer.from(enc, 'hex'), offset);
        return { ...m, body };
      });
      assert.deepEqual(culpritsOf(res.get(1)), [3], `${enc} at ${offset}`);
      assert.deepEqual(culpritsOf(res.get(2)), [3], `${enc} at ${offset}`);
    }
});
