/**
 * The status projection and the expiry sweeper.
 *
 * Projector: a durable consumer on `cosigner.requests.>` (shared by every intake instance) that
 * applies each event to the request's RequestState in KV `cosigner-requests` with compare-and-set
 * (`applyEvent` is idempotent and never moves a terminal state), acking only after the write.
 *
 * Sweeper: a request still unsigned at its expiry ends FAILED: the sweeper publishes `failed`
 * (ERR_EXPIRED) with msg id `<id>:failed`, so several instances sweeping the same request
 * publish it once. It keeps an in-memory index fed by the projector, rebuilt from KV at start and
 * periodically (an instance's index misses requests whose events another instance projected).
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { RequestFailed, RequestState } from '@cosigner/proto';
import { CONSUMERS, DomainError, isCasConflict, metrics, publishEvent, startConsumer, unavailable, type ConsumerHandle, type Logger } from '@cosigner/platform';
import { REQUESTS_STREAM, applyEvent, decodeEvent, isTerminal, msgIdOf, subjectOf, traceIdOf } from './state.ts';

export const PROJECTOR_CONSUMER = CONSUMERS.projector.durable;
export const DEFAULT_PROJECTOR_CONCURRENCY = 64;
export const DEFAULT_SWEEP_INTERVAL_MS = 1000;
export const DEFAULT_FULL_SCAN_INTERVAL_MS = 60_000;
const CAS_ATTEMPTS = 50;

export interface ProjectorOptions {
  js: JetStreamClient;
  requests: KV;
  log: Logger;
  concurrency?: number;
  /** Called with every state written (feeds the sweeper). */
  onState?: (s: RequestState) => void;
}

/** Applies one event to KV with CAS; returns the written state (undefined if nothing changed). */
export async function project(requests: KV, subject: string, data: Uint8Array, traceparent?: string): Promise<RequestState | undefined> {
  let ev: ReturnType<typeof decodeEvent>;
  try {
    ev = decodeEvent(subject, data);
  } catch (e) {
    throw new DomainError('ERR_UNDECODABLE_EVENT', `event on ${subject} does not decode`, { retryable: false, cause: e });
  }
  if (!ev) return undefined;
  if (ev.kind === 'received') {
    // Usually the first event of its request: try to create the record without reading first.
    const fresh = applyEvent(undefined, ev, traceIdOf(traceparent))!;
    try {
      await requests.create(ev.requestId, RequestState.encode({ ...fresh, revision: 0 }).finish());
      return fresh;
    } catch (err) {
      if (!isCasConflict(err)) throw err;
    }
  }
  for (let i = 0; i < CAS_ATTEMPTS; i++) {
    const e = await requests.get(ev.requestId);
    const cur = e && e.operation === 'PUT' && e.value.length > 0 ? RequestState.decode(e.value) : undefined;
    const next = applyEvent(cur, ev, traceIdOf(traceparent));
    if (!next) return undefined;
    const bytes = RequestState.encode({ ...next, revision: 0 }).finish();
    try {
      if (cur && e) await requests.update(ev.requestId, bytes, e.revision);
      else await requests.create(ev.requestId, bytes);
      return next;
    } catch (err) {
      if (!isCasConflict(err)) throw err;
    }
  }
  throw new Error(`projection of ${ev.requestId}: too many concurrent writers`);
}

/**
 * Requests by kind and outcome, counted where each status change is written exactly once (the
 * CAS write that made it; a redelivered event changes nothing and is not counted again).
 */
const requestsTotal = metrics.counter('cosigner_requests_total', 'Requests by kind (TRANSACTION, CONFIG_CHANGE) and the status they reached (RECEIVED, then SIGNED, APPROVED, REJECTED, IGNORED, FAILED).', ['kind', 'outcome']);

export async function startProjector(o: ProjectorOptions): Promise<ConsumerHandle> {
  return startConsumer(o.js, {
    stream: REQUESTS_STREAM,
    consumer: PROJECTOR_CONSUMER,
    concurrency: o.concurrency ?? DEFAULT_PROJECTOR_CONCURRENCY,
    logger: o.log,
    handler: async (m) => {
      let written: RequestState | undefined;
      try {
        written = await project(o.requests, m.subject, m.data, m.headers?.get('traceparent'));
      } catch (e) {
        // An event that does not decode can never be projected: term it (logged by the consumer).
        if (e instanceof DomainError) throw e;
        throw unavailable('projection write failed', e); // retryable: nak and try again
      }
      if (written) {
        if (written.status === 'RECEIVED' || isTerminal(written)) requestsTotal.inc({ kind: String(written.kind), outcome: String(written.status) });
        o.onState?.(written);
      }
    },
  });
}

export interface SweeperOptions {
  js: JetStreamClient;
  requests: KV;
  log: Logger;
  now: () => number;
  intervalMs?: number;
  fullScanIntervalMs?: number;
}

export class Sweeper {
  readonly #o: SweeperOptions;
  readonly #due = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #scanTimer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(o: SweeperOptions) {
    this.#o = o;
  }

  /** Feeds the index from a projected state. */
  track(s: RequestState): void {
    if (isTerminal(s) || s.status === 'SIGNED' || s.expiresAtMs <= 0) this.#due.delete(s.requestId);
    else this.#due.set(s.requestId, s.expiresAtMs);
  }

  async fullScan(): Promise<void> {
    const keys: string[] = [];
    for await (const k of await this.#o.requests.keys()) keys.push(k);
    for (const k of keys) {
      const e = await this.#o.requests.get(k);
      if (e && e.operation === 'PUT' && e.value.length > 0) this.track(RequestState.decode(e.value));
    }
  }

  async start(): Promise<void> {
    await this.fullScan();
    this.#timer = setInterval(() => { this.#tick(); }, this.#o.intervalMs ?? DEFAULT_SWEEP_INTERVAL_MS);
    this.#scanTimer = setInterval(() => {
      this.fullScan().catch((err: unknown) => this.#o.log.warn('expiry scan failed', { err }));
    }, this.#o.fullScanIntervalMs ?? DEFAULT_FULL_SCAN_INTERVAL_MS);
  }

  #tick(): void {
    if (this.#running || this.#stopped) return;
    this.#running = this.sweep().then(() => undefined, (err: unknown) => this.#o.log.warn('expiry sweep failed', { err })).finally(() => { this.#running = undefined; });
  }

  /** Publishes `failed` (ERR_EXPIRED) for every indexed request past its expiry and still unsigned. */
  async sweep(): Promise<number> {
    const now = this.#o.now();
    let n = 0;
    for (const [id, at] of [...this.#due]) {
      if (at > now) continue;
      const e = await this.#o.requests.get(id);
      const s = e && e.operation === 'PUT' && e.value.length > 0 ? RequestState.decode(e.value) : undefined;
      if (!s || isTerminal(s) || s.status === 'SIGNED') {
        this.#due.delete(id);
        continue;
      }
      const ev: RequestFailed = { requestId: id, code: 'ERR_EXPIRED', reason: 'the request expired before it was signed', culprits: [], failedAtMs: now, stage: 'intake' };
      await publishEvent(this.#o.js, subjectOf('failed', id), RequestFailed.encode(ev).finish(), { msgId: msgIdOf('failed', id), expectedStream: REQUESTS_STREAM });
      this.#due.delete(id);
      n++;
    }
    return n;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    clearInterval(this.#scanTimer);
    await this.#running;
  }
}
