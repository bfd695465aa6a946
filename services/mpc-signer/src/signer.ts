/**
 * Signing approved requests: a durable consumer on cosigner.requests.approved.>, one handler per
 * request, idempotent on the request id.
 *
 * Per entry: the signature already made (sealed `sig.<req>.<i>`) is reused; otherwise the
 * signing plan (`plan.<req>.<i>`: which presignature, sealed before the session starts) is
 * reused or made, the SIGN session runs with both cloud parties, and the signature is verified
 * against the derived public key and sealed before anything is published. So a crash at any
 * point resumes with the same presignature and yields the same signature, never a second one.
 * `signed` / `failed` are published with Nats-Msg-Id `<id>:signed` / `<id>:failed`, awaiting
 * the ack; the approved message is acked only after that.
 */
import { createHash } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { CONSUMERS, DomainError, RetryLater, STREAMS, isCasConflict, publishEvent, requestMsgId, requestSubject, startConsumer, withSpan, type Logger } from '@cosigner/platform';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p256 } from '@noble/curves/nist.js';
import { RequestApproved, RequestFailed, RequestSigned, TransactionSignRequest, type EntrySignature, type KeyInfo } from '@cosigner/proto';
import {
  CUSTOMER_PARTY as CUSTOMER, DEFAULT_PARTIES, PartyError, decodeSignResult, encodeSignResult, pathString, schemeFor, token, verifyApproval,
  parseAlgorithm, type Algorithm, type PartyNode, type SignResult,
} from '@cosigner/party';
import type { KeyObject } from 'node:crypto';
import type { SignerFaults } from './faults.ts';
import type { KeyStore } from './keys.ts';
import type { PresignPool } from './pool.ts';
import type { PlanStore } from './plans.ts';
import { signingSeconds } from './metrics.ts';

export const REQUESTS_STREAM = STREAMS.requests.name;
export const SIGNER_CONSUMER = CONSUMERS.signer.durable;
const GATE_SIGNING = new TextEncoder().encode('SIGNING');

export interface SignerOptions {
  node: PartyNode;
  keys: KeyStore;
  pool: PresignPool;
  plans: PlanStore;
  js: JetStreamClient;
  /**
   * KV `cosigner-sign-gate`: the signer creates `SIGNING` for a request before any party is asked
   * for anything, intake's Cancel creates `CANCELLED`; whichever is first wins, so a request is
   * cancellable exactly until a share could have left, and never signed after a cancel.
   */
  gate?: KV;
  approvalKey: KeyObject;
  now?: () => number;
  log: (level: 'info' | 'warn' | 'error', msg: string, f?: Record<string, unknown>) => void;
  /** Observed latency of each signed request (approved event time to signed published). */
  onSigned?: (requestId: string, ms: number) => void;
  onFailed?: (requestId: string, code: string) => void;
  /** A signing set changed because a party did not answer (metrics). */
  onMoved?: (requestId: string, unavailable: readonly string[]) => void;
  /** TEST ONLY: fault injection (faults.ts); none by default. */
  faults?: SignerFaults;
}



export class Signer {
  #o: SignerOptions;
  #now: () => number;
  #inflight = new Map<string, Promise<void>>();

