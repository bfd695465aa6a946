/**
 * OpenTelemetry tracing: one provider per process, W3C Trace Context propagation
 * (https://www.w3.org/TR/trace-context/) through NATS headers and gRPC metadata, so one trace
 * covers a request from the gRPC client through every event consumer.
 */
import {
  context, propagation, trace, SpanStatusCode, SpanKind, ROOT_CONTEXT,
  type Context, type Span, type SpanOptions, type TextMapGetter, type TextMapSetter, type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { MsgHdrs } from '@nats-io/nats-core';
import type { Metadata } from '@grpc/grpc-js';

export { SpanKind, SpanStatusCode, ROOT_CONTEXT, type Span, type Context };

/** Name of the tracer the platform's own spans come from. */
export const TRACER_NAME = '@cosigner/platform';

export type TelemetryExporter = 'otlp' | 'memory' | 'none';

export interface TelemetryOptions {
  serviceName: string;
  /**
   * `otlp`: batch-export over OTLP/HTTP to `otlpUrl` or `$OTEL_EXPORTER_OTLP_ENDPOINT` (Jaeger).
   * `memory`: keep finished spans in `telemetry.memoryExporter` (tests). `none`: propagate
   * context but export nothing. Default: `otlp` if the env endpoint is set, else `none`.
   */
  exporter?: TelemetryExporter;
  /** Full traces URL (`http://jaeger:4318/v1/traces`); else the exporter reads the OTEL_* env vars. */
  otlpUrl?: string;
  env?: Record<string, string | undefined>;
}

export interface Telemetry {
  readonly provider: TracerProvider;
  readonly tracer: Tracer;
  /** Set when `exporter: 'memory'`; spans land here synchronously on end. */
  readonly memoryExporter: InMemorySpanExporter | undefined;
  forceFlush(): Promise<void>;
  /** Flushes and shuts the provider down; resets the global registrations so a test can re-init. */
  shutdown(): Promise<void>;
}

let active: Telemetry | undefined;

/**
 * Registers a global tracer provider, the AsyncLocalStorage context manager and the W3C trace
 * context propagator. Calling it again replaces the previous registration (after shutting it down
 * is the caller's business; tests call `shutdown()` in `after`).
 */
export function initTelemetry(o: TelemetryOptions): Telemetry {
  const env = o.env ?? process.env;
  const kind: TelemetryExporter = o.exporter ?? (env['OTEL_EXPORTER_OTLP_ENDPOINT'] || env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] ? 'otlp' : 'none');
  let memoryExporter: InMemorySpanExporter | undefined;
  const spanProcessors: SpanProcessor[] = [];
  if (kind === 'memory') {
    memoryExporter = new InMemorySpanExporter();
    spanProcessors.push(new SimpleSpanProcessor({ exporter: memoryExporter }));
  } else if (kind === 'otlp') {
    // SDK 3 no longer reads the OTEL_BSP_* variables itself; the spec's names still configure it here.
    const delay = Number(env['OTEL_BSP_SCHEDULE_DELAY']);
    spanProcessors.push(new BatchSpanProcessor({
      exporter: new OTLPTraceExporter(o.otlpUrl ? { url: o.otlpUrl } : {}),
      ...(Number.isInteger(delay) && delay > 0 ? { scheduledDelayMillis: delay } : {}),
    }));
  }
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: o.serviceName }),
    spanProcessors,
  });
  trace.disable();
  context.disable();
  propagation.disable();
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  const t: Telemetry = {
    provider,
    tracer: provider.getTracer(TRACER_NAME),
    memoryExporter,
    forceFlush: () => provider.forceFlush(),
    shutdown: async () => {
      await provider.forceFlush().catch(() => undefined);
      await provider.shutdown();
      if (active === t) {
        trace.disable();
        context.disable();
        propagation.disable();
        active = undefined;
      }
    },
  };
  active = t;
  return t;
}

