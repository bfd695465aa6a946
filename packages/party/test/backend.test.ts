/**
 * A signing party refuses the variable-time BigInt backend unless COSIGNER_ALLOW_BIGINT_BACKEND=1
 * (issue 13 item 6), and logs the backend it runs on. The process tests force the BigInt backend
 * with COSIGNER_BIGNUM=bigint in a child process and start a party from its environment.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arith } from '@cosigner/mpc';
import { ALLOW_BIGINT_BACKEND_ENV, PartyError, allowBigintBackend, requireMpcBackend } from '../src/index.ts';

type Line = { level: string; msg: string; fields: Record<string, unknown> | undefined };
const collect = (): { lines: Line[]; log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void } => {
  const lines: Line[] = [];
  return { lines, log: (level, msg, fields) => void lines.push({ level, msg, fields }) };
};

test('requireMpcBackend: BigInt refused unless allowed (then a warning); OpenSSL logged', () => {
  const a = collect();
  assert.throws(() => requireMpcBackend(false, a.log, 'bigint'), (e: unknown) => e instanceof PartyError && e.code === 'ERR_CONFIG' && e.message.includes(ALLOW_BIGINT_BACKEND_ENV));
  assert.equal(a.lines.length, 0);
  const b = collect();
  requireMpcBackend(true, b.log, 'bigint');
  assert.equal(b.lines[0]?.level, 'warn');
  assert.match(b.lines[0]!.msg, /BigInt .*NOT for production/);
  const c = collect();
  requireMpcBackend(false, c.log, 'openssl');
  assert.equal(c.lines[0]?.level, 'info');
  assert.equal(c.lines[0]?.fields?.backend, 'openssl');
  // The test environment always has the addon (scripts/setup.sh builds it).
  assert.equal(arith.backendName(), 'openssl');
});

test(`${ALLOW_BIGINT_BACKEND_ENV}: 1 allows, unset/0 refuse, anything else is a configuration error`, () => {
  assert.equal(allowBigintBackend({}), false);
  assert.equal(allowBigintBackend({ [ALLOW_BIGINT_BACKEND_ENV]: '0' }), false);
  assert.equal(allowBigintBackend({ [ALLOW_BIGINT_BACKEND_ENV]: '1' }), true);
  assert.throws(() => allowBigintBackend({ [ALLOW_BIGINT_BACKEND_ENV]: 'yes' }), (e: unknown) => e instanceof PartyError && e.code === 'ERR_CONFIG');
});

/** Starts a party from its environment in a child process on the forced BigInt backend. */
function startOnBigint(extra: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const script = `
    import { startPartyFromEnv } from ${JSON.stringify(new URL('../src/index.ts', import.meta.url).href)};
    try { await startPartyFromEnv(); console.log('STARTED'); process.exit(0); }
    catch (e) { console.log('ERROR ' + (e.code ?? '') + ' ' + e.message); process.exit(3); }`;
  const dir = mkdtempSync(join(tmpdir(), 'backend-'));
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    // No sealing key and port 1 on loopback: a party that passes the backend check stops right after.
    env: { ...process.env, COSIGNER_BIGNUM: 'bigint', PARTY_ID: 'customer', PARTY_INDEX: '1', COSIGNER_DATA_DIR: dir, NATS_URL: 'nats://127.0.0.1:1', ...extra },
    encoding: 'utf8', timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('a party started on the BigInt backend refuses to start, before touching the network', () => {
  const env: Record<string, string> = {};
  if (process.env[ALLOW_BIGINT_BACKEND_ENV] !== undefined) env[ALLOW_BIGINT_BACKEND_ENV] = '';
  const r = startOnBigint(env);
  assert.equal(r.status, 3, r.stdout + r.stderr);
  assert.match(r.stdout, /ERROR ERR_CONFIG .*native bignum addon is not loaded/);
});

test(`with ${ALLOW_BIGINT_BACKEND_ENV}=1 it passes the check and says so in its log (then stops at the next configuration error here)`, () => {
  const r = startOnBigint({ [ALLOW_BIGINT_BACKEND_ENV]: '1' });
  assert.equal(r.status, 3, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout, /ERR_CONFIG/);
  const warn = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: string; msg: string; backend?: string }).find((l) => l.backend === 'bigint');
  assert.ok(warn, r.stderr);
  assert.equal(warn.level, 'warn');
});
