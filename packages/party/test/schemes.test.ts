/** The algorithm boundary: one scheme per algorithm from the mpc package; `parseAlgorithm` turns a protobuf value into one or a typed error. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALGORITHMS } from '@cosigner/mpc';
import { PartyError, parseAlgorithm, schemeFor, supportedAlgorithms } from '../src/index.ts';

test('parseAlgorithm: every algorithm of the build parses to itself with its scheme; unspecified and unknown values are typed errors', () => {
  assert.deepEqual([...supportedAlgorithms()].sort(), [...ALGORITHMS].sort());
  for (const a of ALGORITHMS) {
    assert.equal(parseAlgorithm(a), a);
    assert.equal(schemeFor(a).algorithm, a);
    // ECDSA schemes batch presignatures and check recovery ids; EdDSA needs neither.
    assert.equal(schemeFor(a).needsPresignature, a !== 'EDDSA_ED25519');
    assert.equal(typeof schemeFor(a).presignBatch, a !== 'EDDSA_ED25519' ? 'function' : 'undefined');
    assert.equal(typeof schemeFor(a).verifyRecoverable, a !== 'EDDSA_ED25519' ? 'function' : 'undefined');
  }
  assert.throws(() => parseAlgorithm('ALGORITHM_UNSPECIFIED'), (e: PartyError) => e.code === 'ERR_INVALID_ARGUMENT');
  assert.throws(() => parseAlgorithm(''), (e: PartyError) => e.code === 'ERR_INVALID_ARGUMENT');
  for (const bad of ['UNRECOGNIZED', 'ECDSA_ED448', 'ecdsa_secp256k1']) assert.throws(() => parseAlgorithm(bad), (e: PartyError) => e.code === 'ERR_UNSUPPORTED', bad);
});
