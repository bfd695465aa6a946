/** The CLI's keys / pool commands against a running signer (three party processes). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { publicKeyToAddress } from 'viem/accounts';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { startSystem } from './system.ts';

const BIN = join(import.meta.dirname, '..', '..', '..', 'packages', 'cli', 'bin', 'cosigner.js');

test('cosigner keys create|list|pubkey|backup|restore and pool status', async (t) => {
  const s = await startSystem();
  t.after(() => s.stop());
  const env = { ...process.env, COSIGNER_KEYS_URL: `127.0.0.1:${s.grpcPort}`, COSIGNER_ADMIN_TOKEN: s.token, COSIGNER_CONFIG: '/nonexistent/cli.json', NATS_URL: s.nats.url };
  const cli = (...args: string[]) => new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const c = spawn(process.execPath, [BIN, ...args], { env });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    c.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
  const json = async (...args: string[]) => {
    const r = await cli(...args, '--json');
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };
  const ed = await json('keys', 'create', '--workspace', 'ws1', '--algorithm', 'EDDSA_ED25519');
  assert.deepEqual(Object.keys(ed).sort(), ['algorithm', 'chainCode', 'keyId', 'publicKey']);
  assert.match(String(ed.publicKey), /^[0-9a-f]{64}$/);
  const k1 = await json('keys', 'create', '--workspace', 'ws1', '--algorithm', 'ECDSA_SECP256K1');
  assert.match(String(k1.publicKey), /^0[23][0-9a-f]{64}$/);
  const list = await json('keys', 'list');
  assert.equal((list.keys as unknown[]).length, 2);
  const pk = await json('keys', 'pubkey', '--key', String(k1.keyId), '--path', '44/60/0/0/0');
  assert.deepEqual(Object.keys(pk).sort(), ['address', 'keyId', 'path', 'publicKey']);
  const uncompressed = secp256k1.Point.fromHex(String(pk.publicKey)).toHex(false);
  assert.equal(pk.address, publicKeyToAddress(`0x${uncompressed}`));
  const pool = await json('pool', 'status');
  assert.ok(Array.isArray(pool.pools));
  // Backup to an X25519 recovery key; restoring into the same signer is idempotent.
  const dir = mkdtempSync(join(tmpdir(), 'cosigner-cli-'));
  const rec = generateKeyPairSync('x25519');
  writeFileSync(join(dir, 'rec.pub.pem'), rec.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(dir, 'rec.pem'), rec.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const b = await json('keys', 'backup', '--key', String(ed.keyId), '--recovery-public-key', join(dir, 'rec.pub.pem'), '--out', join(dir, 'ed.backup'));
  assert.equal(b.keyId, ed.keyId);
  const r = await json('keys', 'restore', '--backup', join(dir, 'ed.backup'), '--recovery-private-key', join(dir, 'rec.pem'));
  assert.equal(r.keyId, ed.keyId);
  // The parties' identities, each bound to its encryption key, and the pins that fix them.
  const parties = await json('parties', 'list');
  const ps = parties.parties as { partyId: string; index: number; identityPublicKey: string; attestationBinds: boolean }[];
  assert.deepEqual(ps.map((p) => [p.partyId, p.index, p.attestationBinds]), [['customer', 1, true], ['cloud-1', 2, true], ['cloud-2', 3, true]]);
  for (const p of ps) assert.match(p.identityPublicKey, /^[0-9a-f]{64}$/);
  assert.equal(parties.pins, ps.map((p) => `${p.partyId}=${p.identityPublicKey}`).join(','));
  const bad = await cli('keys', 'pubkey', '--key', 'no-such-key');
  assert.notEqual(bad.code, 0);
  assert.equal(bad.stdout, '');
});
