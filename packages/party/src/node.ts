/**
 * One party process: enclave + sealed store + transport. Every party joins sessions a
 * coordinator starts (after its own checks); the customer's party is also the coordinator
 * (`coordinate`). Each party is its own process with its own store; they meet only on NATS.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import type { ThresholdScheme } from '@cosigner/mpc';
import type { Trust } from '@cosigner/trust';
import { SessionOutcome, type PartyInfo, type SessionStart } from '@cosigner/proto';
import { ROOT_CONTEXT, SpanKind, assertKvStreamIntact, contextFromTraceparent, denyRollups, recordError, traceparentOf, tracer, withSpan, type Span } from '@cosigner/platform';
import { CoordinatorRecords } from './coordinator.ts';
import { CUSTOMER_PARTY, Enclave, type Algorithm, type EnclaveSession, type EnclaveStep, type KeyMeta, type PartyRef } from './enclave.ts';
import { registerInternals } from './internal.ts';
import { PartyError } from './errors.ts';
import { NO_FAULTS, announceFaults, type PartyFaults } from './faults.ts';
import { SEALED_VERSIONS_BUCKET, SealedStore, kvVersionCounter, sealedVersionsBucketOf, type EnclaveProvider } from './sealed.ts';
import { runSession } from './session.ts';
import { collectGarbage, type GcOptions } from './gc.ts';
import { PARTIES_BUCKET, PartyRegistry, PartyTransport, type Log } from './transport.ts';

export const DEFAULT_ROUND_TIMEOUT_MS = 15_000;
/** How often a party collects its sealed store's garbage (gc.ts). */
export const DEFAULT_GC_INTERVAL_MS = 10 * 60_000;
/** Every party of the co-signer and its share index (x-coordinate). */
export const DEFAULT_PARTIES: readonly PartyRef[] = [
  { id: 'customer', index: 1 },
  { id: 'cloud-1', index: 2 },
  { id: 'cloud-2', index: 3 },
];

export interface PartyNodeOptions {
  nc: NatsConnection;
  partyId: string;
  index: number;
  dataDir: string;
  provider: EnclaveProvider;
  approvalKey: KeyObject;
  /** The workspaces this party trusts (its own configuration): origination is verified against them. */
  trust: Trust;
  scheme: (a: Algorithm) => ThresholdScheme;
  keygenExtras?: (a: Algorithm, kind: 'keygen' | 'refresh', self: number) => Promise<Record<string, unknown>>;
  roundTimeoutMs?: number;
  log?: Log;
  now?: () => number;
  /** TEST ONLY: fault injection (faults.ts: a tampering or slow party); none by default. */
  faults?: PartyFaults;
  /** Called after this party finished a session (tests, metrics). */
  onSessionEnd?: (start: SessionStart, outcome: SessionOutcome) => void;
  /** Configured identity keys of every party (COSIGNER_PARTY_PINS). */
  partyPins?: ReadonlyMap<string, Uint8Array>;
  /**
   * Without pins, pin peers' identities on first sight (trust on first use). Local development
   * only (COSIGNER_DEV_TOFU=1): otherwise a party without pins refuses to start, since whoever
   * writes the parties bucket first would choose who this party talks to.
   */
  allowTofu?: boolean;
  /** Garbage collection of the sealed store (gc.ts): how often (0: never) and its retention. */
  gc?: { intervalMs?: number } & GcOptions;
}

