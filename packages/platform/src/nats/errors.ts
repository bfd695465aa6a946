/**
 * Errors in NATS headers (replies and failure events): one writer, one parser, like nats.js
 * services' `Nats-Service-Error` / `Nats-Service-Error-Code`. An unknown error is written as
 * ERR_INTERNAL with no message beyond 'internal error'.
 */
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/nats-core';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { DomainError } from '../errors.ts';

export const ERROR_CODE_HEADER = 'Cosigner-Error-Code';
export const ERROR_MESSAGE_HEADER = 'Cosigner-Error-Message';
export const ERROR_RETRYABLE_HEADER = 'Cosigner-Error-Retryable';
export const ERROR_STATUS_HEADER = 'Cosigner-Error-Status';
const MAX_MESSAGE = 512;

// Header values cannot carry CR/LF; keep them single-line and bounded.
function clean(s: string): string {
  return s.replace(/[\r\n\t]+/g, ' ').slice(0, MAX_MESSAGE);
}

/** Writes `err` into (a copy-free) `h` (created if absent) and returns it. */
export function errorToHeaders(err: unknown, h: MsgHdrs = natsHeaders()): MsgHdrs {
  const d = err instanceof DomainError ? err : new DomainError('ERR_INTERNAL', 'internal error');
  h.set(ERROR_CODE_HEADER, d.code);
  h.set(ERROR_MESSAGE_HEADER, clean(d.message));
  h.set(ERROR_RETRYABLE_HEADER, d.retryable ? 'true' : 'false');
  h.set(ERROR_STATUS_HEADER, String(d.grpcStatus));
  return h;
}

/** The DomainError carried by `h`, or undefined if the headers carry none. */
export function errorFromHeaders(h: MsgHdrs | undefined): DomainError | undefined {
  const code = h?.get(ERROR_CODE_HEADER);
  if (!h || !code) return undefined;
  const st = Number(h.get(ERROR_STATUS_HEADER));
  const validCode = /^ERR_[A-Z0-9_]{1,64}$/.test(code) ? code : 'ERR_INTERNAL';
  return new DomainError(validCode, h.get(ERROR_MESSAGE_HEADER) || 'error', {
    grpcStatus: Number.isInteger(st) && st >= 0 && st <= 16 ? st : GrpcStatus.INTERNAL,
    retryable: h.get(ERROR_RETRYABLE_HEADER) === 'true',
  });
}
