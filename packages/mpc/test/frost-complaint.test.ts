// Verifiable blame for FROST key generation and refresh (issue 19 item 4): a party re-checks a
// complaint from the accused's signed messages (Party.checkComplaint, used by the session runner
// in packages/party): a true complaint names the accused, a false one the complainer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BROADCAST, decodeMessage, encodeMessage, runLocal, type Party, type ProtocolMessage } from '../src/round.ts';
import { FrostKeygenParty } from '../src/frost/keygen.ts';
import { FrostRefreshParty } from '../src/frost/refresh.ts';
import type { FrostKeyShare } from '../src/frost/share.ts';

const PARTIES = [1, 2, 3];
const sid = (): Uint8Array => new Uint8Array(randomBytes(32));

/** Honest run; returns the finished parties and every message sent. */
function run(parties: Party<FrostKeyShare>[]): { parties: Party<FrostKeyShare>[]; sent: ProtocolMessage[] } {
  const sent: ProtocolMessage[] = [];
  const queue: ProtocolMessage[] = [];
  for (const p of parties) {
    const s = p.start();
    if (s.kind !== 'wait') queue.push(...s.messages);
  }
  while (queue.length > 0) {
    const m = queue.shift()!;
    sent.push(m);
    for (const p of parties) {
      if (p.self === m.from || (m.to !== BROADCAST && m.to !== p.self)) continue;
      const s = p.receive(decodeMessage(encodeMessage(m)));
      if (s.kind !== 'wait') queue.push(...s.messages);
    }
  }
  return { parties, sent };
}

const flip = (m: ProtocolMessage, at: number): ProtocolMessage => {
  const body = Uint8Array.from(m.body);
  const i = at < 0 ? body.length + at : at;
  body[i] = body[i]! ^ 0x04;
  return { ...m, body };
};

/** What complainer 3 shows against accused 2 in `round`: 2's broadcast and its direct message to 3. */
const shown = (sent: readonly ProtocolMessage[], round: number): ProtocolMessage[] => sent.filter((m) => m.from === 2 && m.round === round && (m.to === BROADCAST || m.to === 3));

function checks(name: string, r: { parties: Party<FrostKeyShare>[]; sent: ProtocolMessage[] }, bad: Record<number, Array<[string, (m: ProtocolMessage) => ProtocolMessage]>>): void {
  for (const verifier of [1, 2]) {
    const v = r.parties.find((p) => p.self === verifier)!;
    for (const round of [1, 2, 3]) {
      const msgs = shown(r.sent, round);
      assert.equal(v.checkComplaint!(3, msgs), 3, `${name} round ${round}, verifier ${verifier}: a complaint over honest messages names the complainer`);
      for (const [what, alter] of bad[round] ?? []) {
        const altered = msgs.map(alter);
        assert.equal(v.checkComplaint!(3, altered), 2, `${name} round ${round}, verifier ${verifier}: ${what} names the sender`);
      }
    }
    // Messages of someone else than the accused, or mixed rounds: not a complaint this party can judge.
    assert.equal(v.checkComplaint!(3, [...shown(r.sent, 1), ...shown(r.sent, 2)]), undefined);
  }
}

const direct = (f: (m: ProtocolMessage) => ProtocolMessage) => (m: ProtocolMessage): ProtocolMessage => (m.to === BROADCAST ? m : f(m));
const bcast = (f: (m: ProtocolMessage) => ProtocolMessage) => (m: ProtocolMessage): ProtocolMessage => (m.to === BROADCAST ? f(m) : m);

test('keygen complaints are re-checked by every party: share, proof of knowledge, chain-code reveal, echo, confirmation', () => {
  const s = sid();
  const r = run(PARTIES.map((self) => new FrostKeygenParty({ session: s, self, parties: PARTIES, threshold: 2 })));
  checks('keygen', r, {
    // Round 1 (2-of-3): C_0, C_1, the proof (R, μ), the chain-code commitment.
    1: [['a wrong proof of knowledge', bcast((m) => flip(m, 70))], ['a wrong proof scalar', bcast((m) => flip(m, 100))]],
    // Round 2: the share for the complainer; the echo of the sender's own broadcast; the chain-code reveal.
    2: [['a share off the commitments', direct((m) => flip(m, 0))], ['a false echo of its own broadcast', bcast((m) => flip(m, 32 + 3))], ['a chain code that does not open', bcast((m) => flip(m, -1))]],
    3: [['a confirmation of another state', bcast((m) => flip(m, 0))]],
  });
});

test('refresh complaints are re-checked by every party: zero-share, key-state digest, echo, confirmation', () => {
  const ks = sid();
  const keys = runLocal(PARTIES.map((self) => new FrostKeygenParty({ session: ks, self, parties: PARTIES, threshold: 2 })));
  const s = sid();
  const r = run(PARTIES.map((self) => new FrostRefreshParty({ session: s, self, share: keys.get(self)! })));
  checks('refresh', r, {
    1: [['another key-state digest', bcast((m) => flip(m, 0))]],
    2: [['a zero-share off the commitments', direct((m) => flip(m, 0))], ['a false echo of its own broadcast', bcast((m) => flip(m, 32 + 3))]],
    3: [['a confirmation of another state', bcast((m) => flip(m, 0))]],
  });
});
