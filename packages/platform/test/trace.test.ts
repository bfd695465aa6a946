import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { SpanKind } from '@opentelemetry/api';
import { initTelemetry, withSpan, type Telemetry } from '../src/telemetry.ts';
import { connectNats, drainNats } from '../src/nats/connect.ts';
import { ensureConsumer, ensureStream } from '../src/nats/provision.ts';
import { publishEvent } from '../src/nats/publish.ts';
import { startConsumer } from '../src/nats/consume.ts';
import { createServer, service, type GrpcServerHandle } from '../src/grpc/server.ts';
import { closeClient, createClient, unary } from '../src/grpc/client.ts';
import { startNats, type NatsServerHandle } from '../src/testing/index.ts';
import { EchoClient, EchoService } from './fixtures/echo.ts';

let tel: Telemetry;
let nats: NatsServerHandle;
let nc: NatsConnection;
let srv: GrpcServerHandle;

before(async () => {
  tel = initTelemetry({ serviceName: 'trace-test', exporter: 'memory' });
  nats = await startNats({ jetstream: true, ignoreEnv: true });
  nc = await connectNats({ servers: nats.url, name: 'trace-test' });
});
after(async () => {
  await srv?.stop(1000);
  await drainNats(nc);
  await nats.stop();
  await tel.shutdown();
});

test('a gRPC call and the NATS event it publishes carry one trace id end to end', async () => {
  const jsm = await jetstreamManager(nc);
  await ensureStream(jsm, { name: 'TRACE', subjects: ['trace.>'] });
  await ensureConsumer(jsm, { stream: 'TRACE', durable: 'tracer' });
  const js = jetstream(nc);
  srv = await createServer({ port: 0, host: '127.0.0.1', services: [service(EchoService, {
    echo: async (req) => {
      await publishEvent(js, 'trace.received', new TextEncoder().encode(req.text), { msgId: 'trace-1' });
      return { text: 'ok' };
    },
    boom: async () => ({ text: '' }), slow: async () => ({ text: '' }), count: async function* () { /* none */ },
  }, { auth: 'none' })] });

  let consumerTrace = '';
  let got!: () => void;
  const gotP = new Promise<void>((r) => { got = r; });
  const consumer = await startConsumer(js, { stream: 'TRACE', consumer: 'tracer', handler: async (_m, ctx) => {
    consumerTrace = ctx.span.spanContext().traceId;
    got();
  } });

  const client = createClient(EchoClient, srv.address);
  let rootTrace = '';
  await withSpan('test-root', async (span) => {
    rootTrace = span.spanContext().traceId;
    await unary(client, 'echo', { text: 'hello' });
  });
  await gotP;
  await consumer.stop();
  closeClient(client);

  const spans = tel.memoryExporter!.getFinishedSpans();
  const byKind = (k: SpanKind) => spans.filter((s) => s.kind === k);
  const client_ = byKind(SpanKind.CLIENT)[0]!;
  const server = byKind(SpanKind.SERVER)[0]!;
  const producer = byKind(SpanKind.PRODUCER)[0]!;
  const consumerSpan = byKind(SpanKind.CONSUMER)[0]!;
  for (const s of [client_, server, producer, consumerSpan]) assert.equal(s.spanContext().traceId, rootTrace, s.name);
  assert.equal(consumerTrace, rootTrace);
  // Parent links: client -> server -> publish -> consume.
  assert.equal(server.parentSpanContext?.spanId, client_.spanContext().spanId);
  assert.equal(producer.parentSpanContext?.spanId, server.spanContext().spanId);
  assert.equal(consumerSpan.parentSpanContext?.spanId, producer.spanContext().spanId);
});
