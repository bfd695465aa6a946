import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { ConfigError, bool, duration, int, list, loadConfig, oneOf, parseDuration, str, url } from '../src/config.ts';

const DEFAULT_PORT = 50051;
const DEFAULT_GRACE_MS = 10_000;

const schema = {
  natsUrl: url('NATS_URL', { required: true, protocols: ['nats:', 'tls:'] }),
  port: int('GRPC_PORT', { default: DEFAULT_PORT, min: 1, max: 65535 }),
  tls: bool('TLS', { default: false }),
  grace: duration('SHUTDOWN_GRACE', { default: DEFAULT_GRACE_MS }),
  level: oneOf('LOG_LEVEL', ['debug', 'info', 'warn', 'error'], { default: 'info' }),
  tokens: list('ADMIN_TOKENS', { required: true, secret: true, minItems: 1 }),
  dbPassword: str('DB_PASSWORD', { secret: true, minLength: 12 }),
  note: str('NOTE'),
};

test('valid config is typed, defaulted and redacted when printed', () => {
  const cfg = loadConfig(schema, { NATS_URL: 'nats://n:4222', ADMIN_TOKENS: 'tok-aaaaaaaaaaaa, tok-bbbbbbbbbbbb', SHUTDOWN_GRACE: '2m', TLS: 'yes' });
  assert.equal(cfg.natsUrl, 'nats://n:4222');
  assert.equal(cfg.port, DEFAULT_PORT);
  assert.equal(cfg.tls, true);
  assert.equal(cfg.grace, 120_000);
  assert.equal(cfg.level, 'info');
  assert.deepEqual(cfg.tokens, ['tok-aaaaaaaaaaaa', 'tok-bbbbbbbbbbbb']);
  assert.equal(cfg.dbPassword, undefined);
  assert.equal(cfg.note, undefined);
  const d = cfg.describe();
  assert.equal(d['tokens']?.value, '[redacted]');
  assert.equal(d['tokens']?.env, 'ADMIN_TOKENS');
  for (const printed of [JSON.stringify(cfg), inspect(cfg), JSON.stringify(d)]) assert.ok(!printed.includes('tok-aaaa'), printed);
});

test('config validation reports every problem, without secret values', () => {
  let err: unknown;
  try {
    loadConfig(schema, {
      NATS_URL: 'http://wrong-scheme', GRPC_PORT: '70000', TLS: 'maybe', SHUTDOWN_GRACE: '10 parsecs',
      LOG_LEVEL: 'loud', DB_PASSWORD: 'tiny-pw',
    });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  assert.equal(err.code, 'ERR_CONFIG');
  const p = err.problems.join('\n');
  for (const v of ['NATS_URL', 'GRPC_PORT', 'TLS', 'SHUTDOWN_GRACE', 'LOG_LEVEL', 'ADMIN_TOKENS', 'DB_PASSWORD']) assert.match(p, new RegExp(`^${v}:`, 'm'));
  assert.equal(err.problems.length, 7);
  assert.ok(!err.message.includes('tiny-pw'));
  assert.match(p, /GRPC_PORT: must be <= 65535 \(got "70000"\)/);
});

test('durations (table)', () => {
  const table: [string, number | null][] = [['500ms', 500], ['10s', 10_000], ['2m', 120_000], ['1h', 3_600_000], ['250', 250], ['1.5s', 1500], ['', null], ['-1s', null], ['1d', null], ['s', null]];
  for (const [raw, want] of table) {
    if (want === null) assert.throws(() => parseDuration(raw), raw);
    else assert.equal(parseDuration(raw), want, raw);
  }
});

test('platform settings: defaults, NATS options and admin auth from env', async () => {
  const { platformSchema, adminAuthSchema, natsOptions, serverAuth } = await import('../src/settings.ts');
  const cfg = loadConfig({ ...platformSchema, ...adminAuthSchema }, { NATS_URL: 'nats://a:4222,nats://b:4222', ADMIN_TOKENS: 't1,t2', NATS_PASSWORD: 'pw-secret' });
  assert.deepEqual(natsOptions(cfg, 'svc'), { servers: ['nats://a:4222', 'nats://b:4222'], name: 'svc', pass: 'pw-secret' });
  assert.deepEqual(serverAuth(cfg), { tokens: ['t1', 't2'] });
  assert.equal(cfg.logLevel, 'info');
  assert.equal(cfg.jsReplicas, 1);
  assert.ok(!JSON.stringify(cfg).includes('pw-secret'));
});
