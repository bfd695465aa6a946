import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { DomainError, isRetryable, unavailable } from '../src/errors.ts';
import { fromGrpcError, toGrpcError } from '../src/grpc/errors.ts';
import {
  decodeHealthCheckRequest, decodeHealthCheckResponse, encodeHealthCheckRequest, encodeHealthCheckResponse, ServingStatus,
} from '../src/grpc/health.ts';

test('DomainError defaults from the registry; codes are validated', () => {
  const table: [string, number, boolean][] = [
    ['ERR_INVALID_ARGUMENT', GrpcStatus.INVALID_ARGUMENT, false],
    ['ERR_UNAUTHENTICATED', GrpcStatus.UNAUTHENTICATED, false],
    ['ERR_NOT_FOUND', GrpcStatus.NOT_FOUND, false],
    ['ERR_UNAVAILABLE', GrpcStatus.UNAVAILABLE, true],
    ['ERR_INTERNAL', GrpcStatus.INTERNAL, false],
    ['ERR_TOKEN_EXPIRED', GrpcStatus.FAILED_PRECONDITION, false],
  ];
  for (const [code, st, retry] of table) {
    const e = new DomainError(code, 'm');
    assert.equal(e.grpcStatus, st, code);
    assert.equal(e.retryable, retry, code);
    assert.equal(e.name, 'DomainError');
  }
  assert.equal(new DomainError('ERR_BUSY', 'm', { grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED }).retryable, true);
  for (const bad of ['', 'err_lower', 'ERR-DASH', 'NOPE', `ERR_${'X'.repeat(70)}`]) assert.throws(() => new DomainError(bad, 'm'), TypeError, bad);
});

test('isRetryable is an allow-list', () => {
  const table: [unknown, boolean][] = [
    [unavailable('down'), true],
    [new DomainError('ERR_X', 'x', { retryable: false, grpcStatus: GrpcStatus.UNAVAILABLE }), false],
    [new Error('boom'), false],
    [Object.assign(new Error('x'), { code: GrpcStatus.DEADLINE_EXCEEDED }), true],
    [Object.assign(new Error('x'), { code: GrpcStatus.INVALID_ARGUMENT }), false],
    [Object.assign(new Error('x'), { code: 'ECONNRESET' }), true],
    [Object.assign(new Error('x'), { code: 'EACCES' }), false],
    [null, false],
    ['string', false],
  ];
  for (const [err, want] of table) assert.equal(isRetryable(err), want, String(err));
});

function serviceError(code: number, details: string, md: Record<string, string> = {}): ServiceError {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(md)) metadata.set(k, v);
  return Object.assign(new Error(details), { code, details, metadata });
}

test('toGrpcError / fromGrpcError round trip and foreign statuses', () => {
  const e = new DomainError('ERR_TOKEN_EXPIRED', 'token expired', { grpcStatus: GrpcStatus.UNAUTHENTICATED, details: { expiredAt: 12 } });
  const back = fromGrpcError(Object.assign(toGrpcError(e), { details: 'token expired' }) as unknown as ServiceError);
  assert.equal(back.code, 'ERR_TOKEN_EXPIRED');
  assert.equal(back.grpcStatus, GrpcStatus.UNAUTHENTICATED);
  assert.deepEqual(back.details, { expiredAt: 12 });
  const table: [ServiceError, string, boolean][] = [
    [serviceError(GrpcStatus.UNAVAILABLE, 'No connection established'), 'ERR_UNAVAILABLE', true],
    [serviceError(GrpcStatus.DEADLINE_EXCEEDED, 'Deadline exceeded'), 'ERR_DEADLINE_EXCEEDED', true],
    [serviceError(GrpcStatus.NOT_FOUND, 'x'), 'ERR_NOT_FOUND', false],
    [serviceError(GrpcStatus.INTERNAL, 'x', { 'x-cosigner-error-code': 'not a code' }), 'ERR_INTERNAL', false],
    [serviceError(GrpcStatus.UNAVAILABLE, 'x', { 'x-cosigner-retryable': 'false' }), 'ERR_UNAVAILABLE', false],
    [serviceError(GrpcStatus.INVALID_ARGUMENT, 'x', { 'x-cosigner-error-details': '{bad json' }), 'ERR_INVALID_ARGUMENT', false],
  ];
  for (const [se, code, retry] of table) {
    const d = fromGrpcError(se);
    assert.equal(d.code, code, se.details);
    assert.equal(d.retryable, retry, se.details);
  }
  assert.equal(fromGrpcError(new Error('not grpc')).code, 'ERR_INTERNAL');
});

test('health messages: round trip and malformed input (table)', () => {
  assert.deepEqual(decodeHealthCheckRequest(encodeHealthCheckRequest({ service: 'cosigner.v1.Pairing' })), { service: 'cosigner.v1.Pairing' });
  assert.deepEqual(decodeHealthCheckRequest(encodeHealthCheckRequest({ service: '' })), { service: '' });
  for (const s of Object.values(ServingStatus)) assert.deepEqual(decodeHealthCheckResponse(encodeHealthCheckResponse({ status: s })), { status: s });
  // Unknown fields are skipped (proto3 forward compatibility).
  assert.deepEqual(decodeHealthCheckRequest(Uint8Array.from([0x10, 0x05, 0x0a, 0x01, 0x61])), { service: 'a' });
  assert.deepEqual(decodeHealthCheckResponse(Uint8Array.from([0x08, 0x07])), { status: 0 }, 'out-of-range enum -> UNKNOWN');
  const malformed: Uint8Array[] = [
    Uint8Array.from([0x0a, 0x05, 0x61]), // length past the end
    Uint8Array.from([0x0a]), // tag without length
    Uint8Array.from([0x0f]), // invalid wire type 7
  ];
  for (const m of malformed) assert.throws(() => decodeHealthCheckRequest(m), String(m));
});
