import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, redact } from '../src/log.ts';
import { DomainError } from '../src/errors.ts';
import { initTelemetry, withSpan } from '../src/telemetry.ts';

const SECRETS = ['S3CR3T-1', 'S3CR3T-2', 'S3CR3T-3', 'S3CR3T-4', 'S3CR3T-5', 'S3CR3T-6', 'S3CR3T-7', 'S3CR3T-8', 'S3CR3T-9'];

function capture(level: 'debug' | 'info' = 'debug') {
  const lines: string[] = [];
  const log = createLogger({ service: 'svc', level, stream: { write: (l: string) => lines.push(l) }, now: () => new Date(0) });
  return { log, lines };
}

test('secret-named fields never reach a log line (nested objects, arrays, errors with cause, bytes)', () => {
  const { log, lines } = capture();
  const cause = Object.assign(new Error('inner'), { privateKey: SECRETS[0], details: { sealingKey: SECRETS[1] } });
  const err = new DomainError('ERR_X', 'outer', { cause });
  log.child({ apiToken: SECRETS[2], requestId: 'r-1' }).info('hello', {
    user: { name: 'alice', password: SECRETS[3], nested: [{ keyShare: SECRETS[4] }, { ok: 1 }] },
    headers: { Authorization: `Bearer ${SECRETS[5]}` },
    paillier: { p: 1, lambda: SECRETS[6], phiN: SECRETS[7] },
    blob: new Uint8Array([1, 2, 3]),
    buf: Buffer.from(SECRETS[8]!),
    big: 123n,
    err,
    list: [Buffer.from('x'), { nonce: 'n' }],
  });
  assert.equal(lines.length, 1);
  const text = lines[0]!;
  for (const s of SECRETS) assert.ok(!text.includes(s), `leaked ${s}: ${text}`);
  const l = JSON.parse(text) as Record<string, any>;  
  assert.equal(l['level'], 'info');
  assert.equal(l['service'], 'svc');
  assert.equal(l['msg'], 'hello');
  assert.equal(l['ts'], '1970-01-01T00:00:00.000Z');
  assert.equal(l['requestId'], 'r-1');
  assert.equal(l['apiToken'], '[redacted]');
  assert.equal(l['user'].name, 'alice');
  assert.equal(l['user'].password, '[redacted]');
  assert.equal(l['user'].nested[0].keyShare, '[redacted]');
  assert.equal(l['headers'].Authorization, '[redacted]');
  assert.equal(l['blob'], '[redacted]');
  assert.equal(l['buf'], '[redacted]');
  assert.equal(l['big'], '[redacted]');
  assert.equal(l['err'].code, 'ERR_X');
  assert.equal(l['err'].cause.message, 'inner');
  assert.equal(l['list'][0], '[redacted]');
  assert.equal(l['list'][1].nonce, '[redacted]');
});

test('cycles and levels', () => {
  const { log, lines } = capture('info');
  const a: Record<string, unknown> = { name: 'a' };
  a['self'] = a;
  log.debug('hidden');
  log.warn('cyclic', { a });
  assert.equal(lines.length, 1);
  assert.equal(JSON.parse(lines[0]!).a.self, '[circular]');
  assert.deepEqual(redact({ seed: 'x', mnemonic: 'y', prime: 'z', ok: 'v' }), { seed: '[redacted]', mnemonic: '[redacted]', prime: '[redacted]', ok: 'v' });
});

test('log lines carry the active trace and span ids', async () => {
  const tel = initTelemetry({ serviceName: 'log-test', exporter: 'memory' });
  try {
    const { log, lines } = capture();
    let ids = { t: '', s: '' };
    await withSpan('op', async (span) => {
      ids = { t: span.spanContext().traceId, s: span.spanContext().spanId };
      log.info('inside');
    });
    log.info('outside');
    const [inside, outside] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(inside!['traceId'], ids.t);
    assert.equal(inside!['spanId'], ids.s);
    assert.equal(outside!['traceId'], undefined);
  } finally {
    await tel.shutdown();
  }
});