  constructor(o: SignerOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  /**
   * Handle one RequestApproved; resolves when its terminal event is durably published.
   * `firstDelivery`: the consumer delivers this message for the first time, so no plan of an
   * earlier run is likely to exist and the plan is created without being looked up first (a plan
   * that does exist still wins: creation is atomic and falls back to it).
   */
  async handle(bytes: Uint8Array, o: { firstDelivery?: boolean } = {}): Promise<void> {
    let approved: RequestApproved;
    try {
      approved = RequestApproved.decode(bytes);
    } catch {
      this.#o.log('warn', 'undecodable RequestApproved dropped');
      return;
    }
    if (approved.kind !== 'TRANSACTION') return; // config changes sign nothing
    const id = approved.requestId;
    const running = this.#inflight.get(id);
    if (running) return running;
    const p = this.handleOnce(bytes, approved, o.firstDelivery === true).finally(() => this.#inflight.delete(id));
    this.#inflight.set(id, p);
    return p;
  }

  private async handleOnce(bytes: Uint8Array, approved: RequestApproved, firstDelivery: boolean): Promise<void> {
    const records = this.#o.node.records;
    const rt = token(approved.requestId);
    // Fail closed: a proof that does not verify signs nothing and publishes nothing in this request's name.
    let v;
    try {
      v = verifyApproval(bytes, this.#o.approvalKey, 0);
    } catch (e) {
      this.#o.log('warn', 'approval proof refused; nothing signed', { requestId: approved.requestId, reason: (e as Error).message });
      return;
    }
    const done = await records.outcome(approved.requestId);
    if (done) {
      await this.republish(approved.requestId, done);
      // A run that stopped between sealing the outcome and tidying up left its presignatures
      // and plans behind: the outcome is durable, so they go now.
      await this.tidy(rt, v.request);
      return;
    }
    const req = v.request;
    const expires = req.expiresAtMs || approved.expiresAtMs;
    try {
      if (expires > 0 && this.#now() > expires) throw new DomainError('ERR_EXPIRED', 'request expired before it was signed', { retryable: false });
      if (!(await this.passGate(req.requestId))) throw new DomainError('ERR_CANCELLED', 'cancelled by the workspace before any share was released', { retryable: false });
      const sigs: EntrySignature[] = [];
      const release: [string, number, string][] = [];
      for (let i = 0; i < req.entries.length; i++) {
        const e = req.entries[i]!;
        sigs.push(await withSpan('sign entry', () => this.signEntry(bytes, req, i, release, firstDelivery), {
          attributes: { 'cosigner.request_id': req.requestId, 'cosigner.api_user': req.apiUserId, 'cosigner.entry': i, 'cosigner.key_id': e.keyId, 'cosigner.path': pathString(e.path) },
        }));
      }
      const ev: RequestSigned = { requestId: req.requestId, signatures: sigs, signedAtMs: this.#now() };
      const out = RequestSigned.encode(ev).finish();
      const seal = () => withSpan('seal result', () => records.sealOutcome(req.requestId, Buffer.concat([Buffer.from('S'), out])));
      const publish = () => this.publish(requestSubject('signed', req.requestId), out, requestMsgId('signed', req.requestId));
      if (release.length === req.entries.length) {
        // Every entry came from a presignature whose plan and bindings are durable: a restart
        // before `done` is sealed signs again with the same presignatures and publishes the same
        // signatures (under the same message id), so the seal and the publish may overlap.
        const [a, b] = await Promise.allSettled([seal(), publish()]);
        if (a.status === 'rejected') throw a.reason;
        if (b.status === 'rejected') throw b.reason;
      } else {
        // Fresh nonces (EdDSA): a second run would make a different signature, so the one made
        // is sealed before anyone can see it.
        await seal();
        await publish();
      }
      // TEST ONLY: stop as a crash would, right after the outcome is durable.
      if (this.#o.faults?.crashAfterOutcome) process.kill(process.pid, 'SIGKILL');
      // Presignatures go only once the signatures they made are durable.
      for (const [k, e, p] of release) await this.#o.node.records.releasePresignature(k, e, p).catch(() => undefined);
      this.#o.onSigned?.(req.requestId, this.#now() - (approved.approvedAtMs || this.#now()));
      await this.cleanup(req.requestId, req.entries.length);
    } catch (e) {
      const code = publicCode(e);
      // Retryability is the error's own declaration (PARTY_ERROR_CODES, RetryLater): hand the
      // request back for a later attempt, until it expires.
      if (e instanceof DomainError && e.retryable && !(expires > 0 && this.#now() > expires)) throw e;
      const culprits = (e as { culprits?: readonly string[] }).culprits ?? [];
      const f: RequestFailed = {
        requestId: req.requestId,
        code: expires > 0 && this.#now() > expires && code !== 'ERR_MPC_ABORT' ? 'ERR_EXPIRED' : code,
        reason: oneLine(e), culprits: [...culprits], failedAtMs: this.#now(), stage: 'signing',
      };
      this.#o.log('warn', 'request failed', { requestId: req.requestId, code: f.code, culprits: f.culprits, reason: f.reason });
      this.#o.onFailed?.(req.requestId, f.code);
      const out = RequestFailed.encode(f).finish();
      await records.sealOutcome(req.requestId, Buffer.concat([Buffer.from('F'), out]));
      await this.publish(requestSubject('failed', req.requestId), out, requestMsgId('failed', req.requestId));
      // The outcome is final: the presignatures its plans named are never used again.
      await this.tidy(rt, req);
    }
  }

  /**
   * Takes the request's sign gate (creates `SIGNING`), or finds it taken: true when this signer
   * (now or in an earlier delivery) holds it, false when the request was cancelled first.
   */
  private async passGate(requestId: string): Promise<boolean> {
    const gate = this.#o.gate;
    if (!gate) return true;
    try {
      await gate.create(requestId, GATE_SIGNING);
      return true;
    } catch (e) {
      if (!isCasConflict(e)) throw new RetryLater('sign gate unavailable', { cause: e });
    }
    const cur = await gate.get(requestId);
    if (!cur || cur.operation !== 'PUT') throw new RetryLater('sign gate changed concurrently');
    return new TextDecoder().decode(cur.value) === 'SIGNING';
  }

  /** Releases the presignatures the entries' plans still name, then cleans up (outcome durable). */
  private async tidy(rt: string, req: TransactionSignRequest): Promise<void> {
    for (let i = 0; i < req.entries.length; i++) {
      const plan = await this.#o.plans.get(rt, i);
      if (!plan?.presig) continue;
      const k = await this.#o.keys.get(req.entries[i]!.keyId);
      if (k) await this.#o.node.records.releasePresignature(k.info.keyId, plan.epoch, plan.presig).catch(() => undefined);
    }
    await this.cleanup(req.requestId, req.entries.length);
  }

  /** Plans and per-entry signatures are only needed until `done` is durable. */
  private async cleanup(requestId: string, entries: number): Promise<void> {
    const rt = token(requestId);
    for (let i = 0; i < entries; i++) {
      await this.#o.plans.delete(rt, i).catch(() => undefined);
      if (entries > 1) await this.#o.node.records.dropEntrySignature(requestId, i).catch(() => undefined);
    }
  }

  private async republish(requestId: string, done: Uint8Array): Promise<void> {
    const body = done.subarray(1);
    if (done[0] === 'S'.charCodeAt(0)) await this.publish(requestSubject('signed', requestId), body, requestMsgId('signed', requestId));
    else await this.publish(requestSubject('failed', requestId), body, requestMsgId('failed', requestId));
  }

  /** Publish with the request's trace context, awaiting the ack (retried with the same msg id). */
  private async publish(subject: string, data: Uint8Array, msgId: string): Promise<void> {
    try {
      await publishEvent(this.#o.js, subject, data, { msgId, timeoutMs: 5000, attempts: 5, expectedStream: REQUESTS_STREAM });
    } catch (e) {
      throw new RetryLater(`publish ${subject} failed: ${(e as Error)?.message}`, { cause: e });
    }
  }

  /**
   * When `e` says cloud parties of `set` did not answer (ERR_SESSION_TIMEOUT naming them) and the
   * threshold leaves a signing set without them: adds them to `unavailable`, has the pool remember
   * them, logs and counts the move, and returns true (the caller retries with the new set).
   */
  private moveAway(e: unknown, set: readonly string[], info: KeyInfo, unavailable: Set<string>, requestId: string, entry: number): boolean {
    if (!(e instanceof PartyError) || e.code !== 'ERR_SESSION_TIMEOUT') return false;
    const silent = e.culprits.filter((p) => p !== CUSTOMER && set.includes(p));
    if (silent.length === 0 || !signingSet(info.parties, info.threshold, new Set([...unavailable, ...silent]))) return false;
    for (const p of silent) unavailable.add(p);
    this.#o.pool.markDown(silent);
    this.#o.log('warn', 'signing set changed: a party did not answer', { requestId, entry, unavailable: [...unavailable] });
    this.#o.onMoved?.(requestId, [...unavailable]);
    return true;
  }

  /** Drops an entry's plan and its (never sent) presignature; false when the release failed. */
  private async dropPlan(rt: string, entry: number, keyId: string, epoch: number, presig: string): Promise<boolean> {
    try {
      await this.#o.node.records.releasePresignature(keyId, epoch, presig);
      await this.#o.plans.delete(rt, entry);
      return true;
    } catch {
      return false;
    }
  }

  private async signEntry(approvedBytes: Uint8Array, req: TransactionSignRequest, i: number, release: [string, number, string][], firstDelivery: boolean): Promise<EntrySignature> {
    const records = this.#o.node.records;
    const rt = token(req.requestId);
    const entry = req.entries[i]!;
    const k = await this.#o.keys.get(entry.keyId);
    if (!k) throw new PartyError('ERR_KEY_NOT_FOUND', `entry ${i}: no key ${entry.keyId}`);
    const info = k.info;
    if (info.workspaceId !== req.workspaceId) throw new PartyError('ERR_WRONG_WORKSPACE', `entry ${i}: key ${entry.keyId} belongs to another workspace`);
    if (entry.algorithm !== 'ALGORITHM_UNSPECIFIED' && entry.algorithm !== info.algorithm) throw new PartyError('ERR_INVALID_ARGUMENT', `entry ${i}: algorithm does not match key`);
    const alg = parseAlgorithm(info.algorithm);
    const scheme = schemeFor(alg);
    const timer = signingSeconds.startTimer({ scheme: alg });
    let result: SignResult | undefined;
    // Per-entry copies exist only for requests with several entries (see below).
    const stored = req.entries.length > 1 ? await records.entrySignature(req.requestId, i) : undefined;
    if (stored) result = decodeSignResult(stored);
    // Parties that did not answer recently (keys of threshold t < n move to another cloud party).
    const unavailable = this.#o.pool.downParties();
    const usual = signingSet(info.parties, info.threshold)!;
    let otherSet = 0;
    for (let attempt = 0; !result; attempt++) {
      const set = signingSet(info.parties, info.threshold, unavailable) ?? usual;
      // This handling made the plan, with a presignature nobody had used: true only then.
      let fresh = false;
      let plan = !scheme.needsPresignature ? { presig: '', epoch: info.epoch } : firstDelivery && attempt === 0 ? undefined : await this.#o.plans.get(rt, i);
      if (!plan) {
        const other = set.join() !== usual.join();
        let presig: string;
        try {
          presig = other
            ? await this.#o.pool.makeOneFor(info.keyId, info.epoch, set)
            : await this.#o.pool.acquire(info.keyId, info.epoch, 10 * this.#o.node.roundTimeoutMs);
        } catch (e) {
          // The pool could not presign because a party did not answer (it remembers which):
          // another set may do, when the threshold allows one.
          if (attempt < 4 && this.moveAway(e, set, info, unavailable, req.requestId, i)) continue;
          throw e;
        }
        // The plan is durable before any party sees the session: a restart reuses this presignature (and its set).
        plan = await this.#o.plans.create(rt, i, { presig, epoch: info.epoch, ...(other ? { parties: set } : {}) });
        fresh = plan.presig === presig;
        if (!fresh) {
          if (other) await this.#o.node.records.releasePresignature(info.keyId, info.epoch, presig).catch(() => undefined);
          else this.#o.pool.giveBack(info.keyId, info.epoch, presig);
        }
      }
      // ECDSA: the set the presignature was made for; EdDSA: any set that answers.
      const parties = scheme.needsPresignature ? plan.parties ?? usual : set;
      try {
        // With a presignature the session id is a function of (presignature, request, entry): a
        // retry after a crash is the same session, and parties still in it resend their shares.
        const sessionId = plan.presig
          ? createHash('sha256').update('cosigner-sign').update(plan.presig).update(req.requestId).update(String(i)).digest()
          : undefined;
        const r = await this.#o.node.coordinate({
          ...(sessionId ? { sessionId } : {}),
          kind: 'SIGN', keyId: info.keyId, parties, context: Buffer.from(approvedBytes), workspaceId: info.workspaceId, algorithm: info.algorithm,
          threshold: info.threshold, count: 0, entryIndex: i, presignatureId: Buffer.from(plan.presig), requestId: req.requestId, epoch: plan.epoch,
        });
        if (!r) throw new PartyError('ERR_MPC_ABORT', 'session ended without a signature');
        result = decodeSignResult(r);
      } catch (e) {
        const pe = e as PartyError;
        const code = pe.code;
        // A presignature some party never had (lost before it was used) can be replaced: no share of it was ever sent.
        if ((code === 'ERR_PRESIGNATURE_NOT_FOUND') && attempt < 2 && plan.presig) {
          // Ours may be bound already (our share is sealed while the others are asked): it is
          // never sent, and never used again; drop it.
          await this.#o.node.records.releasePresignature(info.keyId, plan.epoch, plan.presig).catch(() => undefined);
          await this.#o.plans.delete(rt, i);
          continue;
        }
        // Threshold t < n: a cloud party that does not answer is replaced by another one, when
        // that cannot leave two signatures of this entry:
        // - EdDSA (any time, also silent mid-session): the customer aggregates, so none of our
        //   shares left this party and nobody can assemble the abandoned attempt; fresh nonces.
        // - ECDSA: our σ share goes to the other signers, so only when the session ended before
        //   we sent anything AND this handling made the plan (no earlier run can have sent a share
        //   of that presignature). The abandoned presignature is dropped; a fresh one is made for
        //   the new set and recorded in the plan.
        // A presignature made for another signing set than the plan's (made on demand for a move,
        // left without a plan by a crash, then handed out by the pool after a restart): our own
        // check refuses it before anyone is asked, under this plan and any earlier one (it compares
        // fixed data), so no share of it ever left; drop it and plan again. Not counted as an
        // attempt (a crash can leave a whole on-demand batch of them), but bounded.
        if (code === 'ERR_PRESIGNATURE_OTHER_SET' && plan.presig && otherSet < 64) {
          if (!(await this.dropPlan(rt, i, info.keyId, plan.epoch, plan.presig))) throw e;
          otherSet++;
          attempt--;
          continue;
        }
        const unsent = plan.presig !== '' && fresh && pe.nothingSent;
        const canMove = !scheme.needsPresignature || unsent;
        if (canMove && attempt < 4 && this.moveAway(e, parties, info, unavailable, req.requestId, i)) {
          // The plan goes only with its presignature (a release that fails keeps both: the
          // request then waits for the party instead).
          if (plan.presig && !(await this.dropPlan(rt, i, info.keyId, plan.epoch, plan.presig))) throw e;
          continue;
        }
        // A presignature made for a moved set whose parties do not answer either, never sent:
        // dropped, so that the retry starts over from the usual set instead of waiting for this one.
        if (unsent && plan.parties) await this.dropPlan(rt, i, info.keyId, plan.epoch, plan.presig);
        throw e;
      }
      const derived = scheme.derivePublicKey(info.publicKey, info.chainCode, pathString(entry.path));
      if (!Buffer.from(derived.publicKey).equals(Buffer.from(result.publicKey)))
        throw new PartyError('ERR_SIGNATURE_INVALID', `entry ${i}: the signature is not under the derived public key`);
      // ECDSA: (r, s) and the recovery id checked together (the recovery id names the R the
      // verification equation yields, so one check covers both); EdDSA: RFC 8032 verification.
      if (scheme.verifyRecoverable) {
        if (result.recovery === undefined || !scheme.verifyRecoverable(info.publicKey, info.chainCode, pathString(entry.path), entry.payload, result.signature, result.recovery))
          throw new PartyError('ERR_SIGNATURE_INVALID', `entry ${i}: the signature and its recovery id do not verify under the derived public key`);
      } else if (!scheme.verify(derived.publicKey, entry.payload, result.signature))
        throw new PartyError('ERR_SIGNATURE_INVALID', `entry ${i}: the signature does not verify under the derived public key`);
      // One entry: the request's own `done` record is the durable copy (a restart before it repeats
      // the same session: same presignature, same shares, same signature); several: each entry's.
      if (req.entries.length > 1) await records.sealEntrySignature(req.requestId, i, encodeSignResult(result));
      if (plan.presig) release.push([info.keyId, plan.epoch, plan.presig]);
    }
    timer();
    return entrySignature(i, info.keyId, alg, entry.path, result);
  }
}

/**
 * The customer's party plus as many cloud parties as the threshold needs (3-of-3: all), in key
 * order, leaving out `unavailable` ones; undefined when too few remain.
 */
export function signingSet(parties: string[], threshold: number, unavailable: ReadonlySet<string> = new Set()): string[] | undefined {
  const all = parties.length ? parties : DEFAULT_PARTIES.map((p) => p.id);
  const t = threshold || all.length;
  const set = [CUSTOMER, ...all.filter((p) => p !== CUSTOMER && !unavailable.has(p))].slice(0, t);
  return set.length === t ? set : undefined;
}

function curveOf(alg: Algorithm) {
  return alg === 'ECDSA_SECP256K1' ? secp256k1 : p256;
}

export function entrySignature(index: number, keyId: string, alg: Algorithm, path: number[], r: SignResult): EntrySignature {
  const e: EntrySignature = {
    index, keyId, algorithm: alg, path: [...path], publicKey: Buffer.from(r.publicKey), r: Buffer.alloc(0), s: Buffer.alloc(0),
    recoveryId: 0, signature: Buffer.from(r.signature), der: Buffer.alloc(0),
  };
  if (alg !== 'EDDSA_ED25519') {
    e.r = Buffer.from(r.signature.subarray(0, 32));
    e.s = Buffer.from(r.signature.subarray(32, 64));
    e.recoveryId = r.recovery ?? 0;
    e.der = Buffer.from(curveOf(alg).Signature.fromBytes(r.signature, 'compact').toBytes('der'));
  }
  return e;
}

/** The code a RequestFailed carries: a declared one, else ERR_INTERNAL (never a system error's). */
function publicCode(e: unknown): string {
  if (e instanceof DomainError) return e.code;
  const c = (e as { code?: unknown } | undefined)?.code;
  return typeof c === 'string' && c.startsWith('ERR_') ? c : 'ERR_INTERNAL';
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 300);
}

/**
 * The pull loop on the platform consumer: at most `concurrency` requests at once, each in a span
 * of the trace the approval carried; the approved message is acked only after the terminal event
 * is published. Every failure naks (with backoff): the signer publishes `failed` itself for final
 * outcomes, so an error reaching the loop is never a reason to drop a request.
 */
export async function consumeApproved(js: JetStreamClient, signer: Signer, o: { concurrency: number; log: SignerOptions['log']; workingMs?: number; nc?: NatsConnection; logger?: Logger }): Promise<{ stop(): Promise<void> }> {
  const h = await startConsumer(js, {
    stream: REQUESTS_STREAM,
    consumer: SIGNER_CONSUMER,
    concurrency: o.concurrency,
    ...(o.workingMs ? { workingIntervalMs: o.workingMs } : {}),
    ...(o.nc ? { nc: o.nc } : {}),
    ...(o.logger ? { logger: o.logger } : {}),
    nakDelayMs: (n) => Math.min(10_000, 500 * 2 ** Math.min(5, n - 1)),
    handler: async (m, ctx) => {
      ctx.span.setAttribute('cosigner.request_id', m.subject.split('.').slice(3).join('.'));
      try {
        await signer.handle(m.data, { firstDelivery: ctx.deliveryCount === 1 });
      } catch (e) {
        o.log('warn', 'signing will be retried', { subject: m.subject, deliveryCount: ctx.deliveryCount, err: (e as Error).message });
        throw e instanceof RetryLater ? e : new RetryLater((e as Error).message, { cause: e });
      }
    },
  });
  return { stop: () => h.stop() };
}

export function hashHex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