/** The platform tracer (a no-op tracer until `initTelemetry` runs). */
export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

const natsSetter: TextMapSetter<MsgHdrs> = { set: (h, k, v) => h.set(k, v) };
const natsGetter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (h) => (h ? [...h.keys()] : []),
  get: (h, k) => {
    if (!h) return undefined;
    // NATS header names are case-preserving; W3C names are lower-case.
    const v = h.get(k) || h.get(k.toLowerCase());
    return v === '' ? undefined : v;
  },
};

/** Writes `traceparent`/`tracestate` of `ctx` (default: the active context) into NATS headers. */
export function injectToHeaders(h: MsgHdrs, ctx: Context = context.active()): MsgHdrs {
  propagation.inject(ctx, h, natsSetter);
  return h;
}

/** The context carried by NATS headers (the active context if none). */
export function extractFromHeaders(h: MsgHdrs | undefined, base: Context = context.active()): Context {
  return propagation.extract(base, h, natsGetter);
}

const mdSetter: TextMapSetter<Metadata> = { set: (md, k, v) => md.set(k, v) };
const mdGetter: TextMapGetter<Metadata> = {
  keys: (md) => Object.keys(md.getMap()),
  get: (md, k) => {
    const v = md.get(k)[0];
    return typeof v === 'string' ? v : undefined;
  },
};

/** Writes trace context into gRPC metadata. */
export function injectToMetadata(md: Metadata, ctx: Context = context.active()): Metadata {
  propagation.inject(ctx, md, mdSetter);
  return md;
}

/** The context carried by gRPC metadata. */
export function extractFromMetadata(md: Metadata, base: Context = context.active()): Context {
  return propagation.extract(base, md, mdGetter);
}

/**
 * The W3C `traceparent` value of `ctx` (default: the active context), for carrying a trace in a
 * protocol field rather than in headers (the MPC SessionStart). Empty when there is no span.
 */
export function traceparentOf(ctx: Context = context.active()): string {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier['traceparent'] ?? '';
}

/** The context a `traceparent` value names (the base context if the value is empty or malformed). */
export function contextFromTraceparent(traceparent: string, base: Context = context.active()): Context {
  if (!traceparent) return base;
  return propagation.extract(base, { traceparent });
}

export interface WithSpanOptions extends SpanOptions {
  /** Parent context; default the active one. */
  parent?: Context;
}

/**
 * Runs `fn` inside a new active span; records an exception and ERROR status if it throws and
 * always ends the span. Never put secrets in span names or attributes.
 */
export async function withSpan<T>(name: string, fn: (span: Span) => Promise<T> | T, o: WithSpanOptions = {}): Promise<T> {
  const { parent, ...spanOpts } = o;
  const ctx = parent ?? context.active();
  return tracer().startActiveSpan(name, spanOpts, ctx, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      recordError(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Marks a span failed with the error's name and stable code only (messages may carry input). */
export function recordError(span: Span, err: unknown): void {
  const e = err as { name?: unknown; code?: unknown };
  const code = typeof e?.code === 'string' || typeof e?.code === 'number' ? String(e.code) : undefined;
  span.setStatus({ code: SpanStatusCode.ERROR, ...(code ? { message: code } : {}) });
  span.setAttribute('error.type', code ?? (typeof e?.name === 'string' ? e.name : 'Error'));
}

/**
 * Adds attributes to the active span (the server or consumer span a handler runs in), e.g. the
 * request id, API user and key id once the request is parsed. Identifiers only: never a secret.
 */
export function annotateSpan(attributes: Record<string, string | number | boolean>): void {
  trace.getActiveSpan()?.setAttributes(attributes);
}

/** The active trace id, or undefined outside a sampled span. */
export function activeTraceId(): string | undefined {
  const sc = trace.getActiveSpan()?.spanContext();
  return sc && sc.traceId !== '00000000000000000000000000000000' ? sc.traceId : undefined;
}
