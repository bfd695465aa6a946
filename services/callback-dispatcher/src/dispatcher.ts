/**
 * Deciding one received request (DESIGN.md step 3; callback-protocol.md "Actions"):
 *
 * - no handler configured: approve automatically only when the API user's record says so
 *   explicitly (`auto_approve`, set at pairing or when clearing the callback) and no handler has
 *   been asked about this request before (a RETRY whose handler was then removed ends FAILED
 *   ERR_CALLBACK_REMOVED); otherwise the request waits. A record missing the flag never approves;
 * - otherwise ask it; within one attempt's deadline (30 s by default) failures are retried with
 *   backoff, and an attempt that finds no valid answer ends the request FAILED, never approved;
 * - RETRY: the request is asked again later with the identical payload. The consumer slot is not
 *   held: the message is nak'ed with the retry interval as delay and the count kept in KV
 *   (`cosigner-dispatch`), so a retried request survives a dispatcher restart;
 * - every decision and every failed attempt is audited (hash chain) before it is acted on; an
 *   audit that cannot be written leaves the request waiting;
 * - the decision is recorded in KV before its event is published, so a redelivery after a crash
 *   republishes the same decision (absorbed by `Nats-Msg-Id`) instead of asking again;
 * - `approved` carries the proof the signing parties check: the Ed25519 signature of the
 *   approval key over the serialized ApprovalProof;
 * - before any handler is asked or anything approved, the workspace's own signature over the
 *   request bytes (`received.authorization`, DESIGN.md step 4) is verified against the trust
 *   configuration, and the event's envelope (workspace, API user, hash, expiry) must be what the
 *   workspace signed: a `received` that did not come from a workspace ends FAILED
 *   (ERR_ORIGINATION_INVALID) and is carried nowhere.
 */
import { createHash, createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import {
  ApiUser, ApprovalProof, RequestApproved, RequestFailed, RequestIgnored, RequestReceived, RequestRejected, RequestState,
  type Decision,
} from '@cosigner/proto';
import { RetryLater, STREAMS, annotateSpan, isCasConflict, metrics, publishEvent, requestMsgId, requestSubject, type Logger } from '@cosigner/platform';
import type { AuditLog } from '@cosigner/audit';
import { TrustError, verifyOrigination, type Trust } from '@cosigner/trust';
import { AttemptError, CallbackConfigError, USER_AGENT, askOnce, endpoint, prepareCallback, signRequest, type CallbackReply } from './callback.ts';
import { decodeRequest, type DecodedRequest } from './payload.ts';
import type { EgressGuard } from './egress.ts';

/** One observation per HTTP attempt: the handler's answer (APPROVE, REJECT, RETRY, IGNORE) or the attempt's error code. */
const callbackSeconds = metrics.histogram('cosigner_callback_duration_seconds', 'Callback handler attempts by handler (URL origin) and outcome (its answer, or the error code of a failed attempt), with their latency.', ['handler', 'outcome']);
const auditFailures = metrics.counter('cosigner_audit_write_failures_total', 'Audit records that could not be written (the change or decision waits or fails: fail closed).', ['kind']);

/** The handler label: the URL's origin only (no path or query, which could carry anything). */
function handlerLabel(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'invalid';
  }
}

export const REQUESTS_STREAM = STREAMS.requests.name;
export const DEFAULT_CALLBACK_DEADLINE_MS = 30_000;
export const DEFAULT_RETRY_INTERVAL_MS = 3 * 60_000;
export const DEFAULT_MAX_RETRIES = 20;
/** How long a request whose callback config cannot be read waits before it is looked at again. */
export const DEFAULT_CONFIG_RETRY_MS = 5_000;
const FIRST_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 5_000;
/** A try is not started with less than this left before the deadline: it could only time out. */
const MIN_TRY_MS = 100;


/** The per-request dispatch record (KV `cosigner-dispatch`). */
export interface DispatchRecord {
  /** RETRY answers received so far. */
  retries: number;
  /** Set once decided: the event to (re)publish. */
  decision?: { subject: string; msgId: string; data: string; outcome: string };
}

export interface DispatcherOptions {
  js: JetStreamClient;
  apiUsers: KV;
  requests: KV;
  dispatch: KV;
  audit: AuditLog;
  callbackKey: KeyObject;
  approvalKey: KeyObject;
  /** Where callbacks may go (egress.ts); every connection is checked by it. */
  guard: EgressGuard;
  /** The workspaces this co-signer trusts (COSIGNER_TRUST): origination is verified against them. */
  trust: Trust;
  instanceId: string;
  log: Logger;
  now?: () => number;
  deadlineMs?: number;
  retryIntervalMs?: number;
  maxRetries?: number;
  configRetryMs?: number;
}

