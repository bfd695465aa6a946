/** The signer's fault injection (faults.ts): off unless set, a typo is a configuration error, loud when on. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NO_SIGNER_FAULTS, announceSignerFaults, signerFaults } from '../src/faults.ts';

test('signer faults: none unless COSIGNER_UNSAFE_TEST_CRASH is set; only after-outcome is accepted; logged at warn when on', () => {
  assert.equal(signerFaults({}), NO_SIGNER_FAULTS);
  const logged: string[] = [];
  announceSignerFaults(NO_SIGNER_FAULTS, (_l, m) => logged.push(m));
  assert.equal(logged.length, 0);
  const f = signerFaults({ COSIGNER_UNSAFE_TEST_CRASH: 'after-outcome' });
  assert.equal(f.crashAfterOutcome, true);
  announceSignerFaults(f, (l, m) => logged.push(`${l}: ${m}`));
  assert.match(logged[0]!, /^warn: UNSAFE TEST FAULT INJECTION IS ON/);
  assert.throws(() => signerFaults({ COSIGNER_UNSAFE_TEST_CRASH: 'after-outcom' }), (e: { code?: string }) => e.code === 'ERR_CONFIG');
});
