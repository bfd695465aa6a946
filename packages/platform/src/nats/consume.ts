/**
 * Running a handler over a durable pull consumer with the delivery rules of DESIGN.md
 * ("consumers ack only after their effect is durable"):
 *
 * - at most `concurrency` handlers run at once; we only pull as many messages as there are free
 *   slots, so nothing waits unacknowledged in a local buffer;
 * - the ack is sent after the handler resolves, and confirmed by the server (double ack), so a
 *   crash before the ack means redelivery, never loss; handlers must be idempotent;
 * - a long handler sends `working()` (+WPI) so the server does not redeliver it meanwhile;
 * - retryable error: `nak(delay)` with exponential backoff; non-retryable error: `term()`, after
 *   an optional `onTerminal` hook (which lets a service record the failure durably first);
 * - `stop()` stops pulling, waits for in-flight handlers (each still acks), then returns. The
 *   caller drains the connection afterwards.
 */
import type { Consumer, JetStreamClient, JsMsg, ConsumerMessages } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { ROOT_CONTEXT, SpanKind } from '@opentelemetry/api';
import { isRetryable } from '../errors.ts';
import type { Logger } from '../log.ts';
import { extractFromHeaders, withSpan, type Span } from '../telemetry.ts';
import { metrics } from '../metrics.ts';

const consumerPending = metrics.gauge('cosigner_nats_consumer_pending', 'Messages of the stream the durable consumer has not delivered yet (its lag).', ['stream', 'consumer']);
const consumerAckPending = metrics.gauge('cosigner_nats_consumer_ack_pending', 'Messages delivered and not yet acknowledged.', ['stream', 'consumer']);
const consumerRedelivered = metrics.gauge('cosigner_nats_consumer_redelivered', 'Messages delivered more than once and not yet acknowledged.', ['stream', 'consumer']);
const consumed = metrics.counter('cosigner_nats_messages_total', 'Messages handled by this process, by how they were settled (ack, nak: retry later, term: final failure).', ['stream', 'consumer', 'outcome']);

export const DEFAULT_CONSUME_CONCURRENCY = 1;
export const DEFAULT_PULL_EXPIRES_MS = 5000;
export const DEFAULT_NAK_BASE_DELAY_MS = 1000;
export const DEFAULT_NAK_MAX_DELAY_MS = 60_000;
export const DEFAULT_ACK_CONFIRM_TIMEOUT_MS = 5000;
const FETCH_ERROR_BACKOFF_MS = 1000;

export interface HandlerContext {
  /** The consumer span (child of the producer's trace). */
  span: Span;
  /** Delivery attempt, 1-based. */
  deliveryCount: number;
  /** The publisher's `Nats-Msg-Id` (the idempotency key), if any. */
  msgId: string | undefined;
  /**
   * Aborted when `stop({abortAfterMs})` stops waiting for handlers; a handler that sees it should
   * give up (throw a retryable error: the message is nak'ed and redelivered elsewhere).
   */
  signal: AbortSignal;
}

export interface ConsumeOptions {
  stream: string;
  /** Durable consumer name (provisioned with `ensureConsumer`). */
  consumer: string;
  handler: (msg: JsMsg, ctx: HandlerContext) => Promise<void>;
  concurrency?: number;
  /**
   * Send `working()` every this many ms while a handler runs. Default: a third of the consumer's
   * ack_wait, so the server never sees a silent handler for a whole ack_wait.
   */
  workingIntervalMs?: number;
  /** Delay before redelivery after a retryable error; default exponential in the delivery count. */
  nakDelayMs?: (deliveryCount: number, err: unknown) => number;
  /** Called before `term()` on a non-retryable error; if it throws, the message is nak'ed instead. */
  onTerminal?: (msg: JsMsg, err: unknown) => Promise<void>;
  /** How long one pull waits for messages before asking again. */
  pullExpiresMs?: number;
  /**
   * The connection behind `js`: when given, a reconnect restarts the pending pull at once instead
   * of waiting for it to expire (a pull request does not survive a server restart).
   */
  nc?: NatsConnection;
  logger?: Logger;
}

export interface ConsumerHandle {
  /** Handlers running right now. */
  readonly inFlight: number;
  /**
   * Stop pulling and wait for in-flight handlers to finish (and ack). With `abortAfterMs`, the
   * handlers' `signal` is aborted after that long (they are still awaited).
   */
  stop(o?: { abortAfterMs?: number }): Promise<void>;
  /** Resolves when the pull loop has ended. */
  readonly done: Promise<void>;
}

export function defaultNakDelay(deliveryCount: number): number {
  return Math.min(DEFAULT_NAK_MAX_DELAY_MS, DEFAULT_NAK_BASE_DELAY_MS * 2 ** Math.max(0, deliveryCount - 1));
}

