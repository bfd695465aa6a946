// Adversarial review of issue 19 (attack-frost): a cheating member of a session must not get an
// honest party blamed by what it publishes as its failure outcome. Each test drives runSession
// as party 'customer' (index 1) with honest 'cloud-1' (2) and cheating 'cloud-2' (3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign as edSign, type KeyObject } from 'node:crypto';
import { decodeMessage, encodeMessage, type ProtocolMessage } from '@cosigner/mpc';
import type { SessionOutcome, SessionStart } from '@cosigner/proto';
import { PartyError } from '../src/errors.ts';
import { runSession } from '../src/session.ts';
import type { EnclaveSession } from '../src/enclave.ts';
import type { PartyTransport, SessionEvent } from '../src/transport.ts';
import { bodyDigest, bodyStatement, encodeEvidence } from '../src/evidence.ts';

const SID = Buffer.alloc(32, 1);
const parties = [{ id: 'customer', index: 1 }, { id: 'cloud-1', index: 2 }, { id: 'cloud-2', index: 3 }];
const ids = new Map<string, { publicKey: KeyObject; privateKey: KeyObject }>(parties.map((p) => [p.id, generateKeyPairSync('ed25519')]));

const outcome = (partyId: string, culprits: string[], code: string, evidence: Uint8Array = new Uint8Array(0)): SessionOutcome =>
  ({ sessionId: SID, partyId, ok: false, code, reason: `${partyId} says so`, culprits, result: Buffer.alloc(0), evidence: Buffer.from(evidence) }) as SessionOutcome;

/** Runs customer's side; `checkComplaint` is the protocol's re-check (undefined: the protocol has none). */
async function accuse(out: SessionOutcome, checkComplaint?: EnclaveSession['checkComplaint']): Promise<PartyError> {
  let deliver: ((e: SessionEvent) => void) | undefined;
  const transport = {
    self: 'customer',
    register: (_sid: Uint8Array, cb: (e: SessionEvent) => void) => {
      deliver = cb;
      return () => undefined;
    },
    send: async () => { throw new Error('nothing is sent in this test'); },
    registry: { resolve: async (id: string) => ({ verifyKey: ids.get(id)!.publicKey }) },
  } as unknown as PartyTransport;
  const session: EnclaveSession = {
    self: 1,
    parties: [1, 2, 3],
    round: 2,
    start: async () => ({ messages: [], done: false }),
    receive: async () => ({ messages: [], done: false }),
    ...(checkComplaint ? { checkComplaint } : {}),
  };
  const start = { sessionId: SID, kind: 'KEYGEN', keyId: 'k', deadlineMs: Date.now() + 10_000 } as unknown as SessionStart;
  const p = runSession({ transport, start, session, parties, roundTimeoutMs: 1_500 });
  await new Promise((r) => setTimeout(r, 50));
  // Honest cloud-1 is alive: its round-2 message to customer has arrived.
  const g = genuine(2, 1);
  deliver!({ kind: 'message', from: 'cloud-1', message: decodeMessage(g.wire), wire: g.wire, signed: { from: 2, round: 2, digest: bodyDigest(g.wire), sig: g.sig }, echo: [] });
  deliver!({ kind: 'outcome', outcome: out });
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof PartyError);
    return e;
  }
  assert.fail('the session should have failed');
}

/** A genuine message of honest cloud-1 (index 2), signed by it: what the cheater can show. */
function genuine(round: number, to: number): { wire: Uint8Array; sig: Uint8Array; echo: [] } {
  const m: ProtocolMessage = { protocol: 'frost/keygen', session: SID, round, from: 2, to, body: new Uint8Array(40).fill(round) };
  const wire = encodeMessage(m);
  return { wire, sig: new Uint8Array(edSign(null, bodyStatement(bodyDigest(wire), { session: SID, from: 2, round, to }), ids.get('cloud-1')!.privateKey)), echo: [] };
}

test('a member reporting a timeout of a party it names is not believed on its word', async () => {
  const e = await accuse(outcome('cloud-2', ['cloud-1'], 'ERR_SESSION_TIMEOUT'));
  assert.ok(!e.culprits.includes('cloud-1'), `honest cloud-1 blamed: ${e.culprits.join(',')}`);
});

test('a member reporting a refusal naming another party is not believed on its word', async () => {
  const e = await accuse(outcome('cloud-2', ['cloud-1'], 'ERR_APPROVAL_INVALID'));
  assert.ok(!e.culprits.includes('cloud-1'), `honest cloud-1 blamed: ${e.culprits.join(',')}`);
});

test('an abort naming a non-member next to an honest party does not blame the honest party', async () => {
  const e = await accuse(outcome('cloud-2', ['cloud-1', 'ghost'], 'ERR_MPC_ABORT'), async () => 3);
  assert.ok(!e.culprits.includes('cloud-1'), `honest cloud-1 blamed: ${e.culprits.join(',')}`);
});

test('a complaint showing genuine messages of two rounds (which the protocol cannot re-check) blames the complainer, not the accused', async () => {
  const ev = encodeEvidence({ kind: 'complaint', bodies: [genuine(1, 0), genuine(2, 3)] });
  // FROST keygen's checkComplaint answers undefined ("cannot tell") for messages of mixed rounds.
  const e = await accuse(outcome('cloud-2', ['cloud-1'], 'ERR_MPC_ABORT', ev), async (_c, msgs) => (new Set(msgs.map((m) => m.round)).size > 1 ? undefined : 3));
  assert.ok(!e.culprits.includes('cloud-1'), `honest cloud-1 blamed: ${e.culprits.join(',')}`);
});

test('a complaint the protocol cannot tell about blames nobody on the complainer\'s word', async () => {
  const ev = encodeEvidence({ kind: 'complaint', bodies: [genuine(2, 3)] });
  const e = await accuse(outcome('cloud-2', ['cloud-1'], 'ERR_MPC_ABORT', ev), async () => undefined);
  assert.ok(!e.culprits.includes('cloud-1'), `honest cloud-1 blamed: ${e.culprits.join(',')}`);
});
