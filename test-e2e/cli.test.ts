/**
 * The CLI from a user's chair, every service its own process under `cosigner up`: a command issued
 * one second after `up` starts waits for its service instead of failing; `cosigner demo --json`
 * signs a transfer through the example callback handler against the running system (the signed
 * transaction's sender recovered independently with viem); `cosigner status --json` shows the
 * services, NATS, parties, API users, keys with their pools and the demo's request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { recoverTransactionAddress } from 'viem';

const bin = join(fileURLToPath(import.meta.url), '..', '..', 'packages', 'cli', 'bin', 'cosigner.js');

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A base port whose next four are free too. */
async function freeBase(): Promise<number> {
  for (;;) {
    const b = 20_000 + Math.floor(Math.random() * 30_000);
    let ok = true;
    for (let i = 0; i < 5 && ok; i++) ok = await portFree(b + i);
    if (ok) return b;
  }
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(env: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    c.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function json(r: Run, what: string): Record<string, unknown> {
  assert.equal(r.code, 0, `${what} failed: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `${what}: --json prints exactly one document`);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

test('cosigner up + a command one second later + demo --json + status --json', { timeout: 900_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cosigner-cli-e2e-'));
  const base = await freeBase();
  const env = { COSIGNER_DATA_DIR: dataDir, COSIGNER_CONFIG: join(dataDir, 'cli.json'), COSIGNER_WAIT_MS: '300000' };
  let upErr = '';
  const up: ChildProcess = spawn(process.execPath, [bin, 'up', '--quiet', '--data-dir', dataDir, '--port-base', String(base)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  up.stderr!.setEncoding('utf8').on('data', (d: string) => (upErr += d));
  const upExit = new Promise<number | null>((r) => up.once('exit', (code) => r(code)));
  try {
    await new Promise((r) => setTimeout(r, 1_000));
    // Issued while the system is still starting: waits for the workspace simulator, then the signer.
    const ws = json(await cli(env, 'workspace', 'create', '--name', 'early', '--json'), 'workspace create');
    const key = await cli(env, 'keys', 'create', '--workspace', String(ws.workspaceId), '--algorithm', 'ECDSA_SECP256K1', '--json');
    const k = json(key, 'keys create');
    assert.match(String(k.keyId), /.+/);
    assert.match(upErr, /up: ready: /, 'up prints one line when everything is ready');

    const d = json(await cli(env, 'demo', '--timeout-s', '600', '--json'), 'demo');
    assert.equal(d.status, 'SIGNED', String(d.reason));
    for (const f of ['signedTx', 'from', 'requestId', 'traceId', 'status', 'timings']) assert.ok(f in d, `demo --json has ${f}`);
    assert.match(String(d.traceId), /^[0-9a-f]{32}$/);
    assert.match(String(d.handlerUrl), /^http:\/\/127\.0\.0\.1:\d+$/, 'the example callback handler approved');
    const sender = await recoverTransactionAddress({ serializedTransaction: d.signedTx as `0x02${string}` });
    assert.equal(sender.toLowerCase(), String(d.from).toLowerCase());
    const timings = d.timings as Record<string, number>;
    for (const s of ['workspace', 'apiUser', 'pairing', 'callback', 'key', 'transfer', 'signed', 'total']) assert.equal(typeof timings[s], 'number', `timing ${s}`);

    const s = json(await cli(env, 'status', '--json'), 'status') as unknown as {
      services: { name: string; status: string }[];
      nats: { streams: { name: string; consumers: { name: string }[] }[] };
      parties: { partyId: string }[];
      apiUsers: { apiUserId: string; callback: string }[];
      keys: { keyId: string; algorithm: string; pool: { target: number } | null }[];
      requests: { requestId: string; status: string; latencyMs: number | null }[];
    };
    assert.deepEqual(s.services.map((x) => x.status), ['SERVING', 'SERVING', 'SERVING', 'SERVING']);
    assert.ok(s.nats.streams.some((x) => x.name === 'COSIGNER_REQUESTS' && x.consumers.length > 0), 'the requests stream and its consumers');
    assert.deepEqual(s.parties.map((p) => p.partyId).sort(), ['cloud-1', 'cloud-2', 'customer']);
    assert.ok(s.apiUsers.some((u) => u.apiUserId === d.apiUserId && u.callback.includes('127.0.0.1')));
    const dk = s.keys.find((x) => x.keyId === d.keyId);
    assert.ok(dk && dk.algorithm === 'ECDSA_SECP256K1' && dk.pool !== null, 'the demo key with its presignature pool');
    const r = s.requests.find((x) => x.requestId === d.requestId);
    assert.ok(r, 'the demo request is among the last requests');
    assert.equal(r.status, 'SIGNED');
    assert.equal(typeof r.latencyMs, 'number');
  } finally {
    up.kill('SIGINT');
    const code = await Promise.race([upExit, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
    if (code === 'timeout') up.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});
