/**
 * Pairing end to end with a real nats-server, the real workspace simulator and the real pairing
 * service over gRPC: two workspaces, concurrent spends, every bad token class, callback config,
 * audit chain, and a restart of both services and of nats-server (file storage).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as jose from 'jose';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { KvWatchInclude, Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { ApiUser as ApiUserCodec, AuditRecord, PairingServiceClient, WorkspaceServiceClient, type ApiUser } from '@cosigner/proto';
import { startNats, type NatsServerHandle } from '@cosigner/platform/testing';
import { parseTrustConfig } from '@cosigner/trust';
import { startWorkspace, type WorkspaceHandle } from '@cosigner/cloud-cosigner-sim';
import { auditHash, verifyAuditChain } from '@cosigner/audit';
import { startPairing, type PairingHandle } from '../src/index.ts';

const TOKEN = 'pairing-test-admin';
let nats: NatsServerHandle;
let dir: string;
let sim: WorkspaceHandle;
let pairing: PairingHandle;
let wsClient: WorkspaceServiceClient;
let pClient: PairingServiceClient;

async function startServices(): Promise<void> {
  sim = await startWorkspace({ natsUrl: nats.url, port: 0, adminTokens: [TOKEN], dataDir: join(dir, 'sim-keys'), intakeUrl: '127.0.0.1:1' });
  pairing = await startPairing({
    natsUrl: nats.url, port: 0, adminTokens: [TOKEN],
    trust: parseTrustConfig([{ platform: sim.address, issuerPrefix: 'cosigner-sim/' }]),
    callbackKeyFile: join(dir, 'callback.key.pem'),
    dataDir: join(dir, 'pairing'),
  });
  wsClient = new WorkspaceServiceClient(sim.address, grpc.credentials.createInsecure());
  pClient = new PairingServiceClient(pairing.address, grpc.credentials.createInsecure());
}

async function stopServices(): Promise<void> {
  wsClient.close();
  pClient.close();
  await pairing.stop();
  await sim.stop();
}

function rpc<Res>(client: grpc.Client, method: string, req: unknown, token: string | null = TOKEN): Promise<Res> {
  const md = new grpc.Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, (...a: unknown[]) => void>)[method]!.call(client, req, md, (e: grpc.ServiceError | null, r: Res) => (e ? reject(e) : resolve(r)));
  });
}
const ws = <R>(m: string, r: unknown): Promise<R> => rpc<R>(wsClient, m, r);
const pr = <R>(m: string, r: unknown, token: string | null = TOKEN): Promise<R> => rpc<R>(pClient, m, r, token);
const codeOf = (e: unknown): string => (e as grpc.ServiceError).metadata?.get('x-cosigner-error-code')[0]?.toString() ?? `(status ${(e as grpc.ServiceError).code})`;
async function refused(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.equal(codeOf(e), code, (e as Error).message);
    return true;
  });
}

interface W { workspaceId: string; issuer: string }
interface U { apiUserId: string; workspaceId: string; state: string }

async function newPendingUser(workspaceId?: string): Promise<{ w: string; u: string; token: string }> {
  const w = workspaceId ?? (await ws<W>('createWorkspace', { name: 'w' })).workspaceId;
  const u = await ws<U>('createApiUser', { workspaceId: w, name: 'u' });
  const t = await ws<{ token: string }>('issuePairingToken', { apiUserId: u.apiUserId });
  return { w, u: u.apiUserId, token: t.token };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pairing-test-'));
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await writeFile(join(dir, 'callback.key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  nats = await startNats({ ignoreEnv: true });
  await startServices();
});

after(async () => {
  await stopServices().catch(() => undefined);
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

const paired: Array<{ w: string; u: string }> = [];
let tokenForAfterRestart = '';

test('pairs API users from two workspaces; list and get', async () => {
  const a = await newPendingUser();
  const b = await newPendingUser();
  const a2 = await newPendingUser(a.w);
  for (const x of [a, b, a2]) {
    const r = await pr<ApiUser>('pair', { token: x.token });
    assert.equal(r.state, 'ACTIVE');
    assert.equal(r.apiUserId, x.u);
    assert.equal(r.workspaceId, x.w);
    paired.push(x);
  }
  const list = await pr<{ apiUsers: ApiUser[] }>('listApiUsers', { workspaceId: '' });
  assert.deepEqual(new Set(list.apiUsers.map((u) => u.apiUserId)), new Set([a.u, b.u, a2.u]));
  const onlyA = await pr<{ apiUsers: ApiUser[] }>('listApiUsers', { workspaceId: a.w });
  assert.equal(onlyA.apiUsers.length, 2);
  // The workspace sees its API user as paired with this co-signer.
  const info = await pr<{ cosignerId: string; callbackPublicKeyPem: string; apiUsers: number; identityPublicKey: Buffer }>('getCosignerInfo', {});
  assert.equal(info.cosignerId, pairing.cosignerId);
  assert.match(info.callbackPublicKeyPem, /BEGIN PUBLIC KEY/);
  assert.equal(info.apiUsers, 3);
  assert.equal(info.identityPublicKey.length, 32);
  const g = await pr<ApiUser>('getApiUser', { apiUserId: b.u });
  assert.equal(g.workspaceId, b.w);
  await refused(pr('getApiUser', { apiUserId: 'nobody' }), 'ERR_API_USER_NOT_FOUND');
  await refused(pr('listApiUsers', { workspaceId: '' }, null), 'ERR_UNAUTHENTICATED');
  await refused(pr('listApiUsers', { workspaceId: '' }, 'wrong'), 'ERR_UNAUTHENTICATED');
});

test('other services see pairing and callback changes at once (KV watch on cosigner-api-users)', async () => {
  const nc = await connect({ servers: nats.url });
  const kv = await new Kvm(jetstream(nc)).open('cosigner-api-users');
  const seen: ApiUser[] = [];
  const watch = await kv.watch({ include: KvWatchInclude.UpdatesOnly });
  const got = (async () => {
    for await (const e of watch) {
      if (e.operation !== 'PUT') continue;
      seen.push(ApiUserCodec.decode(e.value));
      if (seen.length === 2) break;
    }
  })();
  const x = await newPendingUser();
  await pr<ApiUser>('pair', { token: x.token });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  await pr<ApiUser>('setCallback', { apiUserId: x.u, url: 'http://127.0.0.1:9', publicKeyPem: rsa });
  await Promise.race([got, new Promise((_, rej) => setTimeout(() => rej(new Error('watch saw nothing')), 5000))]);
  watch.stop();
  await nc.close();
  assert.equal(seen[0]!.apiUserId, x.u);
  assert.equal(seen[0]!.state, 'ACTIVE');
  assert.equal(seen[1]!.callback?.url, 'http://127.0.0.1:9');
  await pr('unpair', { apiUserId: x.u });
});

test('one token spent twice concurrently pairs once', async () => {
  const x = await newPendingUser();
  const results = await Promise.allSettled([pr<ApiUser>('pair', { token: x.token }), pr<ApiUser>('pair', { token: x.token }), pr<ApiUser>('pair', { token: x.token })]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  for (const r of results) if (r.status === 'rejected') assert.equal(codeOf(r.reason), 'ERR_TOKEN_SPENT');
  await refused(pr('pair', { token: x.token }), 'ERR_TOKEN_SPENT');
  paired.push(x);
});

test('every bad token class is refused with its code and stores nothing', async () => {
  const x = await newPendingUser();
  const key = await sim.workspaces.keys.get(x.w);
  const iss = `cosigner-sim/${x.w}`;
  const now = Math.floor(Date.now() / 1000);
  const sign = (claims: Record<string, unknown>, header: jose.JWTHeaderParameters = { alg: 'ES256', kid: key.kid }) =>
    new jose.SignJWT({ iss, sub: x.u, aud: 'cosigner-pairing', iat: now, nbf: now, exp: now + 3600, jti: `j-${Math.random()}`, ...claims } as jose.JWTPayload).setProtectedHeader(header).sign(key.privateKey);
  const other2 = await newPendingUser();
  const key2 = await sim.workspaces.keys.get(other2.w);
  const signOther = (claims: Record<string, unknown>) =>
    new jose.SignJWT({ iss: `cosigner-sim/${other2.w}`, sub: x.u, aud: 'cosigner-pairing', iat: now, nbf: now, exp: now + 3600, jti: `j-${Math.random()}`, ...claims } as jose.JWTPayload)
      .setProtectedHeader({ alg: 'ES256', kid: key2.kid }).sign(key2.privateKey);
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const payload = { iss, sub: x.u, aud: 'cosigner-pairing', iat: now, exp: now + 3600, jti: 'n' };
  const hs = await new jose.SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid: key.kid }).sign(new TextEncoder().encode(JSON.stringify(key.publicJwk)));
  const other = await jose.generateKeyPair('ES256');
  const before = (await pr<{ apiUsers: ApiUser[] }>('listApiUsers', { workspaceId: '' })).apiUsers.length;
  const cases: Array<[string, string, string]> = [
    ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`, 'ERR_TOKEN_ALG'],
    ['HS256 keyed with the public key', hs, 'ERR_TOKEN_ALG'],
    ['wrong audience', await sign({ aud: 'cosigner-intake' }), 'ERR_TOKEN_AUDIENCE'],
    ['expired', await sign({ iat: now - 7200, nbf: now - 7200, exp: now - 3600 }), 'ERR_TOKEN_EXPIRED'],
    ['not yet valid', await sign({ nbf: now + 600, exp: now + 3600 }), 'ERR_TOKEN_NOT_YET_VALID'],
    ['forged signature', await new jose.SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: key.kid }).sign(other.privateKey), 'ERR_TOKEN_SIGNATURE'],
    ['untrusted workspace (other issuer family)', await sign({ iss: 'evil-platform/ws-1' }), 'ERR_WORKSPACE_UNTRUSTED'],
    ['unknown workspace of the platform', await sign({ iss: 'cosigner-sim/ws-does-not-exist' }), 'ERR_WORKSPACE_UNTRUSTED'],
    ['wrong issuer: another trusted workspace, signed with this one\'s key', await sign({ iss: `cosigner-sim/${other2.w}` }), 'ERR_TOKEN_SIGNATURE'],
    ['wrong issuer for the API user: signed by the other workspace', await signOther({}), 'ERR_TOKEN_ISSUER'],
    ['missing jti', await sign({ jti: undefined }), 'ERR_TOKEN_MALFORMED'],
    ['not a JWT', 'hello', 'ERR_TOKEN_MALFORMED'],
    ['valid signature, but not the token the workspace issued', await sign({}), 'ERR_TOKEN_SPENT'],
  ];
  for (const [name, token, code] of cases) {
    await assert.rejects(pr('pair', { token }), (e: unknown) => {
      assert.equal(codeOf(e), code, `${name}: ${(e as Error).message}`);
      return true;
    }, name);
  }
  const afterList = (await pr<{ apiUsers: ApiUser[] }>('listApiUsers', { workspaceId: '' })).apiUsers;
  assert.equal(afterList.length, before, 'nothing stored');
  // The genuine token still works after all that (refusals did not burn it).
  const ok = await pr<ApiUser>('pair', { token: x.token });
  assert.equal(ok.state, 'ACTIVE');
  paired.push(x);
});

function certPem(bits: number): string {
  const d = execFileSync('mktemp', ['-d']).toString().trim();
  execFileSync('openssl', ['req', '-x509', '-newkey', `rsa:${bits}`, '-nodes', '-keyout', join(d, 'k.pem'), '-out', join(d, 'c.pem'), '-subj', '/CN=localhost', '-days', '2'], { stdio: 'ignore' });
  const pem = execFileSync('cat', [join(d, 'c.pem')]).toString();
  execFileSync('rm', ['-rf', d]);
  return pem;
}

test('callback config: set (JWT and TLS modes), read back, clear; bad input refused', async () => {
  const u = paired[0]!.u;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const pkcs1 = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const short = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const priv = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

  const set = await pr<ApiUser>('setCallback', { apiUserId: u, url: 'https://handler.example:8443/', publicKeyPem: rsa });
  assert.equal(set.callback?.url, 'https://handler.example:8443');
  assert.equal(set.callback?.mode, 'JWT');
  const back = await pr<ApiUser>('getApiUser', { apiUserId: u });
  assert.equal(back.callback?.publicKeyPem, rsa);
  const viaPkcs1 = await pr<ApiUser>('setCallback', { apiUserId: paired[1]!.u, url: 'http://127.0.0.1:3000', publicKeyPem: pkcs1 });
  assert.match(viaPkcs1.callback!.publicKeyPem, /BEGIN PUBLIC KEY/);
  const cert = certPem(2048);
  const tls = await pr<ApiUser>('setCallback', { apiUserId: paired[2]!.u, url: 'https://127.0.0.1:3443', certPem: cert });
  assert.equal(tls.callback?.mode, 'TLS');

  const bad: Array<[Record<string, unknown>, string]> = [
    [{ url: 'https://h', publicKeyPem: '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n' }, 'ERR_CALLBACK_KEY_MALFORMED'],
    [{ url: 'https://h', publicKeyPem: 'not a pem' }, 'ERR_CALLBACK_KEY_MALFORMED'],
    [{ url: 'https://h', publicKeyPem: priv }, 'ERR_CALLBACK_KEY_MALFORMED'],
    [{ url: 'https://h', publicKeyPem: ec }, 'ERR_CALLBACK_KEY_NOT_RSA'],
    [{ url: 'https://h', publicKeyPem: short }, 'ERR_CALLBACK_KEY_TOO_SHORT'],
    [{ url: 'https://user:pw@h', publicKeyPem: rsa }, 'ERR_CALLBACK_URL'],
    [{ url: 'ftp://h', publicKeyPem: rsa }, 'ERR_CALLBACK_URL'],
    [{ url: 'javascript:alert(1)', publicKeyPem: rsa }, 'ERR_CALLBACK_URL'],
    [{ url: 'not a url', publicKeyPem: rsa }, 'ERR_CALLBACK_URL'],
    [{ url: 'http://h', certPem: cert }, 'ERR_CALLBACK_URL'],
    [{ url: 'https://h', certPem: 'garbage' }, 'ERR_CALLBACK_CERT_MALFORMED'],
    [{ url: 'https://h', certPem: certPem(1024) }, 'ERR_CALLBACK_KEY_TOO_SHORT'],
    [{ url: 'https://h' }, 'ERR_INVALID_ARGUMENT'],
  ];
  for (const [req, code] of bad) await refused(pr('setCallback', { apiUserId: u, ...req }), code);
  await refused(pr('setCallback', { apiUserId: 'nobody', url: 'https://h', publicKeyPem: rsa }), 'ERR_API_USER_NOT_FOUND');
  const unchanged = await pr<ApiUser>('getApiUser', { apiUserId: u });
  assert.equal(unchanged.callback?.url, 'https://handler.example:8443', 'refused input changed nothing');

  const cleared = await pr<ApiUser>('clearCallback', { apiUserId: paired[1]!.u });
  assert.equal(cleared.callback, undefined);
});

test('workspace unreachable: ERR_WORKSPACE_UNAVAILABLE, nothing stored, the token still works later', async () => {
  const x = await newPendingUser();
  // Warm the key cache so verification passes and the failure is the completion itself.
  await assert.rejects(pr('pair', { token: x.token.replace(/.{4}$/, 'AAAA') }));
  const port = sim.port;
  wsClient.close();
  await sim.stop();
  await refused(pr('pair', { token: x.token }), 'ERR_WORKSPACE_UNAVAILABLE');
  await assert.rejects(pr('getApiUser', { apiUserId: x.u }), (e: unknown) => codeOf(e) === 'ERR_API_USER_NOT_FOUND');
  sim = await startWorkspace({ natsUrl: nats.url, port, adminTokens: [TOKEN], dataDir: join(dir, 'sim-keys'), intakeUrl: '127.0.0.1:1' });
  wsClient = new WorkspaceServiceClient(sim.address, grpc.credentials.createInsecure());
  const ok = await pr<ApiUser>('pair', { token: x.token });
  assert.equal(ok.state, 'ACTIVE');
  paired.push(x);
});

test('unpair, audit chain, and everything survives a restart of the services and of nats-server', async () => {
  const gone = paired[3]!.u;
  const un = await pr<{ apiUser: ApiUser }>('unpair', { apiUserId: gone });
  assert.equal(un.apiUser.state, 'UNPAIRED');
  await refused(pr('setCallback', { apiUserId: gone, url: 'https://h', publicKeyPem: generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString() }), 'ERR_API_USER_NOT_ACTIVE');
  const pending = await newPendingUser();
  tokenForAfterRestart = pending.token;
  const beforeList = (await pr<{ apiUsers: ApiUser[] }>('listApiUsers', { workspaceId: '' })).apiUsers;
  const cosignerId = pairing.cosignerId;

  await stopServices();
  await nats.restart();
  await startServices();

  assert.equal(pairing.cosignerId, cosignerId, 'identity survives');
  const afterList = (await pr<{ apiUsers: ApiUser[] }>('listApiUsers', { workspaceId: '' })).apiUsers;
  const strip = (l: ApiUser[]) => l.map((u) => ({ ...u, revision: 0 })).sort((a, b) => a.apiUserId.localeCompare(b.apiUserId));
  assert.deepEqual(strip(afterList), strip(beforeList));
  assert.equal(afterList.find((u) => u.apiUserId === paired[0]!.u)?.callback?.url, 'https://handler.example:8443');
  assert.equal(afterList.find((u) => u.apiUserId === gone)?.state, 'UNPAIRED');
  // A token issued before the restart pairs after it; spent tokens stay spent.
  const ok = await pr<ApiUser>('pair', { token: tokenForAfterRestart });
  assert.equal(ok.state, 'ACTIVE');
  await refused(pr('pair', { token: tokenForAfterRestart }), 'ERR_TOKEN_SPENT');

  // The audit stream holds a hash chain of every pairing and callback change.
  const nc = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info('COSIGNER_AUDIT');
  const records: AuditRecord[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage('COSIGNER_AUDIT', { seq });
    if (m) records.push(AuditRecord.decode(m.data));
  }
  assert.deepEqual((await verifyAuditChain(nc)).ok, true);
  await nc.close();
  assert.ok(records.length >= 10, `audit records: ${records.length}`);
  let prev = Buffer.alloc(32);
  records.forEach((r, i) => {
    assert.equal(r.seq, i + 1);
    assert.deepEqual(Buffer.from(r.prevHash), prev);
    assert.deepEqual(Buffer.from(r.hash), auditHash(r));
    prev = Buffer.from(r.hash);
  });
  const kinds = new Set(records.map((r) => `${r.kind}:${r.outcome}`));
  for (const k of ['pairing:PAIRED', 'pairing:UNPAIRED', 'callback_config:CALLBACK_SET', 'callback_config:CALLBACK_CLEARED']) assert.ok(kinds.has(k), k);
});

test('pairing never overwrites another workspace\'s API user (ERR_API_USER_OTHER_WORKSPACE), its callback kept', async () => {
  const x = await newPendingUser();
  // Another workspace already holds this API user id here, with a callback handler.
  const nc = await connect({ servers: nats.url });
  const kv = await new Kvm(jetstream(nc)).open('cosigner-api-users');
  const theirs: ApiUser = {
    apiUserId: x.u, workspaceId: 'another-workspace', state: 'ACTIVE', pairedAtMs: 1, revision: 0, autoApprove: false,
    callback: { url: 'https://theirs.example', mode: 'JWT', publicKeyPem: 'pem', certPem: '', updatedAtMs: 1 },
  };
  await kv.put(x.u, ApiUserCodec.encode(theirs).finish());
  try {
    await refused(pr('pair', { token: x.token }), 'ERR_API_USER_OTHER_WORKSPACE');
    const after = ApiUserCodec.decode((await kv.get(x.u))!.value);
    assert.equal(after.workspaceId, 'another-workspace');
    assert.equal(after.callback?.url, 'https://theirs.example');
    // Nor once that user is unpaired: the id stays theirs.
    await kv.put(x.u, ApiUserCodec.encode({ ...theirs, state: 'UNPAIRED', callback: undefined }).finish());
    const y = await ws<{ token: string }>('issuePairingToken', { apiUserId: x.u });
    await refused(pr('pair', { token: y.token }), 'ERR_API_USER_OTHER_WORKSPACE');
    assert.equal(ApiUserCodec.decode((await kv.get(x.u))!.value).workspaceId, 'another-workspace');
  } finally {
    await nc.close();
  }
});

test('auto-approve is a setting: off unless asked for at pairing or when clearing; a handler turns it off', async () => {
  const a = await newPendingUser();
  const plain = await pr<ApiUser>('pair', { token: a.token });
  assert.equal(plain.autoApprove, false, 'pairing without the setting does not auto-approve');
  const b = await newPendingUser();
  const auto = await pr<ApiUser>('pair', { token: b.token, autoApprove: true });
  assert.equal(auto.autoApprove, true);
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const withCb = await pr<ApiUser>('setCallback', { apiUserId: b.u, url: 'https://h.example', publicKeyPem: rsa });
  assert.equal(withCb.autoApprove, false, 'a handler replaces auto-approve');
  const cleared = await pr<ApiUser>('clearCallback', { apiUserId: b.u });
  assert.equal(cleared.callback, undefined);
  assert.equal(cleared.autoApprove, false, 'clearing the handler does not approve by default');
  const explicit = await pr<ApiUser>('clearCallback', { apiUserId: b.u, autoApprove: true });
  assert.equal(explicit.autoApprove, true);
  assert.equal((await pr<ApiUser>('getApiUser', { apiUserId: b.u })).autoApprove, true);
});
