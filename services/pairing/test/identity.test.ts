import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadIdentity, validateCallbackUrl } from '../src/index.ts';

test('identity: generated once into the data dir, or read from a mounted key shared by replicas', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pairing-id-'));
  try {
    const cb = join(dir, 'cb.pem');
    await writeFile(cb, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const a = await loadIdentity(join(dir, 'data'), cb);
    const b = await loadIdentity(join(dir, 'data'), cb);
    assert.equal(a.cosignerId, b.cosignerId);
    assert.match(a.cosignerId, /^cosigner-[0-9a-f]{16}$/);
    assert.equal(a.identityPublicKey.length, 32);
    assert.equal((await stat(join(dir, 'data', 'identity.key.pem'))).mode & 0o777, 0o600);
    assert.match(a.callbackPublicKeyPem, /BEGIN PUBLIC KEY/);

    const mounted = join(dir, 'id.pem');
    await writeFile(mounted, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const r1 = await loadIdentity(join(dir, 'r1'), cb, mounted);
    const r2 = await loadIdentity(join(dir, 'r2'), cb, mounted);
    assert.equal(r1.cosignerId, r2.cosignerId);
    assert.notEqual(r1.cosignerId, a.cosignerId);

    const ec = join(dir, 'ec.pem');
    await writeFile(ec, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await assert.rejects(loadIdentity(dir, cb, ec), /Ed25519/);
    await assert.rejects(loadIdentity(dir, ec), /COSIGNER_CALLBACK_KEY_FILE/);
    await assert.rejects(loadIdentity(dir, cb, join(dir, 'missing.pem')), /COSIGNER_IDENTITY_KEY_FILE/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('callback URL normalization', () => {
  assert.equal(validateCallbackUrl('https://h.example/base/', 'JWT'), 'https://h.example/base');
  assert.equal(validateCallbackUrl('http://127.0.0.1:3000', 'JWT'), 'http://127.0.0.1:3000');
  for (const bad of ['', 'h.example', 'file:///etc/passwd', 'https://a:b@h', 'https://h/?x=1', 'https://h/#f', 'x'.repeat(3000)]) {
    assert.throws(() => validateCallbackUrl(bad, 'JWT'), (e: unknown) => (e as { code: string }).code === 'ERR_CALLBACK_URL', bad);
  }
});
