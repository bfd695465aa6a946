/**
 * The development secrets generator (deploy/init/generate.ts), run for real: the compose `init`
 * service and the Kubernetes dev overlay both use it. First run creates every file with owner-only
 * modes, consistent key pairs and a NATS certificate chaining to the dev CA; a later run changes
 * nothing, byte for byte (a restart must never replace a key under a running system).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { NATS_USER, WORKLOADS, generate } from '../init/generate.ts';
import { nkeyUserOf } from './nats-conf.ts';

function files(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string): void => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

test('generate: one directory per workload, consistent keys, a NATS certificate of the dev CA; a second run keeps every byte', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cosigner-init-'));
  try {
    const first = generate({ out: dir, namespace: 'custody' });
    assert.ok(first.created.length >= 15);
    assert.match(first.adminToken, /^[0-9a-f]{48}$/);
    const before = files(dir);
    for (const w of WORKLOADS) assert.ok([...before.keys()].some((f) => f.startsWith(`${w}/`)), w);
    // Owner-only modes on everything secret (private keys, seeds, tokens).
    const secret = [...before.keys()].filter((f) => /(\.key|\.key\.pem|\.nk|COSIGNER_ADMIN_TOKEN)$/.test(f));
    assert.ok(secret.length >= 20);
    for (const f of secret) assert.equal(statSync(join(dir, f)).mode & 0o077, 0, `${f} readable by others`);
    // Each workload (and the operator's CLI) its own NATS user, in the generated authorization.
    const auth = before.get('nats/auth.conf')!.toString();
    for (const [w, user] of Object.entries(NATS_USER)) assert.equal(nkeyUserOf(auth, before.get(`${w}/nats.nk`)!.toString()), user, w);
    assert.doesNotMatch(auth, /SU[A-Z0-9]{50,}/, 'no seed in the server configuration');
    // The admin token everywhere it is needed is the operator's one.
    for (const w of ['pairing', 'intake', 'mpc-signer', 'workspace-sim']) assert.equal(before.get(`${w}/env/COSIGNER_ADMIN_TOKEN`)!.toString(), first.adminToken);
    assert.ok(!before.has('dispatcher/env/COSIGNER_ADMIN_TOKEN') && !before.has('cloud-1/env/COSIGNER_ADMIN_TOKEN'));
    // The approval public key is the dispatcher's key's half (an OpenSSL signature check).
    const msg = Buffer.from('approval');
    const sig = sign(null, msg, createPrivateKey(before.get('dispatcher/approval.key.pem')!));
    assert.ok(verify(null, msg, createPublicKey(before.get('public/approval.pub.pem')!), sig));
    assert.deepEqual(before.get('pairing/callback.key.pem'), before.get('dispatcher/callback.key.pem'));
    assert.equal(createPrivateKey(before.get('dispatcher/callback.key.pem')!).asymmetricKeyType, 'rsa');
    const sealing = ['mpc-signer', 'cloud-1', 'cloud-2'].map((w) => before.get(`${w}/sealing.key`)!.toString());
    for (const s of sealing) assert.match(s, /^[0-9a-f]{64}$/);
    assert.equal(new Set(sealing).size, 3, 'each party its own sealing key');
    // NATS: the server certificate chains to the CA, names the namespace's services, and the CA key stays in ca/.
    const ca = new X509Certificate(before.get('ca/ca.pem')!);
    const cert = new X509Certificate(before.get('nats/server.pem')!);
    assert.ok(cert.verify(ca.publicKey) && cert.checkIssued(ca));
    assert.ok(ca.ca && !cert.ca);
    assert.equal(cert.checkHost('nats.custody.svc'), 'nats.custody.svc');
    assert.equal(cert.checkHost('nats-1.nats-headless.custody.svc.cluster.local'), 'nats-1.nats-headless.custody.svc.cluster.local');
    assert.equal(cert.checkHost('evil.example.com'), undefined);
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.deepEqual(before.get('nats/ca.pem'), before.get('ca/ca.pem'));
    assert.deepEqual([...before.keys()].filter((f) => f.endsWith('ca.key')), ['ca/ca.key']);
    assert.ok(createPublicKey(createPrivateKey(before.get('nats/server.key')!)).equals(cert.publicKey));

    const second = generate({ out: dir, namespace: 'custody' });
    assert.deepEqual(second.created, []);
    assert.equal(second.adminToken, first.adminToken);
    assert.deepEqual(files(dir), before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
