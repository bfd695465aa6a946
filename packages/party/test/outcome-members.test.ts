// Failure outcomes are accepted only from session members (issue 19 item 4): a registered party
// outside the session publishing a failure with culprits does not end the session or blame anyone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SessionOutcome, SessionStart } from '@cosigner/proto';
import { PartyError } from '../src/errors.ts';
import { runSession } from '../src/session.ts';
import type { EnclaveSession } from '../src/enclave.ts';
import type { PartyTransport, SessionEvent } from '../src/transport.ts';

const outcome = (partyId: string, culprits: string[], code: string): SessionOutcome =>
  ({ sessionId: Buffer.alloc(32, 1), partyId, ok: false, code, reason: `${partyId} says so`, culprits, result: Buffer.alloc(0), evidence: Buffer.alloc(0) }) as SessionOutcome;

test('a failure outcome from a party outside the session is ignored; one from a member ends it', async () => {
  let deliver: ((e: SessionEvent) => void) | undefined;
  const transport = {
    self: 'customer',
    register: (_sid: Uint8Array, cb: (e: SessionEvent) => void) => {
      deliver = cb;
      return () => undefined;
    },
    send: async () => { throw new Error('nothing is sent in this test'); },
    registry: { resolve: async () => { throw new Error('no registry in this test'); } },
  } as unknown as PartyTransport;
  const session: EnclaveSession = {
    self: 1,
    parties: [1, 2],
    round: 1,
    start: async () => ({ messages: [], done: false }),
    receive: async () => ({ messages: [], done: false }),
  };
  const start = { sessionId: Buffer.alloc(32, 1), kind: 'SIGN', keyId: 'k', deadlineMs: 0 } as unknown as SessionStart;
  const p = runSession({ transport, start, session, parties: [{ id: 'customer', index: 1 }, { id: 'cloud-1', index: 2 }], roundTimeoutMs: 10_000 });
  await new Promise((r) => setTimeout(r, 50));
  // cloud-2 is registered but not in this session: it accuses cloud-1.
  deliver!({ kind: 'outcome', outcome: outcome('cloud-2', ['cloud-1'], 'ERR_SESSION_TIMEOUT') });
  await new Promise((r) => setTimeout(r, 50));
  deliver!({ kind: 'outcome', outcome: outcome('cloud-1', [], 'ERR_SESSION_TIMEOUT') });
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof PartyError);
    assert.match(e.message, /^cloud-1 aborted/);
    assert.deepEqual(e.culprits, []);
    return true;
  });
});
