import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Metadata, credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { DomainError, invalidArgument } from '../src/errors.ts';
import { createLogger } from '../src/log.ts';
import { initTelemetry, type Telemetry } from '../src/telemetry.ts';
import { createServer, service, type GrpcServerHandle } from '../src/grpc/server.ts';
import { closeClient, createClient, serverStream, unary } from '../src/grpc/client.ts';
import { ERROR_CODE_METADATA, RETRYABLE_METADATA } from '../src/grpc/errors.ts';
import { HealthClient, ServingStatus } from '../src/grpc/health.ts';
import { EchoClient, EchoService } from './fixtures/echo.ts';

const TOKEN = 'admin-token-0123456789abcdef';

function rawCall(address: string, path: string, bytes: Buffer, md = new Metadata()): Promise<ServiceError> {
  const c = new Client(address, credentials.createInsecure());
  return new Promise((resolve, reject) => {
    c.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, bytes, md, (err) => {
      c.close();
      if (err) resolve(err);
      else reject(new Error('expected an error'));
    });
  });
}

describe('grpc', () => {
  let tel: Telemetry;
  let srv: GrpcServerHandle;
  const logLines: string[] = [];
  let releaseSlow!: () => void;
  let slowStarted!: () => void;
  const slowStartedP = new Promise<void>((r) => { slowStarted = r; });

  before(async () => {
    tel = initTelemetry({ serviceName: 'grpc-test', exporter: 'memory' });
    const logger = createLogger({ service: 'grpc-test', stream: { write: (l: string) => logLines.push(l) } });
    srv = await createServer({
      port: 0, host: '127.0.0.1', logger, auth: { tokens: ['other-token', TOKEN] },
      services: [service(EchoService, {
        echo: async (req, ctx) => {
          if (typeof req.text !== 'string' || req.text.length === 0) throw invalidArgument('text must be a non-empty string', { field: 'text' });
          return { text: `${req.text} from ${ctx.principal.id}`, traceId: ctx.span.spanContext().traceId };
        },
        boom: async () => {
          throw new Error('db password=hunter2 failed at /srv/secret/path.ts:12', { cause: new Error('inner') });
        },
        slow: async (req) => {
          slowStarted();
          await new Promise<void>((r) => { releaseSlow = r; });
          return { text: req.text };
        },
        count: async function* (req) {
          for (let i = 0; i < (req.n ?? 0); i++) yield { text: String(i) };
        },
      })],
    });
    srv.setServing();
  });
  after(async () => {
    await srv.stop(1000);
    await tel.shutdown();
  });

  test('health check works without auth', async () => {
    const hc = createClient(HealthClient, srv.address);
    try {
      assert.deepEqual(await unary(hc, 'check', { service: '' }), { status: ServingStatus.SERVING });
      assert.deepEqual(await unary(hc, 'check', { service: 'test.v1.Echo' }), { status: ServingStatus.SERVING });
      await assert.rejects(unary(hc, 'check', { service: 'nope.Service' }), (e: DomainError) => e.grpcStatus === GrpcStatus.NOT_FOUND);
      const seen: number[] = [];
      for await (const m of serverStream(hc, 'watch', { service: 'test.v1.Echo' })) {
        seen.push(m.status);
        if (seen.length === 1) srv.health.setStatus('test.v1.Echo', ServingStatus.NOT_SERVING);
        else break;
      }
      assert.deepEqual(seen, [ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
      srv.setServing();
    } finally {
      closeClient(hc);
    }
  });

  test('admin calls: no token and a wrong token are refused, the right token passes', async () => {
    const none = createClient(EchoClient, srv.address);
    const wrong = createClient(EchoClient, srv.address, { token: 'wrong-token' });
    const right = createClient(EchoClient, srv.address, { token: TOKEN });
    try {
      for (const c of [none, wrong]) {
        await assert.rejects(unary(c, 'echo', { text: 'hi' }), (e: DomainError) => {
          assert.equal(e.grpcStatus, GrpcStatus.UNAUTHENTICATED);
          assert.equal(e.code, 'ERR_UNAUTHENTICATED');
          return true;
        });
      }
      const res = await unary(right, 'echo', { text: 'hi' });
      assert.equal(res.text, 'hi from token#1');
    } finally {
      for (const c of [none, wrong, right]) closeClient(c);
    }
  });

  test('a malformed request gets INVALID_ARGUMENT with the stable code', async () => {
    const md = new Metadata();
    md.set('authorization', `Bearer ${TOKEN}`);
    const err = await rawCall(srv.address, '/test.v1.Echo/Echo', Buffer.from('{not json'), md);
    assert.equal(err.code, GrpcStatus.INVALID_ARGUMENT);
    assert.equal(err.metadata.get(ERROR_CODE_METADATA)[0], 'ERR_INVALID_ARGUMENT');
    assert.equal(err.metadata.get(RETRYABLE_METADATA)[0], 'false');

    const c = createClient(EchoClient, srv.address, { token: TOKEN });
    try {
      await assert.rejects(unary(c, 'echo', { text: '' }), (e: DomainError) => {
        assert.ok(e instanceof DomainError);
        assert.equal(e.grpcStatus, GrpcStatus.INVALID_ARGUMENT);
        assert.equal(e.code, 'ERR_INVALID_ARGUMENT');
        assert.equal(e.message, 'text must be a non-empty string');
        assert.deepEqual(e.details, { field: 'text' });
        assert.equal(e.retryable, false);
        return true;
      });
    } finally {
      closeClient(c);
    }
  });

  test('an unexpected exception becomes INTERNAL without internals, logged server side with the trace id', async () => {
    const c = createClient(EchoClient, srv.address, { token: TOKEN });
    try {
      const md = new Metadata();
      md.set('authorization', `Bearer ${TOKEN}`);
      const raw = await rawCall(srv.address, '/test.v1.Echo/Boom', Buffer.from('{}'), md);
      assert.equal(raw.code, GrpcStatus.INTERNAL);
      assert.equal(raw.details, 'internal error');
      const all = JSON.stringify({ d: raw.details, m: raw.metadata.getMap(), msg: raw.message });
      assert.ok(!all.includes('hunter2') && !all.includes('/srv/') && !all.includes('inner'), all);
      await assert.rejects(unary(c, 'boom', { text: 'x' }), (e: DomainError) => e.code === 'ERR_INTERNAL' && e.message === 'internal error');
      const line = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['msg'] === 'unhandled error');
      assert.ok(line, 'logged');
      assert.match(String(line['traceId']), /^[0-9a-f]{32}$/);
    } finally {
      closeClient(c);
    }
  });

  test('server stream helper and default deadline', async () => {
    const c = createClient(EchoClient, srv.address, { token: TOKEN, defaultDeadlineMs: 300 });
    try {
      const got: string[] = [];
      for await (const m of serverStream(c, 'count', { text: '', n: 3 })) got.push(m.text);
      assert.deepEqual(got, ['0', '1', '2']);
      const p = unary(c, 'slow', { text: 'x' });
      await assert.rejects(p, (e: DomainError) => e.grpcStatus === GrpcStatus.DEADLINE_EXCEEDED && e.retryable);
      releaseSlow();
      const ac = new AbortController();
      const cancelled = unary(c, 'slow', { text: 'y' }, { deadlineMs: 5000, signal: ac.signal });
      ac.abort();
      await assert.rejects(cancelled, (e: DomainError) => e.grpcStatus === GrpcStatus.CANCELLED);
      releaseSlow();
    } finally {
      closeClient(c);
    }
  });

  test('drain: NOT_SERVING, in-flight calls finish, new calls refused', async () => {
    const s2 = await createServer({ port: 0, host: '127.0.0.1', auth: { tokens: [TOKEN] }, services: [service(EchoService, {
      echo: async (r) => ({ text: r.text }),
      boom: async () => { throw new DomainError('ERR_X', 'x'); },
      slow: async (req) => { slowStarted(); await new Promise((r) => setTimeout(r, 300)); return { text: req.text }; },
      count: async function* () {
        yield { text: 'first' };
        await new Promise(() => undefined); // a watch with nothing more to say
      },
    })] });
    s2.setServing();
    const c = createClient(EchoClient, s2.address, { token: TOKEN });
    const hc = createClient(HealthClient, s2.address);
    try {
      const inflight = unary(c, 'slow', { text: 'done' });
      const watch = serverStream(c, 'count', { text: '' });
      assert.equal((await watch.next()).value?.text, 'first');
      const watchEnd = watch.next().then(() => 'ended', (e: DomainError) => e);
      await slowStartedP;
      await new Promise((r) => setTimeout(r, 50));
      const drained = s2.drain(5000);
      assert.equal((await unary(hc, 'check', { service: '' })).status, ServingStatus.NOT_SERVING);
      await assert.rejects(unary(c, 'echo', { text: 'late' }), (e: DomainError) => e.grpcStatus === GrpcStatus.UNAVAILABLE && e.retryable);
      assert.equal((await inflight).text, 'done');
      assert.equal(await drained, true);
      const we = await watchEnd;
      assert.ok(we instanceof DomainError && we.grpcStatus === GrpcStatus.UNAVAILABLE && we.retryable, String(we));
    } finally {
      closeClient(c);
      closeClient(hc);
      await s2.stop(1000);
    }
  });

  test('a custom authenticator (e.g. a workspace-signed request) sets the principal', async () => {
    const s3 = await createServer({ port: 0, host: '127.0.0.1', services: [service(EchoService, {
      echo: async (r, ctx) => ({ text: `${r.text}:${ctx.principal.kind}:${ctx.principal.id}` }),
      boom: async () => ({ text: '' }), slow: async () => ({ text: '' }), count: async function* () { /* none */ },
    }, { auth: async ({ metadata }) => {
      const ws = metadata.get('x-workspace')[0];
      if (ws !== 'ws-1') throw new DomainError('ERR_UNAUTHENTICATED', 'unknown workspace');
      return { kind: 'custom', id: 'ws-1' };
    } })] });
    const c = createClient(EchoClient, s3.address);
    try {
      const md = new Metadata();
      md.set('x-workspace', 'ws-1');
      assert.equal((await unary(c, 'echo', { text: 'a' }, { metadata: md })).text, 'a:custom:ws-1');
      await assert.rejects(unary(c, 'echo', { text: 'a' }), (e: DomainError) => e.code === 'ERR_UNAUTHENTICATED');
    } finally {
      closeClient(c);
      await s3.stop(1000);
    }
  });
});
