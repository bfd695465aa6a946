/**
 * Admission (DESIGN.md "A transaction, end to end", step 2): authenticate the workspace's JWT over
 * the exact request bytes, check the API user and keys, make the request id idempotent, publish
 * `received`. Reads (Get / Watch) come from the KV projection; Cancel publishes `failed`.
 *
 * Idempotency: the request id is the status key and the JetStream message id
 * (`<id>:received`). A resubmission is answered from the status record when it exists, else from
 * the stream: a duplicate PubAck names the sequence of the original message, whose request hash
 * decides "same request" (return it) or "another body" (ALREADY_EXISTS).
 */
import { createHash } from 'node:crypto';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import {
  ApiUser, KeyInfo, RequestFailed, RequestReceived, RequestState,
  type ConfigChangeRequest, type RequestKind, type TransactionSignRequest,
} from '@cosigner/proto';
import { activeTraceId, annotateSpan, isCasConflict, metrics, publishEvent, type Logger } from '@cosigner/platform';
import { INTAKE_AUDIENCE, SUBMISSION_MAX_LIFETIME_S, type Trust, type VerifiedToken } from '@cosigner/trust';
import { fromTrustError, intakeError } from './errors.ts';
import { REQUESTS_STREAM, isTerminal, msgIdOf, subjectOf } from './state.ts';
import { parseCancelRequest, parseConfigChangeRequest, parseTransactionRequest } from './validate.ts';

export interface IntakeDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  trust: Trust;
  requests: KV;
  apiUsers: KV;
  keys: KV;
  nonces: KV;
  now: () => number;
  log: Logger;
  /** KV `cosigner-sign-gate` (see cancel). */
  gate?: KV;
  /** The request size budget (validate.ts requestBudget of the server's max payload). */
  maxRequestBytes?: number;
}

export interface SubmitResult {
  state: RequestState;
  created: boolean;
}

/** Submissions by kind and result: admitted, duplicate (the same request again), or the error code that refused it. */
const submissions = metrics.counter('cosigner_intake_submissions_total', 'Submissions to intake by request kind and result (admitted, duplicate, or the refusal\'s error code).', ['kind', 'result']);

async function countSubmission(kind: RequestKind, p: Promise<SubmitResult>): Promise<SubmitResult> {
  try {
    const r = await p;
    submissions.inc({ kind, result: r.created ? 'admitted' : 'duplicate' });
    return r;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    submissions.inc({ kind, result: typeof code === 'string' ? code : 'ERR_INTERNAL' });
    throw e;
  }
}