/** Starts the pull loop; returns once the consumer is bound (throws if it does not exist). */
export async function startConsumer(js: JetStreamClient, o: ConsumeOptions): Promise<ConsumerHandle> {
  const consumer: Consumer = await js.consumers.get(o.stream, o.consumer);
  const info = await consumer.info(true);
  const ackWaitMs = Math.max(1, Math.floor((info.config.ack_wait ?? 30_000_000_000) / 1_000_000));
  const workingEvery = o.workingIntervalMs ?? Math.max(100, Math.floor(ackWaitMs / 3));
  const concurrency = Math.max(1, o.concurrency ?? DEFAULT_CONSUME_CONCURRENCY);
  const log = o.logger;
  const abort = new AbortController();
  const series = { stream: o.stream, consumer: o.consumer };
  // The lag is the server's view (shared by every instance of the consumer), read when scraped.
  const unregister = metrics.collect(async () => {
    const ci = await consumer.info(false);
    consumerPending.set(series, ci.num_pending);
    consumerAckPending.set(series, ci.num_ack_pending);
    consumerRedelivered.set(series, ci.num_redelivered);
  });

  let stopping = false;
  let inFlight = 0;
  let current: ConsumerMessages | undefined;
  const running = new Set<Promise<void>>();
  let slotFreed: (() => void) | undefined;
  const waitSlot = () => new Promise<void>((r) => { slotFreed = r; });
  let wakeStop: (() => void) | undefined;
  const stopped = new Promise<void>((r) => { wakeStop = r; });

  const handleOne = async (m: JsMsg): Promise<void> => {
    const parent = extractFromHeaders(m.headers, ROOT_CONTEXT);
    const deliveryCount = m.info.deliveryCount;
    await withSpan(`consume ${m.subject}`, async (span) => {
      span.setAttribute('messaging.system', 'nats');
      span.setAttribute('messaging.operation.type', 'process');
      span.setAttribute('messaging.operation.name', 'consume');
      span.setAttribute('messaging.consumer.group.name', o.consumer);
      span.setAttribute('messaging.destination.name', m.subject);
      span.setAttribute('messaging.nats.stream_sequence', m.seq);
      span.setAttribute('messaging.nats.delivery_count', deliveryCount);
      const timer = setInterval(() => m.working(), workingEvery);
      try {
        await o.handler(m, { span, deliveryCount, msgId: m.headers?.get('Nats-Msg-Id') || undefined, signal: abort.signal });
      } catch (err) {
        clearInterval(timer);
        await settleFailure(m, err, deliveryCount);
        throw err;
      } finally {
        clearInterval(timer);
      }
      // A lost ack only means a redelivery, which the idempotent handler absorbs.
      let ackErr: unknown;
      const confirmed = await m.ackAck({ timeout: DEFAULT_ACK_CONFIRM_TIMEOUT_MS }).catch((e: unknown) => { ackErr = e; return false; });
      if (!confirmed) log?.warn('ack not confirmed; the message may be redelivered', { subject: m.subject, seq: m.seq, err: ackErr });
      consumed.inc({ ...series, outcome: 'ack' });
    }, { kind: SpanKind.CONSUMER, parent }).catch(() => {
      // Already settled (nak/term) and recorded on the span.
    });
  };

  const settleFailure = async (m: JsMsg, err: unknown, deliveryCount: number): Promise<void> => {
    if (isRetryable(err)) {
      const delay = (o.nakDelayMs ?? defaultNakDelay)(deliveryCount, err);
      log?.warn('handler failed (retryable); nak', { subject: m.subject, seq: m.seq, deliveryCount, delayMs: delay, err });
      m.nak(delay);
      consumed.inc({ ...series, outcome: 'nak' });
      return;
    }
    if (o.onTerminal) {
      try {
        await o.onTerminal(m, err);
      } catch (hookErr) {
        // The failure could not be recorded: fail closed, keep the message for another try.
        log?.error('onTerminal failed; nak instead of term', { subject: m.subject, seq: m.seq, err: hookErr });
        m.nak((o.nakDelayMs ?? defaultNakDelay)(deliveryCount, err));
        consumed.inc({ ...series, outcome: 'nak' });
        return;
      }
    }
    log?.error('handler failed (not retryable); term', { subject: m.subject, seq: m.seq, deliveryCount, err });
    // No reason string: nats-server 2.9 ignores a `+TERM <reason>` it does not parse, which
    // would turn a final failure into an endless redelivery.
    m.term();
    consumed.inc({ ...series, outcome: 'term' });
  };

  const dispatch = (m: JsMsg): void => {
    inFlight++;
    const p = handleOne(m).finally(() => {
      inFlight--;
      running.delete(p);
      const f = slotFreed;
      slotFreed = undefined;
      f?.();
    });
    running.add(p);
  };

  const loop = async (): Promise<void> => {
    while (!stopping) {
      if (inFlight >= concurrency) {
        await Promise.race([waitSlot(), stopped]);
        continue;
      }
      try {
        const iter = await consumer.fetch({ max_messages: concurrency - inFlight, expires: o.pullExpiresMs ?? DEFAULT_PULL_EXPIRES_MS });
        current = iter;
        if (stopping) { await iter.close(); break; }
        for await (const m of iter) {
          if (stopping) {
            // Pulled after stop: hand it back now rather than after ack_wait.
            m.nak();
            continue;
          }
          dispatch(m);
        }
      } catch (err) {
        if (stopping) break;
        log?.warn('pull failed; retrying', { stream: o.stream, consumer: o.consumer, err });
        await Promise.race([new Promise((r) => setTimeout(r, FETCH_ERROR_BACKOFF_MS)), stopped]);
      } finally {
        current = undefined;
      }
    }
  };

  const done = loop();
  if (o.nc) {
    const statuses = o.nc.status();
    void (async () => {
      for await (const st of statuses) {
        if (stopping) break;
        if (st.type === 'reconnect') await current?.close().catch(() => undefined);
      }
    })().catch(() => undefined);
  }
  let stopPromise: Promise<void> | undefined;
  return {
    get inFlight() { return inFlight; },
    done,
    stop(so = {}) {
      stopPromise ??= (async () => {
        stopping = true;
        unregister();
        wakeStop?.();
        const t = so.abortAfterMs !== undefined ? setTimeout(() => abort.abort(), so.abortAfterMs) : undefined;
        const it = current;
        if (it) await it.close().catch(() => undefined);
        await done;
        while (running.size > 0) await Promise.allSettled([...running]);
        clearTimeout(t);
      })();
      return stopPromise;
    },
  };
}
