import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connectNats, drainNats } from '../src/nats/connect.ts';
import { ensureConsumer, ensureStream, ensureKv, provision } from '../src/nats/provision.ts';
import { publishEvent } from '../src/nats/publish.ts';
import { startConsumer } from '../src/nats/consume.ts';
import { errorFromHeaders, errorToHeaders } from '../src/nats/errors.ts';
import { DomainError } from '../src/errors.ts';
import { startNats, type NatsServerHandle } from '../src/testing/index.ts';

const enc = new TextEncoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('nats', () => {
  let srv: NatsServerHandle;
  let nc: NatsConnection;
  before(async () => {
    srv = await startNats({ jetstream: true, ignoreEnv: true });
    nc = await connectNats({ servers: srv.url, name: 'platform-test' });
  });
  after(async () => {
    await drainNats(nc);
    await srv.stop();
  });

  test('provisioning is idempotent and converges to the declared config', async () => {
    const spec = {
      streams: [{ name: 'PROV', subjects: ['prov.>'], duplicateWindowMs: 60_000 }],
      consumers: [{ stream: 'PROV', durable: 'c1', ackWaitMs: 10_000 }],
      kv: [{ bucket: 'provkv', history: 1 }],
    };
    await provision(nc, spec);
    await provision(nc, spec);
    const jsm = await jetstreamManager(nc);
    const s2 = await ensureStream(jsm, { name: 'PROV', subjects: ['prov.>', 'prov2.>'], maxMsgs: 100 });
    assert.deepEqual(s2.config.subjects, ['prov.>', 'prov2.>']);
    assert.equal(s2.config.max_msgs, 100);
    assert.equal(s2.config.storage, 'file');
    const c2 = await ensureConsumer(jsm, { stream: 'PROV', durable: 'c1', ackWaitMs: 20_000, maxDeliver: 5 });
    assert.equal(c2.config.ack_wait, 20_000 * 1_000_000);
    assert.equal(c2.config.max_deliver, 5);
    await ensureKv(nc, { bucket: 'provkv', history: 5 });
    const kvInfo = await jsm.streams.info('KV_provkv');
    assert.equal(kvInfo.config.max_msgs_per_subject, 5);
  });

  test('a publish retried with the same msg id is stored once', async () => {
    const jsm = await jetstreamManager(nc);
    await ensureStream(jsm, { name: 'DEDUP', subjects: ['dedup.>'] });
    const js = jetstream(nc);
    const a1 = await publishEvent(js, 'dedup.x', enc.encode('one'), { msgId: 'req-1', expectedStream: 'DEDUP' });
    const a2 = await publishEvent(js, 'dedup.x', enc.encode('one'), { msgId: 'req-1', expectedStream: 'DEDUP' });
    assert.equal(a1.duplicate, false);
    assert.equal(a2.duplicate, true);
    assert.equal(a2.seq, a1.seq);
    const info = await jsm.streams.info('DEDUP');
    assert.equal(info.state.messages, 1);
    await assert.rejects(publishEvent(js, 'dedup.x', enc.encode('x'), { msgId: 'req-2', expectedStream: 'OTHER' }));
  });

  test('a consumer that stops before ack gets the message again; ack is final', async () => {
    const jsm = await jetstreamManager(nc);
    await ensureStream(jsm, { name: 'REDELIVER', subjects: ['redeliver.>'] });
    await ensureConsumer(jsm, { stream: 'REDELIVER', durable: 'worker', ackWaitMs: 1000 });
    const js = jetstream(nc);
    await publishEvent(js, 'redeliver.a', enc.encode('payload'), { msgId: 'm1' });

    // First consumer: the handler "crashes" (never resolves, so never acks); we stop pulling.
    let firstGot!: () => void;
    const gotFirst = new Promise<void>((r) => { firstGot = r; });
    let release!: (e: Error) => void;
    const hang = new Promise<void>((_, rej) => { release = rej; });
    let aborted = false;
    const c1 = await startConsumer(js, { stream: 'REDELIVER', consumer: 'worker', workingIntervalMs: 60_000, handler: async (_m, ctx) => {
      firstGot();
      ctx.signal.addEventListener('abort', () => { aborted = true; release(new DomainError('ERR_UNAVAILABLE', 'aborted')); });
      await hang;
    } });
    await gotFirst;
    // Abandon c1 without acking (as a crashed process would); its stop gives up on the handler later.
    const c1Stopped = c1.stop({ abortAfterMs: 2500 });

    const seen: JsMsg[] = [];
    let done!: () => void;
    const got = new Promise<void>((r) => { done = r; });
    let msgId: string | undefined;
    const c2 = await startConsumer(js, { stream: 'REDELIVER', consumer: 'worker', handler: async (m, ctx) => { seen.push(m); msgId = ctx.msgId; done(); } });
    await got;
    await c2.stop();
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.info.deliveryCount, 2);
    assert.equal(seen[0]!.redelivered, true);
    assert.equal(msgId, 'm1');
    await sleep(1500);
    const ci = await jsm.consumers.info('REDELIVER', 'worker');
    assert.equal(ci.num_ack_pending, 0);
    assert.equal(ci.num_pending, 0);
    await c1Stopped;
    assert.equal(aborted, true);
  });

  test('retryable error naks with delay, non-retryable terms, working() keeps a slow handler', async () => {
    const jsm = await jetstreamManager(nc);
    await ensureStream(jsm, { name: 'ERRS', subjects: ['errs.>'] });
    await ensureConsumer(jsm, { stream: 'ERRS', durable: 'w', ackWaitMs: 600 });
    const js = jetstream(nc);
    const counts = new Map<string, number>();
    const terminal: string[] = [];
    let finish!: () => void;
    const allDone = new Promise<void>((r) => { finish = r; });
    const check = () => {
      if ((counts.get('errs.retry') ?? 0) >= 2 && (counts.get('errs.slow') ?? 0) >= 1 && terminal.length === 1) finish();
    };
    const c = await startConsumer(js, {
      stream: 'ERRS', consumer: 'w', concurrency: 3, nakDelayMs: () => 50,
      onTerminal: async (m) => { terminal.push(m.subject); check(); },
      handler: async (m) => {
        const n = (counts.get(m.subject) ?? 0) + 1;
        counts.set(m.subject, n);
        if (m.subject === 'errs.retry' && n === 1) throw new DomainError('ERR_UNAVAILABLE', 'try later');
        if (m.subject === 'errs.bad') throw new DomainError('ERR_INVALID_ARGUMENT', 'bad');
        if (m.subject === 'errs.slow') await sleep(1500); // > 2 ack waits
        check();
      },
    });
    await publishEvent(js, 'errs.retry', enc.encode('r'), { msgId: 'r' });
    await publishEvent(js, 'errs.bad', enc.encode('b'), { msgId: 'b' });
    await publishEvent(js, 'errs.slow', enc.encode('s'), { msgId: 's' });
    await allDone;
    await sleep(800);
    await c.stop();
    assert.equal(counts.get('errs.retry'), 2);
    assert.equal(counts.get('errs.bad'), 1);
    assert.equal(counts.get('errs.slow'), 1, 'slow handler not redelivered thanks to working()');
    assert.deepEqual(terminal, ['errs.bad']);
    const ci = await jsm.consumers.info('ERRS', 'w');
    assert.equal(ci.num_ack_pending, 0);
  });

  test('handlers run with bounded concurrency', async () => {
    const jsm = await jetstreamManager(nc);
    await ensureStream(jsm, { name: 'CONC', subjects: ['conc.>'] });
    await ensureConsumer(jsm, { stream: 'CONC', durable: 'w' });
    const js = jetstream(nc);
    for (let i = 0; i < 12; i++) await publishEvent(js, 'conc.x', enc.encode(String(i)), { msgId: `c${i}` });
    let running = 0;
    let max = 0;
    let n = 0;
    let finish!: () => void;
    const all = new Promise<void>((r) => { finish = r; });
    const c = await startConsumer(js, { stream: 'CONC', consumer: 'w', concurrency: 3, handler: async () => {
      running++;
      max = Math.max(max, running);
      await sleep(40);
      running--;
      if (++n === 12) finish();
    } });
    await all;
    await c.stop();
    assert.equal(max, 3);
    assert.equal((await jsm.consumers.info('CONC', 'w')).num_ack_pending, 0);
  });

  test('errors round-trip through NATS headers; unknown errors carry no internals', () => {
    const d = errorFromHeaders(errorToHeaders(new DomainError('ERR_TOKEN_EXPIRED', 'token\r\nexpired', { grpcStatus: 16 })));
    assert.equal(d?.code, 'ERR_TOKEN_EXPIRED');
    assert.equal(d?.grpcStatus, 16);
    assert.equal(d?.message, 'token expired');
    assert.equal(d?.retryable, false);
    const u = errorFromHeaders(errorToHeaders(new Error('db password=hunter2 at /srv/x.ts:12')));
    assert.equal(u?.code, 'ERR_INTERNAL');
    assert.equal(u?.message, 'internal error');
    assert.equal(errorFromHeaders(undefined), undefined);
  });
});