/** Start-up steps that can race with other parties starting: a few short retries. */
async function retryingAtStart<T>(f: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await f();
    } catch (e) {
      if (i >= 20) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** `e` as a PartyError that says nothing of ours was sent in the session (other errors as they are). */
function unsent(e: unknown): unknown {
  return e instanceof PartyError ? new PartyError(e.code, e.message, { cause: e.cause, culprits: e.culprits, nothingSent: true }) : e;
}

export async function openKv(nc: NatsConnection, bucket: string, history = 1): Promise<KV> {
  const kvm = new Kvm(jetstream(nc));
  // Parties starting together race to create a bucket; one that loses may get it back before the
  // winner's stream exists. Probe it (a read) before handing it out.
  const kv = await retryingAtStart(async () => {
    const kv = await kvm.create(bucket, { history });
    await kv.get('probe');
    return kv;
  });
  // Whoever created the stream first chose its configuration: refuse one that captures others' subjects.
  await assertKvStreamIntact(nc, bucket);
  return kv;
}

/**
 * Carries this party's version counters over from the bucket every party shared before (a
 * store sealed by an earlier version). Only when its own bucket holds none of them yet; each
 * counter is created with compare-and-set, so a concurrent start cannot overwrite a newer one.
 * Nothing to carry (no old bucket, or it is not readable): nothing done.
 */
export async function carryOverCounters(nc: NatsConnection, own: KV, party: string, log: Log): Promise<number> {
  const prefix = `${party}.`;
  for await (const _ of await own.keys(`${prefix}>`)) return 0;
  let legacy: KV;
  try {
    legacy = await new Kvm(jetstream(nc)).open(SEALED_VERSIONS_BUCKET);
  } catch {
    return 0;
  }
  let n = 0;
  try {
    for await (const e of await legacy.history({ key: `${prefix}>` })) {
      if (e.operation !== 'PUT') continue;
      try {
        await own.create(e.key, e.value);
        n++;
      } catch {
        // already there (a concurrent start): the newer one stays
      }
    }
  } catch (e) {
    log('warn', 'could not read the shared version-counter bucket', { party, err: (e as Error).message });
  }
  if (n > 0) log('info', 'version counters carried over to the party\'s own bucket', { party, counters: n });
  return n;
}

export class PartyNode {
  readonly partyId: string;
  readonly index: number;
  readonly nc: NatsConnection;
  /** The coordinator's narrow view of this party's sealed store (the store itself stays private). */
  readonly records: CoordinatorRecords;
  readonly transport: PartyTransport;
  #enclave: Enclave;
  #store: SealedStore;
  readonly roundTimeoutMs: number;
  readonly log: Log;
  #running = new Map<string, Promise<unknown>>();
  #sent = new Map<string, { start: SessionStart; parties: PartyRef[]; log: import('@cosigner/mpc').ProtocolMessage[] }>();
  #onEnd: PartyNodeOptions['onSessionEnd'];
  #sendDelayMs: number;

  private constructor(o: PartyNodeOptions, enclave: Enclave, store: SealedStore, transport: PartyTransport, log: Log) {
    this.partyId = o.partyId;
    this.index = o.index;
    this.nc = o.nc;
    this.#enclave = enclave;
    this.#store = store;
    this.records = new CoordinatorRecords(store);
    registerInternals(this, { enclave, store });
    this.transport = transport;
    this.roundTimeoutMs = o.roundTimeoutMs ?? DEFAULT_ROUND_TIMEOUT_MS;
    this.log = log;
    this.#onEnd = o.onSessionEnd;
    this.#sendDelayMs = (o.faults ?? NO_FAULTS).sendDelayMs;
  }

  static async start(o: PartyNodeOptions): Promise<PartyNode> {
    const log: Log = o.log ?? ((level, msg, f) => process.stderr.write(`${JSON.stringify({ level, party: o.partyId, msg, ...f })}\n`));
    announceFaults(o.faults ?? NO_FAULTS, log);
    const versions = await openKv(o.nc, sealedVersionsBucketOf(o.partyId));
    await carryOverCounters(o.nc, versions, o.partyId, log);
    const store = new SealedStore({ dir: o.dataDir, party: o.partyId, provider: o.provider, counter: kvVersionCounter(versions) });
    const enclave = await Enclave.open({
      provider: o.provider, store, partyId: o.partyId, index: o.index, approvalKey: o.approvalKey, trust: o.trust, scheme: o.scheme,
      ...(o.now ? { now: o.now } : {}), ...(o.keygenExtras ? { keygenExtras: o.keygenExtras } : {}), ...(o.faults ? { faults: o.faults } : {}),
    });
    if ((o.partyPins?.size ?? 0) === 0 && o.allowTofu !== true) {
      // The refusal names this party's own identity key (public): what the operator pins.
      const own = Buffer.from(enclave.info().identityPublicKey).toString('hex');
      await enclave.close();
      throw new PartyError('ERR_CONFIG', `COSIGNER_PARTY_PINS is required outside local development (COSIGNER_DEV_TOFU=1 allows trust on first use); this party's identity: ${o.partyId}=${own}`);
    }
    const partiesKv = await openKv(o.nc, PARTIES_BUCKET);
    // The identities share one bucket, each key written by its party only; a roll-up header on
    // a party's own key would purge the others'. The customer's party (the bucket's owner on the
    // closed bus) turns roll-ups off.
    if (o.partyId === CUSTOMER_PARTY) await denyRollups(o.nc, PARTIES_BUCKET);
    const registry = new PartyRegistry(partiesKv, store, log, o.partyPins);
    await registry.load();
    // A bucket another party has just created may not take writes for a moment (the first put
    // then finds no responder).
    await retryingAtStart(() => registry.publish(enclave.info()));
    const transport = new PartyTransport(o.nc, enclave, registry, log);
    const node = new PartyNode(o, enclave, store, transport, log);
    transport.onStart = (s, from) => node.onStart(s, from);
    await transport.listen();
    node.#startGc(o.gc ?? {});
    return node;
  }

  #gcTimer: NodeJS.Timeout | undefined;

  #startGc(o: { intervalMs?: number } & GcOptions): void {
    const every = o.intervalMs ?? DEFAULT_GC_INTERVAL_MS;
    if (every <= 0) return;
    let running = false;
    this.#gcTimer = setInterval(() => {
      if (running) return;
      running = true;
      collectGarbage(this.#store, o).then(
        (r) => { if (r.bindings + r.presignatures + r.outcomes > 0) this.log('info', 'sealed store collected', { ...r }); },
        (e: unknown) => this.log('warn', 'sealed store collection failed', { code: (e as PartyError).code, err: (e as Error).message }),
      ).finally(() => { running = false; });
    }, every);
    this.#gcTimer.unref();
  }

  /** Re-publish our PartyInfo (after a restore brought back the original identity). */
  async republish(): Promise<void> {
    await this.transport.registry.publish(this.#enclave.info());
  }

  /** This party's public description (identity and encryption keys, attestation). */
  info(): PartyInfo {
    return this.#enclave.info();
  }

  /** The newest share of `keyId` and the identity key, encrypted to a recovery public key (Enclave.backup). */
  async backup(keyId: string, recoveryPublicKeyPem: string): Promise<Uint8Array> {
    return this.#enclave.backup(keyId, recoveryPublicKeyPem);
  }

  /** Opens a backup with the recovery private key and seals its share here (Enclave.restore). */
  async restore(backup: Uint8Array, recoveryPrivateKeyPem: string): Promise<KeyMeta> {
    return this.#enclave.restore(backup, recoveryPrivateKeyPem);
  }

  async stop(): Promise<void> {
    clearInterval(this.#gcTimer);
    await this.transport.close();
    await Promise.race([Promise.allSettled([...this.#running.values()]), new Promise((r) => setTimeout(r, 2000).unref())]);
    await this.#enclave.close();
  }

  private async refs(names: readonly string[]): Promise<PartyRef[]> {
    const out: PartyRef[] = [];
    for (const n of names) {
      if (n === this.partyId) out.push({ id: n, index: this.index });
      else out.push({ id: n, index: (await this.transport.registry.resolve(n)).index });
    }
    return out;
  }

  private async open(start: SessionStart, parties: PartyRef[], coordinator: boolean): Promise<EnclaveSession> {
    switch (start.kind) {
      case 'KEYGEN': return this.#enclave.keygen(start, parties);
      case 'REFRESH': return this.#enclave.refresh(start);
      case 'PRESIGN': return this.#enclave.presign(start);
      case 'SIGN': return this.#enclave.sign(start, { coordinator });
      case 'COMMIT': return this.#enclave.commitEpoch(start);
      default: throw new PartyError('ERR_UNSUPPORTED', `session kind ${start.kind}`);
    }
  }

  private outcome(start: SessionStart, ok: boolean, e?: unknown, result?: Uint8Array, evidence?: Uint8Array): SessionOutcome {
    const pe = e instanceof PartyError ? e : undefined;
    return {
      sessionId: start.sessionId, partyId: this.partyId, ok,
      code: ok ? '' : pe?.code ?? 'ERR_INTERNAL',
      reason: ok ? '' : oneLine(e),
      culprits: pe ? [...pe.culprits] : [],
      result: Buffer.from(result ?? new Uint8Array(0)),
      evidence: Buffer.from(evidence ?? pe?.evidence ?? new Uint8Array(0)),
    };
  }

  /** A coordinator asked us to join: check, open the enclave session, answer, then run it. */
  private async onStart(start: SessionStart, from: string): Promise<SessionOutcome> {
    const key = Buffer.from(start.sessionId).toString('hex');
    if (this.#running.has(key)) {
      // The coordinator restarted the same session (a retry after its crash): what we sent may
      // be lost with it, so send it again; duplicates are dropped by the receivers.
      const s = this.#sent.get(key);
      if (s) for (const m of s.log) await this.transport.send({ sessionId: s.start.sessionId, kind: s.start.kind, keyId: s.start.keyId }, m, s.parties).catch(() => undefined);
      return this.outcome(start, true);
    }
    // This party's part of the session is one span in the coordinator's trace (no secret in it).
    const span = tracer().startSpan(`mpc ${start.kind} join`, { kind: SpanKind.SERVER, attributes: sessionAttributes(start, this.partyId) }, contextFromTraceparent(start.traceparent, ROOT_CONTEXT));
    try {
      if (from !== CUSTOMER_PARTY) throw new PartyError('ERR_SESSION_REFUSED', 'sessions are started by the customer party');
      if (!start.parties.includes(this.partyId)) throw new PartyError('ERR_SIGNING_SET', 'not a member of this session');
      if (start.deadlineMs > 0 && Date.now() > start.deadlineMs) throw new PartyError('ERR_SESSION_TIMEOUT', 'session deadline already passed');
      const parties = await this.refs(start.parties);
      const session = await this.open(start, parties, false);
      span.addEvent('opened');
      const run = this.run(start, session, parties)
        .then(() => undefined, (e: unknown) => { recordError(span, e); })
        .finally(() => { span.end(); this.#running.delete(key); });
      this.#running.set(key, run);
      return this.outcome(start, true);
    } catch (e) {
      recordError(span, e);
      span.end();
      this.log('warn', 'refused a session', { kind: start.kind, keyId: start.keyId, requestId: start.requestId, code: (e as PartyError).code, reason: oneLine(e) });
      const out = this.outcome(start, false, e);
      this.transport.publishOutcome(out, start.kind, start.keyId);
      return out;
    }
  }

  private async run(start: SessionStart, session: EnclaveSession, parties: PartyRef[], first?: Promise<EnclaveStep>): Promise<Uint8Array | undefined> {
    const key = Buffer.from(start.sessionId).toString('hex');
    const log: import('@cosigner/mpc').ProtocolMessage[] = [];
    this.#sent.set(key, { start, parties, log });
    try {
      let echo: Uint8Array | undefined;
      const result = await runSession({
        transport: this.transport, start, session, parties, roundTimeoutMs: this.roundTimeout(start), sendDelayMs: this.#sendDelayMs, sentLog: log,
        onFinalEcho: (b) => { echo = b; }, ...(first ? { first } : {}),
      });
      const out = this.outcome(start, true, undefined, start.kind === 'SIGN' ? undefined : result, echo);
      // Failures are published with blame; successes too, with the echo of the last round (a
      // party still in the session checks it: equivocation in the last round is named). The
      // coordinator of KEYGEN / REFRESH / PRESIGN also waits until every party has sealed.
      this.transport.publishOutcome(out, start.kind, start.keyId);
      this.#onEnd?.(start, out);
      return result;
    } catch (e) {
      const out = this.outcome(start, false, e);
      this.log('warn', 'session failed', { kind: start.kind, keyId: start.keyId, requestId: start.requestId, code: out.code, culprits: out.culprits, reason: out.reason });
      this.transport.publishOutcome(out, start.kind, start.keyId);
      this.#onEnd?.(start, out);
      throw e;
    } finally {
      this.#sent.delete(key);
    }
  }

  /** Per-round deadline: heavier kinds get more (CMP key generation, batched presigning). */
  roundTimeout(start: SessionStart): number {
    if (start.kind === 'KEYGEN' || start.kind === 'REFRESH') return 3 * this.roundTimeoutMs;
    if (start.kind === 'PRESIGN') return this.roundTimeoutMs * Math.max(1, start.count);
    return this.roundTimeoutMs;
  }

  /**
   * Coordinator: open our own side first (our checks run before anyone else is asked), ask every
   * other party to join, then run. Resolves with our public result.
   */
  async coordinate(s: Omit<SessionStart, 'sessionId' | 'initiator' | 'deadlineMs' | 'traceparent'> & { sessionId?: Uint8Array; deadlineMs?: number }): Promise<Uint8Array | undefined> {
    return withSpan(`mpc ${s.kind}`, (span) => this.coordinateIn(span, s), { kind: SpanKind.CLIENT, attributes: sessionAttributes(s, this.partyId) });
  }

  private async coordinateIn(span: Span, s: Omit<SessionStart, 'sessionId' | 'initiator' | 'deadlineMs' | 'traceparent'> & { sessionId?: Uint8Array; deadlineMs?: number }): Promise<Uint8Array | undefined> {
    const start: SessionStart = {
      ...s,
      sessionId: Buffer.from(s.sessionId ?? randomBytes(32)),
      initiator: this.partyId,
      deadlineMs: 0,
      traceparent: traceparentOf(),
    };
    span.setAttribute('cosigner.mpc.session', Buffer.from(start.sessionId).toString('hex').slice(0, 16));
    start.deadlineMs = s.deadlineMs ?? Date.now() + 6 * this.roundTimeout(start);
    const parties = await this.refs(start.parties);
    // Our own checks refusing the session: nobody was asked, nothing was sent.
    const session = await this.open(start, parties, true).catch((e: unknown) => { throw unsent(e); });
    span.addEvent('opened');
    const others = start.parties.filter((p) => p !== this.partyId);
    const outcomes = start.kind !== 'SIGN' ? this.transport.collectOutcomes(start.sessionId, others) : undefined;
    // Our own first round is computed (and, for SIGN, sealed) while the others are asked; it is
    // sent only once every party has joined. If one refuses, what we computed is never sent.
    const first = session.start();
    first.then(() => span.addEvent('own first round ready'), () => undefined);
    const answers = await Promise.allSettled(others.map((p) => this.transport.requestStart(p, start, this.roundTimeoutMs)));
    span.addEvent('every party answered');
    for (let i = 0; i < answers.length; i++) {
      const a = answers[i]!;
      // Nothing of ours has been sent in this session yet (our first round waits for every join).
      if (a.status === 'rejected') {
        outcomes?.cancel();
        throw unsent(a.reason);
      }
      if (!a.value.ok) {
        const code = a.value.code === 'ERR_APPROVAL_INVALID' || a.value.code === 'ERR_ORIGINATION_INVALID' || a.value.code === 'ERR_KEYS_UNAVAILABLE' || a.value.code === 'ERR_PRESIGNATURE_BOUND' || a.value.code === 'ERR_PRESIGNATURE_NOT_FOUND' || a.value.code === 'ERR_KEY_NOT_FOUND' || a.value.code === 'ERR_SIGNING_SET' || a.value.code === 'ERR_WRONG_WORKSPACE'
          ? a.value.code : 'ERR_SESSION_REFUSED';
        outcomes?.cancel();
        throw new PartyError(code, `${others[i]} refused: ${a.value.reason}`, { culprits: [others[i]!], nothingSent: true });
      }
    }
    const key = Buffer.from(start.sessionId).toString('hex');
    const run = this.run(start, session, parties, first);
    this.#running.set(key, run.catch(() => undefined));
    try {
      const result = await run;
      if (outcomes) {
        for (const o of await outcomes.wait(this.roundTimeout(start))) {
          // An MPC abort names its own culprits; none means its identification cleared everybody.
          // Our own run finished, so its complaint or timeout was not judged by runSession: one
          // naming another party is only its word (a cheater would name an honest party), so it
          // blames nobody; one naming only itself (or nobody, when not an abort) names it.
          if (!o.ok) {
            const others = o.culprits.some((c) => c !== o.partyId);
            throw new PartyError(o.code === 'ERR_MPC_ABORT' ? 'ERR_MPC_ABORT' : 'ERR_SESSION_REFUSED', `${o.partyId} failed: ${o.reason}`, { culprits: others ? [] : o.code === 'ERR_MPC_ABORT' || o.culprits.length ? o.culprits : [o.partyId] });
          }
        }
      }
      return result;
    } finally {
      outcomes?.cancel();
      this.#running.delete(key);
    }
  }
}

/** Span attributes of a session: what it is about, never what it computes. */
function sessionAttributes(s: Pick<SessionStart, 'kind' | 'keyId' | 'requestId' | 'entryIndex' | 'parties' | 'count'>, party: string): Record<string, string | number> {
  return {
    'cosigner.party': party, 'cosigner.mpc.kind': s.kind, 'cosigner.key_id': s.keyId,
    'cosigner.mpc.parties': s.parties.join(','),
    ...(s.requestId ? { 'cosigner.request_id': s.requestId, 'cosigner.entry': s.entryIndex } : {}),
    ...(s.kind === 'PRESIGN' ? { 'cosigner.mpc.count': s.count } : {}),
  };
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 300);
}
