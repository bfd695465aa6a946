/**
 * The status projection: how each lifecycle event moves a RequestState. Pure, so the projector
 * can re-apply an event any number of times (redelivery) and in any order relative to the
 * request's other events (concurrent handlers) and converge on the same record; a terminal state
 * never moves.
 */
import { BUCKETS, REQUEST_EVENT_KINDS, STREAMS, requestMsgId, requestSubject } from '@cosigner/platform';
import {
  RequestFailed, RequestIgnored, RequestReceived, RequestRejected, RequestSigned, RequestApproved,
  type RequestKind, type RequestState, type RequestStatus,
} from '@cosigner/proto';

// Names and conventions of the bus are declared once, in the platform's topology.
export const REQUESTS_STREAM = STREAMS.requests.name;
export const REQUESTS_SUBJECTS = STREAMS.requests.subjects[0];
export const REQUESTS_BUCKET = BUCKETS.requests.bucket;
export const EVENT_KINDS = REQUEST_EVENT_KINDS;
export type EventKind = (typeof EVENT_KINDS)[number];

export const subjectOf = requestSubject;
export const msgIdOf = requestMsgId;

/** Terminal: SIGNED, REJECTED, IGNORED, FAILED, and APPROVED for a config change. */
export function isTerminal(s: Pick<RequestState, 'status' | 'kind'>): boolean {
  if (s.status === 'APPROVED') return s.kind === 'CONFIG_CHANGE';
  return s.status === 'SIGNED' || s.status === 'REJECTED' || s.status === 'IGNORED' || s.status === 'FAILED';
}

export type LifecycleEvent =
  | { kind: 'received'; requestId: string; ev: RequestReceived }
  | { kind: 'approved'; requestId: string; ev: RequestApproved }
  | { kind: 'rejected'; requestId: string; ev: RequestRejected }
  | { kind: 'ignored'; requestId: string; ev: RequestIgnored }
  | { kind: 'signed'; requestId: string; ev: RequestSigned }
  | { kind: 'failed'; requestId: string; ev: RequestFailed };

/** Parses `cosigner.requests.<kind>.<id>` and decodes the payload; undefined for other subjects. */
export function decodeEvent(subject: string, data: Uint8Array): LifecycleEvent | undefined {
  const parts = subject.split('.');
  if (parts.length !== 4 || parts[0] !== 'cosigner' || parts[1] !== 'requests') return undefined;
  const kind = parts[2] as EventKind;
  const requestId = parts[3]!;
  switch (kind) {
    case 'received': return { kind, requestId, ev: RequestReceived.decode(data) };
    case 'approved': return { kind, requestId, ev: RequestApproved.decode(data) };
    case 'rejected': return { kind, requestId, ev: RequestRejected.decode(data) };
    case 'ignored': return { kind, requestId, ev: RequestIgnored.decode(data) };
    case 'signed': return { kind, requestId, ev: RequestSigned.decode(data) };
    case 'failed': return { kind, requestId, ev: RequestFailed.decode(data) };
    default: return undefined;
  }
}

export function emptyState(requestId: string): RequestState {
  return {
    requestId, kind: 'REQUEST_KIND_UNSPECIFIED', workspaceId: '', apiUserId: '', status: 'REQUEST_STATUS_UNSPECIFIED',
    reason: '', errorCode: '', culprits: [], createdAtMs: 0, updatedAtMs: 0, expiresAtMs: 0, signatures: [],
    traceId: '', requestHash: Buffer.alloc(0), revision: 0,
  };
}

function moveTo(s: RequestState, status: RequestStatus, at: number): RequestState {
  return { ...s, status, updatedAtMs: Math.max(s.updatedAtMs, at) };
}

/**
 * The state after `e`, or undefined when `e` changes nothing (already applied, or the state is
 * terminal). `traceId` is the trace of the event's producer, recorded once.
 */
export function applyEvent(cur: RequestState | undefined, e: LifecycleEvent, traceId = ''): RequestState | undefined {
  const base = cur ?? emptyState(e.requestId);
  let next: RequestState;
  switch (e.kind) {
    case 'received': {
      // Fills in what only `received` knows; the status moves only if nothing came before it.
      const ev = e.ev;
      const kind: RequestKind = ev.kind;
      next = {
        ...base,
        kind, workspaceId: ev.workspaceId, apiUserId: ev.apiUserId, createdAtMs: ev.receivedAtMs,
        expiresAtMs: ev.expiresAtMs, requestHash: ev.requestHash,
        traceId: base.traceId || traceId,
        status: base.status === 'REQUEST_STATUS_UNSPECIFIED' ? 'RECEIVED' : base.status,
        updatedAtMs: Math.max(base.updatedAtMs, ev.receivedAtMs),
      };
      if (cur && cur.workspaceId === next.workspaceId && cur.createdAtMs === next.createdAtMs && cur.status === next.status && cur.traceId === next.traceId) return undefined;
      return next;
    }
    case 'approved': {
      if (base.kind === 'REQUEST_KIND_UNSPECIFIED' && e.ev.kind !== 'REQUEST_KIND_UNSPECIFIED') base.kind = e.ev.kind;
      if (isTerminal(base) || base.status === 'APPROVED') return undefined;
      return moveTo(base, 'APPROVED', e.ev.approvedAtMs);
    }
    case 'signed': {
      if (isTerminal(base)) return undefined;
      next = moveTo(base, 'SIGNED', e.ev.signedAtMs);
      next.signatures = e.ev.signatures;
      return next;
    }
    case 'rejected': {
      if (isTerminal(base)) return undefined;
      next = moveTo(base, 'REJECTED', e.ev.rejectedAtMs);
      next.reason = e.ev.reason;
      next.errorCode = 'ERR_REJECTED';
      return next;
    }
    case 'ignored': {
      if (isTerminal(base)) return undefined;
      next = moveTo(base, 'IGNORED', e.ev.ignoredAtMs);
      return next;
    }
    case 'failed': {
      if (isTerminal(base)) return undefined;
      next = moveTo(base, 'FAILED', e.ev.failedAtMs);
      next.reason = e.ev.reason;
      next.errorCode = e.ev.code;
      next.culprits = e.ev.culprits;
      return next;
    }
  }
}

/** Trace id out of a W3C `traceparent` header value. */
export function traceIdOf(traceparent: string | undefined): string {
  const m = traceparent ? /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(traceparent) : null;
  return m && m[1] !== '0'.repeat(32) ? m[1]! : '';
}
