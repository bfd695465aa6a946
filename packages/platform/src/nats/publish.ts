/**
 * Publishing an event: await the PubAck (an unawaited publish is a data-loss bug), set
 * `Nats-Msg-Id` so a retried publish is absorbed by the stream's duplicate window, and carry the
 * trace context in the headers.
 */
import { JetStreamApiError, type JetStreamClient, type PubAck } from '@nats-io/jetstream';
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/nats-core';
import { SpanKind, context, trace } from '@opentelemetry/api';
import { injectToHeaders, recordError, tracer } from '../telemetry.ts';

export const DEFAULT_PUBLISH_TIMEOUT_MS = 2000;
/** Attempts for transient failures (timeouts, no responders during a NATS restart). */
export const DEFAULT_PUBLISH_ATTEMPTS = 5;
export const DEFAULT_PUBLISH_RETRY_DELAY_MS = 250;

export interface PublishEventOptions {
  /** Idempotency key: the request id (plus the event kind), identical on every retry. */
  msgId: string;
  headers?: MsgHdrs | Record<string, string>;
  /** Fail unless the subject is captured by this stream. */
  expectedStream?: string;
  timeoutMs?: number;
  attempts?: number;
}

function toHeaders(h: PublishEventOptions['headers']): MsgHdrs {
  if (h === undefined) return natsHeaders();
  if (typeof (h as MsgHdrs).keys === 'function' && typeof (h as MsgHdrs).set === 'function') return h as MsgHdrs;
  const out = natsHeaders();
  for (const [k, v] of Object.entries(h)) out.set(k, v);
  return out;
}

/**
 * Publishes `data` to `subject` on JetStream and returns the PubAck. `ack.duplicate` is true when
 * the stream already held a message with this `msgId` (within its duplicate window): the call
 * succeeded and nothing new was stored. Transient failures are retried with the same msg id,
 * which is safe because of the duplicate window. API errors (wrong stream, limits) are not.
 */
export async function publishEvent(js: JetStreamClient, subject: string, data: Uint8Array, o: PublishEventOptions): Promise<PubAck> {
  if (!o.msgId) throw new TypeError('publishEvent: msgId is required');
  const attempts = o.attempts ?? DEFAULT_PUBLISH_ATTEMPTS;
  return tracer().startActiveSpan(`publish ${subject}`, { kind: SpanKind.PRODUCER, attributes: {
    'messaging.system': 'nats', 'messaging.operation.type': 'send', 'messaging.operation.name': 'publish',
    'messaging.destination.name': subject, 'messaging.message.id': o.msgId,
  } }, async (span) => {
    try {
      const h = toHeaders(o.headers);
      injectToHeaders(h, trace.setSpan(context.active(), span));
      let lastErr: unknown;
      for (let i = 0; i < attempts; i++) {
        try {
          const ack = await js.publish(subject, data, {
            msgID: o.msgId,
            headers: h,
            timeout: o.timeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS,
            ...(o.expectedStream ? { expect: { streamName: o.expectedStream } } : {}),
          });
          span.setAttribute('messaging.nats.stream', ack.stream);
          span.setAttribute('messaging.nats.duplicate', ack.duplicate);
          return ack;
        } catch (err) {
          lastErr = err;
          if (err instanceof JetStreamApiError) break;
          await new Promise((r) => setTimeout(r, DEFAULT_PUBLISH_RETRY_DELAY_MS * 2 ** i));
        }
      }
      throw lastErr;
    } catch (err) {
      recordError(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}
