import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatLine } from '../src/commands/up.ts';

const bin = join(fileURLToPath(import.meta.url), '..', '..', 'bin', 'cosigner.js');
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });

test('--help lists the commands; unknown commands fail with one line on stderr', () => {
  const h = run('--help');
  assert.equal(h.status, 0);
  assert.match(h.stdout, /^Usage: cosigner <command>/);
  assert.match(h.stdout, /\n {2}up /);
  const u = run('no-such-command');
  assert.equal(u.status, 2);
  assert.equal(u.stdout, '');
  assert.equal(u.stderr.trim().split('\n').length, 1);
});

test('a bad option is refused with exit 2 and nothing on stdout', () => {
  const r = run('up', '--no-such-option');
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^cosigner up: /);
});

test('up formats JSON log lines readably', () => {
  const line = formatLine('pairing', JSON.stringify({ ts: '2026-01-01T10:11:12.345Z', level: 'info', msg: 'ready', port: 50051 }), undefined);
  assert.equal(line, 'pairing        10:11:12.345 info  ready port=50051');
});