function sha256(b: Uint8Array): Buffer {
  return createHash('sha256').update(b).digest();
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

export class Intake {
  readonly #d: IntakeDeps;

  constructor(d: IntakeDeps) {
    this.#d = d;
  }

  /** Verifies the submission JWT and binds it to these bytes, this workspace and this API user. */
  async #authenticate(token: string, bytes: Uint8Array, workspaceId: string, apiUserId: string): Promise<VerifiedToken> {
    let v: VerifiedToken;
    try {
      v = await this.#d.trust.verify(token, { audience: INTAKE_AUDIENCE, maxLifetimeS: SUBMISSION_MAX_LIFETIME_S });
    } catch (e) {
      throw fromTrustError(e);
    }
    const reqHash = v.claims['reqHash'];
    if (typeof reqHash !== 'string' || reqHash.toLowerCase() !== Buffer.from(sha256(bytes)).toString('hex')) {
      throw intakeError('ERR_REQUEST_HASH_MISMATCH', 'the token does not bind these request bytes');
    }
    if (v.workspaceId !== workspaceId) throw intakeError('ERR_WORKSPACE_MISMATCH', 'the token is from another workspace than the request names');
    if (v.apiUserId !== apiUserId) throw intakeError('ERR_API_USER_MISMATCH', 'the token is for another API user than the request names');
    return v;
  }

  /**
   * Spends the token's nonce (KV create fails if it exists). The same token presented again for
   * the same request is a retry of one submission, not a replay: it cannot change anything.
   */
  async #spendNonce(v: VerifiedToken, requestId: string, reqHash: string): Promise<void> {
    const nonce = typeof v.claims['nonce'] === 'string' && v.claims['nonce'] !== '' ? v.claims['nonce'] : v.claims.jti;
    const key = createHash('sha256').update(`${v.issuer}\n${nonce}`).digest('hex');
    const value = new TextEncoder().encode(JSON.stringify({ requestId, reqHash }));
    try {
      await this.#d.nonces.create(key, value);
      return;
    } catch (e) {
      if (!isCasConflict(e)) throw e;
    }
    const prev = await this.#d.nonces.get(key);
    if (prev && prev.operation === 'PUT') {
      try {
        const p = JSON.parse(new TextDecoder().decode(prev.value)) as { requestId?: string; reqHash?: string };
        if (p.requestId === requestId && p.reqHash === reqHash) return;
      } catch {
        // fall through: refused
      }
    }
    throw intakeError('ERR_NONCE_REPLAYED', 'the token nonce was already used');
  }

  async #checkApiUser(workspaceId: string, apiUserId: string): Promise<ApiUser> {
    const e = await this.#d.apiUsers.get(apiUserId);
    if (!e || e.operation !== 'PUT' || e.value.length === 0) throw intakeError('ERR_API_USER_NOT_PAIRED', `API user ${apiUserId} is not paired with this co-signer`);
    const u = ApiUser.decode(e.value);
    if (u.workspaceId !== workspaceId) throw intakeError('ERR_API_USER_WRONG_WORKSPACE', `API user ${apiUserId} is not of workspace ${workspaceId}`);
    if (u.state !== 'ACTIVE') throw intakeError('ERR_API_USER_NOT_PAIRED', `API user ${apiUserId} is ${u.state === 'UNPAIRED' ? 'unpaired' : 'not active'}`);
    return u;
  }

  async #checkKeys(r: TransactionSignRequest): Promise<void> {
    const seen = new Map<string, KeyInfo>();
    for (const [i, entry] of r.entries.entries()) {
      let k = seen.get(entry.keyId);
      if (!k) {
        const e = await this.#d.keys.get(entry.keyId);
        if (!e || e.operation !== 'PUT' || e.value.length === 0) throw intakeError('ERR_KEY_NOT_FOUND', `entry ${i}: key ${entry.keyId} does not exist`, { entry: i });
        k = KeyInfo.decode(e.value);
        seen.set(entry.keyId, k);
      }
      if (k.workspaceId !== r.workspaceId) throw intakeError('ERR_KEY_WRONG_WORKSPACE', `entry ${i}: key ${entry.keyId} is not of workspace ${r.workspaceId}`, { entry: i });
      if (k.algorithm !== entry.algorithm) throw intakeError('ERR_ALGORITHM_MISMATCH', `entry ${i}: key ${entry.keyId} is ${k.algorithm}, not ${entry.algorithm}`, { entry: i });
    }
  }

  async #existing(requestId: string, hash: Uint8Array): Promise<SubmitResult | undefined> {
    const cur = await this.get(requestId).catch((e: unknown) => {
      if ((e as { code?: string }).code === 'ERR_NOT_FOUND') return undefined;
      throw e;
    });
    if (!cur || cur.requestHash.length === 0) return undefined;
    if (!sameBytes(cur.requestHash, hash)) throw intakeError('ERR_ALREADY_EXISTS', `request ${requestId} exists with another body`);
    return { state: cur, created: false };
  }

  /** Publishes `received` for a request not seen in the status record (`#existing` said so). */
  async #admit(kind: RequestKind, bytes: Uint8Array, r: { requestId: string; workspaceId: string; apiUserId: string; expiresAtMs: number }, v: VerifiedToken, token: string, hash: Buffer): Promise<SubmitResult> {
    await this.#spendNonce(v, r.requestId, Buffer.from(hash).toString('hex'));
    const now = this.#d.now();
    const ev: RequestReceived = {
      requestId: r.requestId, kind, workspaceId: r.workspaceId, apiUserId: r.apiUserId,
      request: Buffer.from(bytes), requestHash: hash, receivedAtMs: now, expiresAtMs: r.expiresAtMs,
      // The workspace's signature travels with the request: the dispatcher and every signing
      // party verify origination themselves (packages/trust origination.ts).
      authorization: token,
    };
    const ack = await publishEvent(this.#d.js, subjectOf('received', r.requestId), RequestReceived.encode(ev).finish(), {
      msgId: msgIdOf('received', r.requestId), expectedStream: REQUESTS_STREAM,
    });
    if (ack.duplicate) {
      // Someone published this id first (within the duplicate window): compare with theirs.
      const m = await this.#d.jsm.streams.getMessage(REQUESTS_STREAM, { seq: ack.seq });
      const orig = m ? RequestReceived.decode(m.data) : undefined;
      if (!orig || !sameBytes(orig.requestHash, hash)) throw intakeError('ERR_ALREADY_EXISTS', `request ${r.requestId} exists with another body`);
      const cur = await this.get(r.requestId).catch(() => undefined);
      return { state: cur ?? this.#receivedState(orig, ''), created: false };
    }
    return { state: this.#receivedState(ev, activeTraceId() ?? ''), created: true };
  }

  #receivedState(ev: RequestReceived, traceId: string): RequestState {
    return {
      requestId: ev.requestId, kind: ev.kind, workspaceId: ev.workspaceId, apiUserId: ev.apiUserId, status: 'RECEIVED',
      reason: '', errorCode: '', culprits: [], createdAtMs: ev.receivedAtMs, updatedAtMs: ev.receivedAtMs, expiresAtMs: ev.expiresAtMs,
      signatures: [], traceId, requestHash: ev.requestHash, revision: 0,
    };
  }

  /** SubmitTransaction: every check passes before anything is written or published. */
  async submitTransaction(bytes: Uint8Array, token: string): Promise<SubmitResult> {
    return countSubmission('TRANSACTION', this.#submitTransaction(bytes, token));
  }

  async submitConfigChange(bytes: Uint8Array, token: string): Promise<SubmitResult> {
    return countSubmission('CONFIG_CHANGE', this.#submitConfigChange(bytes, token));
  }

  async #submitTransaction(bytes: Uint8Array, token: string): Promise<SubmitResult> {
    const r = parseTransactionRequest(bytes, this.#d.now(), this.#d.maxRequestBytes);
    annotateSpan({ 'cosigner.request_id': r.requestId, 'cosigner.api_user': r.apiUserId, 'cosigner.workspace_id': r.workspaceId, 'cosigner.key_id': [...new Set(r.entries.map((e) => e.keyId))].join(',') });
    const v = await this.#authenticate(token, bytes, r.workspaceId, r.apiUserId);
    // The lookups at once; refusals keep their order (API user, then keys, then the id).
    const hash = sha256(bytes);
    const [u, k, ex] = await Promise.allSettled([this.#checkApiUser(r.workspaceId, r.apiUserId), this.#checkKeys(r), this.#existing(r.requestId, hash)]);
    if (u.status === 'rejected') throw u.reason;
    if (k.status === 'rejected') throw k.reason;
    if (ex.status === 'rejected') throw ex.reason;
    return ex.value ?? this.#admit('TRANSACTION', bytes, r, v, token, hash);
  }

  async #submitConfigChange(bytes: Uint8Array, token: string): Promise<SubmitResult> {
    const r: ConfigChangeRequest = parseConfigChangeRequest(bytes, this.#d.now(), this.#d.maxRequestBytes);
    annotateSpan({ 'cosigner.request_id': r.requestId, 'cosigner.api_user': r.apiUserId, 'cosigner.workspace_id': r.workspaceId });
    const v = await this.#authenticate(token, bytes, r.workspaceId, r.apiUserId);
    const hash = sha256(bytes);
    const [u, ex] = await Promise.allSettled([this.#checkApiUser(r.workspaceId, r.apiUserId), this.#existing(r.requestId, hash)]);
    if (u.status === 'rejected') throw u.reason;
    if (ex.status === 'rejected') throw ex.reason;
    return ex.value ?? this.#admit('CONFIG_CHANGE', bytes, r, v, token, hash);
  }

  async get(requestId: string): Promise<RequestState> {
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(requestId)) throw intakeError('ERR_INVALID_REQUEST_ID', 'request_id is malformed');
    const e = await this.#d.requests.get(requestId);
    if (!e || e.operation !== 'PUT' || e.value.length === 0) throw intakeError('ERR_NOT_FOUND', `request ${requestId} not found`);
    return { ...RequestState.decode(e.value), revision: e.revision };
  }

  /** The current state, then every change, until terminal (or the caller goes away). */
  async *watch(requestId: string, signal: AbortSignal): AsyncGenerator<RequestState> {
    await this.get(requestId); // NOT_FOUND up front
    const it = await this.#d.requests.watch({ key: requestId });
    const stop = () => it.stop();
    signal.addEventListener('abort', stop, { once: true });
    try {
      for await (const e of it) {
        if (e.operation !== 'PUT' || e.value.length === 0) continue;
        const s = { ...RequestState.decode(e.value), revision: e.revision };
        yield s;
        if (isTerminal(s)) break;
      }
    } finally {
      signal.removeEventListener('abort', stop);
      it.stop();
    }
  }

  /**
   * Cancels a request while no party can have released a share for it: it ends FAILED
   * (ERR_CANCELLED). The sign gate (KV `cosigner-sign-gate`) decides: Cancel creates `CANCELLED`
   * for the request, the signer creates `SIGNING` before any party is asked; whichever create
   * comes first wins. Once the signer has it (or the request is terminal), Cancel answers
   * ERR_NOT_CANCELLABLE naming the request's real state (details.status), and nothing changes.
   */
  async cancel(bytes: Uint8Array, token: string): Promise<RequestState> {
    const c = parseCancelRequest(bytes);
    const v = await this.#authenticate(token, bytes, c.workspaceId, c.apiUserId);
    const cur = await this.get(c.requestId);
    if (cur.workspaceId !== c.workspaceId) throw intakeError('ERR_NOT_FOUND', `request ${c.requestId} not found`);
    const notCancellable = (s: RequestState, why: string) => intakeError('ERR_NOT_CANCELLABLE', `request ${c.requestId} is ${s.status}${why}`, { status: s.status, ...(s.errorCode ? { errorCode: s.errorCode } : {}) });
    if (isTerminal(cur) || cur.status === 'SIGNED') throw notCancellable(cur, '');
    await this.#spendNonce(v, c.requestId, Buffer.from(sha256(bytes)).toString('hex'));
    if (this.#d.gate) {
      try {
        await this.#d.gate.create(c.requestId, new TextEncoder().encode('CANCELLED'));
      } catch (e) {
        if (!isCasConflict(e)) throw e;
        const g = await this.#d.gate.get(c.requestId);
        if (!g || g.operation !== 'PUT' || new TextDecoder().decode(g.value) !== 'CANCELLED') {
          // The signer started: shares may be out. Answer with what the request really is now.
          const now = await this.get(c.requestId);
          throw notCancellable(now, isTerminal(now) || now.status === 'SIGNED' ? '' : ' and being signed');
        }
        // Cancelled before (a retried cancel): publish the same event again (absorbed by its id).
      }
    }
    const now = this.#d.now();
    const ev: RequestFailed = { requestId: c.requestId, code: 'ERR_CANCELLED', reason: c.reason || 'cancelled by the workspace', culprits: [], failedAtMs: now, stage: 'intake' };
    await publishEvent(this.#d.js, subjectOf('failed', c.requestId), RequestFailed.encode(ev).finish(), { msgId: msgIdOf('failed', c.requestId), expectedStream: REQUESTS_STREAM });
    return { ...cur, status: 'FAILED', errorCode: 'ERR_CANCELLED', reason: ev.reason, updatedAtMs: now };
  }
}
