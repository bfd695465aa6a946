import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connectNats, drainNats } from '../src/nats/connect.ts';
import { ensureConsumer, ensureStream } from '../src/nats/provision.ts';
import { publishEvent } from '../src/nats/publish.ts';
import { runService } from '../src/lifecycle.ts';
import { createLogger } from '../src/log.ts';
import { spawnNode, startNats, type NatsServerHandle, type NodeProcess } from '../src/testing/index.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/slow-service.ts', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let nats: NatsServerHandle;
let nc: NatsConnection;
before(async () => {
  nats = await startNats({ jetstream: true, ignoreEnv: true });
  nc = await connectNats({ servers: nats.url, name: 'lifecycle-test' });
  const jsm = await jetstreamManager(nc);
  await ensureStream(jsm, { name: 'WORK', subjects: ['work.>'] });
  await ensureStream(jsm, { name: 'EFFECTS', subjects: ['effect.>'] });
  await ensureConsumer(jsm, { stream: 'WORK', durable: 'worker', ackWaitMs: 1000 });
});
after(async () => {
  await drainNats(nc);
  await nats.stop();
});

test('SIGTERM drains in-flight work before exit: handler completes, effect durable, acked, exit 0', async () => {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  await publishEvent(js, 'work.a', new TextEncoder().encode('job'), { msgId: 'job-1' });
  const child = spawnNode(FIXTURE, { env: { NATS_URL: nats.url, HANDLER_MS: '2500' } });
  try {
    await child.waitForOutput(/"msg":"ready"/);
    await child.waitForOutput(/"msg":"handler started"/);
    child.signal('SIGTERM');
    const { code } = await child.exited;
    const err = child.stderr();
    assert.equal(code, 0, err);
    const iDone = err.indexOf('"msg":"handler done"');
    const iStopped = err.indexOf('"msg":"stopped"');
    assert.ok(iDone > 0 && iStopped > iDone, err);
    assert.ok(err.indexOf('"msg":"draining"') < iDone, err);
    assert.equal((await jsm.streams.info('EFFECTS')).state.messages, 1);
    // Give the server more than one ack_wait: the message must not come back.
    await sleep(1500);
    const ci = await jsm.consumers.info('WORK', 'worker');
    assert.equal(ci.num_ack_pending, 0);
    assert.equal(ci.num_pending, 0);
    assert.equal(ci.num_redelivered, 0);
    assert.equal(ci.ack_floor.stream_seq, 1);
  } finally {
    await child.kill9();
  }
});

test('a second signal forces the exit', async () => {
  const js = jetstream(nc);
  await publishEvent(js, 'work.b', new TextEncoder().encode('job'), { msgId: 'job-2' });
  const child = spawnNode(FIXTURE, { env: { NATS_URL: nats.url, HANDLER_MS: '10000' } });
  try {
    await child.waitForOutput(/"msg":"handler started"/);
    child.signal('SIGTERM');
    await child.waitForOutput(/"msg":"draining"/);
    child.signal('SIGINT');
    const { code } = await child.exited;
    assert.equal(code, 130);
  } finally {
    await child.kill9();
  }
});

test('runService in-process: ready, drain then stop in order, injected exit', async () => {
  const order: string[] = [];
  const lines: string[] = [];
  let exitCode = -1;
  const runner = runService({
    name: 'inproc',
    signals: [],
    telemetry: { exporter: 'none' },
    logger: createLogger({ service: 'inproc', stream: { write: (l: string) => lines.push(l) } }),
    exit: (c) => { exitCode = c; },
    start: async () => {
      order.push('start');
      return { ready: () => { order.push('ready'); }, drain: async () => { order.push('drain'); }, stop: async () => { order.push('stop'); } };
    },
  });
  await runner.ready;
  assert.equal(await runner.shutdown('test'), 0);
  assert.equal(await runner.done, 0);
  assert.equal(exitCode, 0);
  assert.deepEqual(order, ['start', 'ready', 'drain', 'stop']);

  const failing = runService({
    name: 'failing', signals: [], telemetry: { exporter: 'none' },
    logger: createLogger({ service: 'failing', stream: { write: (l: string) => lines.push(l) } }),
    exit: (c) => { exitCode = c; },
    start: async () => { throw new Error('cannot start'); },
  });
  await assert.rejects(failing.ready);
  assert.equal(await failing.done, 1);
  assert.equal(exitCode, 1);
});

test('a service process killed (-9) before ack: the message is redelivered to the next process', async () => {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const before = (await jsm.streams.info('EFFECTS')).state.messages;
  const pub = await publishEvent(js, 'work.c', new TextEncoder().encode('job'), { msgId: 'job-3' });
  const first = spawnNode(FIXTURE, { env: { NATS_URL: nats.url, HANDLER_MS: '5000' } });
  let second: NodeProcess | undefined;
  try {
    // Log fields follow traceId/spanId, hence the `.*`.
    await first.waitForOutput(new RegExp(`"msg":"handler started".*"seq":${pub.seq}\\b`));
    await first.kill9();
    second = spawnNode(FIXTURE, { env: { NATS_URL: nats.url, HANDLER_MS: '200' } });
    await second.waitForOutput(new RegExp(`"msg":"handler done".*"seq":${pub.seq}\\b`));
    second.signal('SIGTERM');
    assert.equal((await second.exited).code, 0);
    // Exactly one effect for this job (the job the forced-exit test left unacked may add its own).
    const info = await jsm.streams.info('EFFECTS', { subjects_filter: `effect.${pub.seq}` });
    assert.equal(info.state.subjects?.[`effect.${pub.seq}`], 1);
    assert.ok(info.state.messages >= before + 1);
  } finally {
    await first.kill9();
    await second?.kill9();
  }
});

test('a service without a gRPC API serves health on healthPort: SERVING when ready, gone after stop', async () => {
  const { HealthClient } = await import('../../../proto/gen/grpc/health/v1/health.ts');
  const { credentials, Metadata } = await import('@grpc/grpc-js');
  const { freePort } = await import('../src/testing/index.ts');
  const port = await freePort();
  const runner = runService({
    name: 'healthonly',
    signals: [],
    telemetry: { exporter: 'none' },
    healthPort: port,
    logger: createLogger({ service: 'healthonly', stream: { write: () => {} } }),
    exit: () => {},
    start: async () => ({}),
  });
  await runner.ready;
  const client = new HealthClient(`127.0.0.1:${port}`, credentials.createInsecure());
  const check = () =>
    new Promise<string>((resolve, reject) =>
      client.check({ service: '' }, new Metadata(), { deadline: Date.now() + 5000 }, (err, res) => (err ? reject(err) : resolve(res.status))),
    );
  assert.equal(await check(), 'SERVING');
  assert.equal(await runner.shutdown('test'), 0);
  await assert.rejects(check());
  client.close();
});
