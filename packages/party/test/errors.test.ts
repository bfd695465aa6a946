/** Party errors carry what PARTY_ERROR_CODES declares: a platform DomainError, its gRPC status and retryability. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DomainError, GrpcStatus, isRetryable, RetryLater } from '@cosigner/platform';
import { isRoutingError, MpcError, ROUTING_ERROR_CODES } from '@cosigner/mpc';
import { PARTY_ERROR_CODES, PartyError, type PartyErrorCode } from '../src/index.ts';

test('every PartyError is a DomainError with its declared gRPC status and retryability; culprits travel as a detail', () => {
  for (const [code, d] of Object.entries(PARTY_ERROR_CODES) as [PartyErrorCode, { grpcStatus: number; retryable: boolean }][]) {
    const e = new PartyError(code, 'x');
    assert.ok(e instanceof DomainError, code);
    assert.equal(e.code, code);
    assert.equal(e.grpcStatus, d.grpcStatus, code);
    assert.equal(e.retryable, d.retryable, code);
    assert.equal(isRetryable(e), d.retryable, code);
  }
  // What a coordinator retries: a party that did not answer or refused, a lost presignature, a
  // sealed-store race, a peer not known yet, an envelope that did not open. Nothing else.
  const retryable = Object.entries(PARTY_ERROR_CODES).filter(([, d]) => d.retryable).map(([c]) => c).sort();
  assert.deepEqual(retryable, ['ERR_ENVELOPE', 'ERR_KEYS_UNAVAILABLE', 'ERR_PRESIGNATURE_NOT_FOUND', 'ERR_SEALED_CONFLICT', 'ERR_SESSION_REFUSED', 'ERR_SESSION_TIMEOUT', 'ERR_UNKNOWN_PARTY']);
  const blamed = new PartyError('ERR_MPC_ABORT', 'bad proof', { culprits: ['cloud-1', 'cloud-2'], nothingSent: true });
  assert.deepEqual(blamed.culprits, ['cloud-1', 'cloud-2']);
  assert.equal(blamed.details.culprits, 'cloud-1,cloud-2');
  assert.equal(blamed.nothingSent, true);
  assert.equal(blamed.name, 'PartyError');
});

test('RetryLater is the one retry-later error; the routing codes are declared once', () => {
  const r = new RetryLater('later', { delayMs: 250 });
  assert.ok(r instanceof DomainError);
  assert.equal(r.retryable, true);
  assert.equal(r.grpcStatus, GrpcStatus.UNAVAILABLE);
  assert.equal(r.delayMs, 250);
  assert.equal(new RetryLater('later').delayMs, undefined);
  for (const c of ROUTING_ERROR_CODES) assert.equal(isRoutingError(new MpcError(c, 'x')), true, c);
  assert.equal(isRoutingError(new MpcError('ERR_MPC_PROOF', 'x')), false);
  // A worker thread's error arrives rebuilt as a plain Error with the code.
  assert.equal(isRoutingError(Object.assign(new Error('x'), { code: 'ERR_MPC_DUPLICATE' })), true);
  assert.equal(isRoutingError(undefined), false);
});
