/** Fault injection (faults.ts): off unless set, read from one place, announced loudly when on. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NO_FAULTS, PartyError, announceFaults, corrupt, partyEnv, partyFaults, tampers } from '../src/index.ts';

test('party faults: none unless a COSIGNER_UNSAFE_TEST_* setting is set; parsed once; logged at warn when on', () => {
  assert.equal(partyFaults({}), NO_FAULTS);
  assert.equal(partyFaults({ COSIGNER_UNSAFE_TEST_TAMPER: '', COSIGNER_UNSAFE_TEST_SLOW_MS: '' }), NO_FAULTS);
  assert.equal(partyEnv({ PARTY_ID: 'cloud-1', PARTY_INDEX: '2' }).faults, NO_FAULTS);
  const logged: [string, string, Record<string, unknown>][] = [];
  announceFaults(NO_FAULTS, (l, m, f) => logged.push([l, m, f]));
  assert.equal(logged.length, 0);

  const f = partyFaults({ COSIGNER_UNSAFE_TEST_TAMPER: 'SIGN, PRESIGN', COSIGNER_UNSAFE_TEST_SLOW_MS: '300' });
  assert.equal(tampers(f, 'SIGN'), true);
  assert.equal(tampers(f, 'PRESIGN'), true);
  assert.equal(tampers(f, 'KEYGEN'), false);
  assert.equal(f.sendDelayMs, 300);
  assert.equal(tampers(partyFaults({ COSIGNER_UNSAFE_TEST_TAMPER: '1' }), 'REFRESH'), true);
  announceFaults(f, (l, m, fields) => logged.push([l, m, fields]));
  assert.equal(logged.length, 1);
  assert.equal(logged[0]![0], 'warn');
  assert.match(logged[0]![1], /UNSAFE TEST FAULT INJECTION IS ON/);
  assert.deepEqual(logged[0]![2], { COSIGNER_UNSAFE_TEST_TAMPER: 'SIGN,PRESIGN', COSIGNER_UNSAFE_TEST_SLOW_MS: 300 });
  assert.throws(() => partyFaults({ COSIGNER_UNSAFE_TEST_SLOW_MS: 'soon' }), (e: PartyError) => e.code === 'ERR_CONFIG');

  const m = { from: 1, to: 2, round: 1, protocol: 'p', session: new Uint8Array(1), body: Uint8Array.of(1, 2, 3) };
  const [c] = corrupt([m as never]) as { body: Uint8Array }[];
  assert.deepEqual([...c!.body], [1, 3, 3]); // the middle byte (2) flipped
  assert.deepEqual([...m.body], [1, 2, 3], 'the original is not changed');
});