function describeCause(e: AttemptError): string {
  const c = e.cause as (NodeJS.ErrnoException & { message?: string }) | undefined;
  return c ? `${c.code ?? ''} ${c.message ?? ''}`.trim() : e.message;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function terminal(s: RequestState): boolean {
  if (s.status === 'APPROVED') return true; // decided already (for a tx the signer goes on from here)
  return s.status === 'SIGNED' || s.status === 'REJECTED' || s.status === 'IGNORED' || s.status === 'FAILED';
}

type Outcome = { handlerUrl: string; latencyMs?: number } & (
  | { kind: 'approve'; auto: boolean; reply?: CallbackReply }
  | { kind: 'reject'; reason: string; reply: CallbackReply }
  | { kind: 'ignore'; reply: CallbackReply }
  | { kind: 'fail'; code: string; reason: string });

export class Dispatcher {
  readonly #o: DispatcherOptions;
  readonly #now: () => number;
  readonly approvalKeyId: string;
  /** API users as last seen by the KV watch (a miss reads KV). */
  readonly #users = new Map<string, { user: ApiUser | undefined; revision: number }>();
  #watch: { stop(): void } | undefined;

  constructor(o: DispatcherOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    const spki = createPublicKey(o.approvalKey).export({ type: 'spki', format: 'der' });
    this.approvalKeyId = createHash('sha256').update(spki).digest('hex').slice(0, 16);
  }

  get deadlineMs(): number { return this.#o.deadlineMs ?? DEFAULT_CALLBACK_DEADLINE_MS; }

  /** Follows `cosigner-api-users` so the hot path reads no KV for the API user and its callback config. */
  async watchApiUsers(): Promise<void> {
    const it = await this.#o.apiUsers.watch();
    this.#watch = it;
    void (async () => {
      for await (const e of it) {
        const prev = this.#users.get(e.key);
        if (prev && prev.revision >= e.revision) continue;
        let user: ApiUser | undefined;
        try {
          user = e.operation === 'PUT' && e.value.length > 0 ? ApiUser.decode(e.value) : undefined;
        } catch {
          user = undefined; // undecodable: treated as not paired (fail closed)
        }
        this.#users.set(e.key, { user, revision: e.revision });
      }
    })().catch((err: unknown) => {
      this.#o.log.warn('API user watch ended; reading KV per request', { err });
      this.#users.clear();
    });
  }

  stopWatch(): void {
    this.#watch?.stop();
  }

  async #apiUser(id: string): Promise<ApiUser | undefined> {
    const hit = this.#users.get(id);
    if (hit) return hit.user;
    const e = await this.#o.apiUsers.get(id);
    const user = e && e.operation === 'PUT' && e.value.length > 0 ? ApiUser.decode(e.value) : undefined;
    if (e && !this.#users.has(id)) this.#users.set(id, { user, revision: e.revision });
    return user;
  }

  async #readRecord(id: string): Promise<{ rec: DispatchRecord; revision: number } | undefined> {
    const e = await this.#o.dispatch.get(id);
    if (!e || e.operation !== 'PUT' || e.value.length === 0) return undefined;
    return { rec: JSON.parse(dec.decode(e.value)) as DispatchRecord, revision: e.revision };
  }

  async #writeRecord(id: string, rec: DispatchRecord, revision: number | undefined): Promise<boolean> {
    try {
      if (revision === undefined) await this.#o.dispatch.create(id, enc.encode(JSON.stringify(rec)));
      else await this.#o.dispatch.update(id, enc.encode(JSON.stringify(rec)), revision);
      return true;
    } catch (e) {
      if (isCasConflict(e)) return false;
      throw e;
    }
  }

  async #republish(d: NonNullable<DispatchRecord['decision']>): Promise<void> {
    await publishEvent(this.#o.js, d.subject, Buffer.from(d.data, 'base64'), { msgId: d.msgId, expectedStream: REQUESTS_STREAM });
  }

  /** The consumer handler for one `received` message; resolves = ack, throws = nak/term. */
  async handle(m: JsMsg): Promise<void> {
    const ev = RequestReceived.decode(m.data);
    const id = ev.requestId;
    annotateSpan({ 'cosigner.request_id': id, 'cosigner.api_user': ev.apiUserId, 'cosigner.workspace_id': ev.workspaceId });
    // A first delivery has no dispatch record yet (one `received` per id): skip reading it.
    const first = m.info.deliveryCount === 1;
    const [recE, stateE] = await Promise.all([first ? undefined : this.#readRecord(id), this.#o.requests.get(id)]);
    if (recE?.rec.decision) {
      await this.#republish(recE.rec.decision);
      return;
    }
    if (stateE && stateE.operation === 'PUT' && stateE.value.length > 0 && terminal(RequestState.decode(stateE.value))) return;
    if (ev.expiresAtMs > 0 && this.#now() > ev.expiresAtMs) return; // intake's sweeper fails it
    const retries = recE?.rec.retries ?? 0;
    const attempt = retries + 1;
    const forged = await this.#checkOrigination(ev);
    if (forged) {
      this.#o.log.warn('refused a request the workspace did not sign', { requestId: id, code: forged.code, reason: forged.reason });
      await this.#decide(ev, [], forged, attempt, recE);
      return;
    }

    let user: ApiUser | undefined;
    try {
      user = await this.#apiUser(ev.apiUserId);
    } catch (e) {
      this.#o.log.warn('cannot read the API user; the request waits', { requestId: id, err: e });
      throw new RetryLater('API user unreadable', { delayMs: this.#o.configRetryMs ?? DEFAULT_CONFIG_RETRY_MS });
    }
    const req = decodeRequest(ev.kind, ev.request);
    let outcome: Outcome;
    if (!user || user.state !== 'ACTIVE' || user.workspaceId !== ev.workspaceId) {
      outcome = { kind: 'fail', code: 'ERR_API_USER_NOT_PAIRED', reason: `API user ${ev.apiUserId} is not paired`, handlerUrl: '' };
    } else if (!user.callback || user.callback.url === '') {
      if (retries > 0) {
        // A handler answered RETRY for this request and has been removed since: the request was
        // put to that handler, and dropping it must not turn into an approval.
        outcome = { kind: 'fail', code: 'ERR_CALLBACK_REMOVED', reason: 'the callback handler was removed while the request awaited its retry', handlerUrl: '' };
      } else if (user.autoApprove === true) {
        outcome = { kind: 'approve', auto: true, handlerUrl: '' };
      } else {
        // No handler and no explicit auto-approve: nobody may approve yet. The request waits for a
        // handler to be configured (or for its expiry); it is never approved by default.
        throw new RetryLater('no callback handler and auto-approve is off', { delayMs: this.#o.configRetryMs ?? DEFAULT_CONFIG_RETRY_MS });
      }
    } else {
      let cb;
      try {
        cb = prepareCallback(user.callback);
      } catch (e) {
        // Fail closed: never auto-approve around a config we cannot use.
        this.#o.log.error('callback config unusable; the request waits', { requestId: id, apiUserId: ev.apiUserId, err: e });
        throw new RetryLater(e instanceof CallbackConfigError ? e.message : 'callback config unusable', { delayMs: this.#o.configRetryMs ?? DEFAULT_CONFIG_RETRY_MS });
      }
      const handlerUrl = endpoint(cb.baseUrl, req.path).toString();
      const asked = await this.#ask(ev, req, cb, handlerUrl, attempt);
      if (asked.kind === 'retry') {
        if (retries + 1 > (this.#o.maxRetries ?? DEFAULT_MAX_RETRIES)) {
          outcome = { kind: 'fail', code: 'ERR_CALLBACK_RETRIES_EXHAUSTED', reason: `handler asked to retry more than ${this.#o.maxRetries ?? DEFAULT_MAX_RETRIES} times`, handlerUrl };
        } else {
          if (!(await this.#writeRecord(id, { retries: retries + 1 }, recE?.revision))) throw new RetryLater('dispatch record changed concurrently', { delayMs: 100 });
          throw new RetryLater(`handler asked to retry (${retries + 1})`, { delayMs: this.#o.retryIntervalMs ?? DEFAULT_RETRY_INTERVAL_MS });
        }
      } else {
        outcome = asked;
      }
    }
    await this.#decide(ev, req.digests, outcome, attempt, recE);
  }

  /**
   * The workspace signed these bytes for this API user, and the envelope says what it signed.
   * Returns the failure outcome when not; a key source that cannot be reached is retried later.
   */
  async #checkOrigination(ev: RequestReceived): Promise<(Outcome & { kind: 'fail' }) | undefined> {
    const fail = (reason: string): Outcome & { kind: 'fail' } => ({ kind: 'fail', code: 'ERR_ORIGINATION_INVALID', reason, handlerUrl: '' });
    let o;
    try {
      o = await verifyOrigination(this.#o.trust, { kind: ev.kind, request: ev.request, authorization: ev.authorization }, this.#now());
    } catch (e) {
      if (e instanceof TrustError && e.code === 'ERR_KEYS_UNAVAILABLE') throw new RetryLater('workspace keys unavailable', { delayMs: this.#o.configRetryMs ?? DEFAULT_CONFIG_RETRY_MS });
      return fail(e instanceof Error ? e.message : 'origination does not verify');
    }
    if (o.requestId !== ev.requestId) return fail('the event names another request id than the workspace signed');
    if (o.workspaceId !== ev.workspaceId) return fail('the event names another workspace than the one that signed');
    if (o.apiUserId !== ev.apiUserId) return fail('the event names another API user than the workspace signed for');
    if (o.expiresAtMs !== ev.expiresAtMs) return fail('the event carries another expiry than the workspace signed');
    if (!Buffer.from(ev.requestHash).equals(createHash('sha256').update(ev.request).digest())) return fail('the event carries another request hash');
    return undefined;
  }

  /** One attempt within the deadline: failures retried with backoff, each audited. */
  async #ask(ev: RequestReceived, req: DecodedRequest, cb: ReturnType<typeof prepareCallback>, handlerUrl: string, attempt: number): Promise<Outcome | { kind: 'retry' }> {
    const deadline = this.#now() + this.deadlineMs;
    const signed = cb.mode === 'JWT' ? await signRequest(req.payload, this.#o.callbackKey) : undefined;
    let backoff = FIRST_BACKOFF_MS;
    // Every distinct failure, in order of first occurrence, with its count: the final reason names
    // them all, so a last try cut short by the deadline does not hide why the earlier ones failed.
    const failures = new Map<string, number>();
    let tries = 0;
    for (let n = 1; ; n++) {
      const left = deadline - this.#now();
      if (left <= 0 || (n > 1 && left < MIN_TRY_MS)) break;
      tries = n;
      const t0 = this.#now();
      try {
        const reply = await askOnce(cb, req.path, req.payload, this.#o.callbackKey, left, signed, `${USER_AGENT} (${this.#o.instanceId})`, this.#o.guard);
        const latencyMs = this.#now() - t0;
        callbackSeconds.observe({ handler: handlerLabel(handlerUrl), outcome: reply.action }, latencyMs / 1000);
        if (reply.action === 'IGNORE' && req.kind !== 'CONFIG_CHANGE') throw new AttemptError('ERR_CALLBACK_ACTION', 'IGNORE is only valid for config changes');
        if (reply.action === 'RETRY') {
          await this.#audit(ev, handlerUrl, attempt, 'RETRY', latencyMs, '');
          return { kind: 'retry' };
        }
        if (reply.action === 'APPROVE') return { kind: 'approve', auto: false, reply, handlerUrl, latencyMs };
        if (reply.action === 'REJECT') return { kind: 'reject', reason: reply.rejectionReason || 'rejected by the callback handler', reply, handlerUrl, latencyMs };
        return { kind: 'ignore', reply, handlerUrl, latencyMs };
      } catch (e) {
        if (!(e instanceof AttemptError)) throw e;
        callbackSeconds.observe({ handler: handlerLabel(handlerUrl), outcome: e.code }, (this.#now() - t0) / 1000);
        // The detail (errno, HTTP status) is for the operator's log only: the audited reason is
        // coarse so that it does not map the network for whoever set the URL.
        this.#o.log.warn('callback attempt failed', { requestId: ev.requestId, code: e.code, detail: describeCause(e) });
        const why = `${e.code}: ${e.message}`;
        failures.set(why, (failures.get(why) ?? 0) + 1);
        await this.#audit(ev, handlerUrl, attempt, 'FAILED_ATTEMPT', this.#now() - t0, `try ${n}: ${why}`);
      }
      const wait = Math.min(backoff, deadline - this.#now() - MIN_TRY_MS);
      if (wait < 0) break;
      await new Promise((r) => setTimeout(r, wait));
      backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
    }
    const seen = [...failures].map(([why, k]) => (k > 1 ? `${why} (x${k})` : why)).join('; ') || 'no answer';
    return { kind: 'fail', code: 'ERR_CALLBACK_FAILED', reason: `no valid answer from the callback handler within ${this.deadlineMs} ms, ${tries} tries: ${seen}`, handlerUrl };
  }

  async #audit(ev: RequestReceived, handlerUrl: string, attempt: number, outcome: string, latencyMs: number, reason: string): Promise<void> {
    try {
      await this.#o.audit.append({
        kind: 'callback', requestId: ev.requestId, apiUserId: ev.apiUserId, handlerUrl, attempt, outcome,
        latencyMs: Math.max(0, Math.min(0xffff_ffff, Math.round(latencyMs))), reason: reason.slice(0, 512), actor: this.#o.instanceId,
      });
    } catch (e) {
      auditFailures.inc({ kind: 'callback' });
      this.#o.log.error('audit append failed; the request waits', { requestId: ev.requestId, err: e });
      throw new RetryLater('audit unavailable', { delayMs: 1000 });
    }
  }

  #event(ev: RequestReceived, digests: Buffer[], o: Outcome, attempt: number): { subject: string; msgId: string; data: Uint8Array; outcome: string; reason: string } {
    const now = this.#now();
    const id = ev.requestId;
    switch (o.kind) {
      case 'approve': {
        const decision: Decision = 'APPROVE';
        const proof: ApprovalProof = {
          requestId: id, requestHash: ev.requestHash, digests, decision, decidedAtMs: now,
          approvalKeyId: this.approvalKeyId, handlerUrl: o.handlerUrl, handlerReply: o.reply?.raw ?? '', apiUserId: ev.apiUserId, attempt,
        };
        const proofBytes = Buffer.from(ApprovalProof.encode(proof).finish());
        const sig = cryptoSign(null, proofBytes, this.#o.approvalKey);
        const data = RequestApproved.encode({ requestId: id, kind: ev.kind, request: ev.request, proof: proofBytes, proofSignature: sig, approvedAtMs: now, expiresAtMs: ev.expiresAtMs, authorization: ev.authorization }).finish();
        return { subject: requestSubject('approved', id), msgId: requestMsgId('approved', id), data, outcome: o.auto ? 'AUTO_APPROVE' : 'APPROVE', reason: '' };
      }
      case 'reject': {
        const data = RequestRejected.encode({ requestId: id, reason: o.reason, rejectedAtMs: now, handlerUrl: o.handlerUrl, handlerReply: o.reply.raw }).finish();
        return { subject: requestSubject('rejected', id), msgId: requestMsgId('rejected', id), data, outcome: 'REJECT', reason: o.reason };
      }
      case 'ignore': {
        const data = RequestIgnored.encode({ requestId: id, ignoredAtMs: now, handlerUrl: o.handlerUrl }).finish();
        return { subject: requestSubject('ignored', id), msgId: requestMsgId('ignored', id), data, outcome: 'IGNORE', reason: '' };
      }
      case 'fail': {
        const data = RequestFailed.encode({ requestId: id, code: o.code, reason: o.reason, culprits: [], failedAtMs: now, stage: 'dispatch' }).finish();
        return { subject: requestSubject('failed', id), msgId: requestMsgId('failed', id), data, outcome: 'FAILED', reason: `${o.code}: ${o.reason}` };
      }
    }
  }

  /** Audit, record, publish: in that order, so nothing is acted on unaudited or decided twice. */
  async #decide(ev: RequestReceived, digests: Buffer[], o: Outcome, attempt: number, recE: { rec: DispatchRecord; revision: number } | undefined): Promise<void> {
    const e = this.#event(ev, digests, o, attempt);
    const latency = o.latencyMs ?? 0;
    await this.#audit(ev, o.handlerUrl, attempt, e.outcome, latency, e.reason);
    const decision = { subject: e.subject, msgId: e.msgId, data: Buffer.from(e.data).toString('base64'), outcome: e.outcome };
    let rev = recE?.revision;
    let retries = recE?.rec.retries ?? 0;
    for (let i = 0; i < 10; i++) {
      if (await this.#writeRecord(ev.requestId, { retries, decision }, rev)) {
        await this.#republish(decision);
        return;
      }
      // Another instance got here (an ack-wait redelivery raced us): publish what it decided.
      const cur = await this.#readRecord(ev.requestId);
      if (cur?.rec.decision) {
        await this.#republish(cur.rec.decision);
        return;
      }
      rev = cur?.revision;
      retries = cur?.rec.retries ?? retries;
    }
    throw new RetryLater('dispatch record contended', { delayMs: 500 });
  }
}