describe('nats harness', () => {
  test('restart keeps JetStream data (file store); kill + restart too', async () => {
    const srv = await startNats({ jetstream: true, ignoreEnv: true });
    try {
      const nc = await connectNats({ servers: srv.url, name: 'restart-test', reconnectTimeWaitMs: 100 });
      const jsm = await jetstreamManager(nc);
      await ensureStream(jsm, { name: 'KEEP', subjects: ['keep.>'] });
      const js = jetstream(nc);
      await publishEvent(js, 'keep.a', enc.encode('1'), { msgId: 'k1' });
      await srv.restart();
      // The client reconnects on its own (unlimited reconnects).
      await publishEvent(js, 'keep.a', enc.encode('2'), { msgId: 'k2', timeoutMs: 500 });
      assert.equal((await jsm.streams.info('KEEP')).state.messages, 2);
      await srv.kill();
      await srv.restart();
      await publishEvent(js, 'keep.a', enc.encode('3'), { msgId: 'k3', timeoutMs: 500 });
      assert.equal((await jsm.streams.info('KEEP')).state.messages, 3);
      await drainNats(nc);
    } finally {
      await srv.stop();
    }
  });

  test('a running consumer survives a nats-server restart', async () => {
    const srv = await startNats({ jetstream: true, ignoreEnv: true });
    // Closed in `finally` even when an assertion fails: a connection with unlimited reconnect to a
    // stopped server would otherwise keep the test process alive.
    let nc: Awaited<ReturnType<typeof connectNats>> | undefined;
    let c: Awaited<ReturnType<typeof startConsumer>> | undefined;
    try {
      nc = await connectNats({ servers: srv.url, name: 'survive-test', reconnectTimeWaitMs: 100 });
      const jsm = await jetstreamManager(nc);
      await ensureStream(jsm, { name: 'SURV', subjects: ['surv.>'] });
      await ensureConsumer(jsm, { stream: 'SURV', durable: 'w' });
      const js = jetstream(nc);
      const seen: string[] = [];
      let wake: () => void = () => undefined;
      c = await startConsumer(js, { stream: 'SURV', consumer: 'w', nc, handler: async (m) => { seen.push(m.string()); wake(); } });
      const waitFor = (n: number) => new Promise<void>((r) => { wake = () => { if (seen.length >= n) r(); }; wake(); });
      await publishEvent(js, 'surv.a', enc.encode('before'), { msgId: 's1' });
      await waitFor(1);
      await srv.restart();
      await publishEvent(js, 'surv.a', enc.encode('after'), { msgId: 's2', timeoutMs: 500 });
      const t0 = Date.now();
      await waitFor(2);
      // The default pull lasts 5 s; the reconnect hook re-pulls at once, so the message arrives
      // before that fallback would have delivered it (with margin for a loaded CI machine).
      assert.ok(Date.now() - t0 < 5000, `resumed after ${Date.now() - t0} ms`);
      assert.deepEqual(seen, ['before', 'after']);
    } finally {
      await c?.stop().catch(() => undefined);
      if (nc) await drainNats(nc).catch(() => nc!.close());
      await srv.stop();
    }
  });

  test('$NATS_URL overrides the harness: no process, stop is a no-op, crash helpers refuse', async () => {
    const h = await startNats({ env: { NATS_URL: 'nats://127.0.0.1:4999' } });
    assert.equal(h.external, true);
    assert.equal(h.url, 'nats://127.0.0.1:4999');
    assert.equal(h.port, 4999);
    await h.stop();
    await assert.rejects(h.restart());
    await assert.rejects(h.kill());
  });
});
