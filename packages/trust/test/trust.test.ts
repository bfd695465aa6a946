import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as jose from 'jose';
import { createTrust, parseTrustConfig, TrustError, type KeysFetcher } from '../src/index.ts';

const NOW = 1_800_000_000_000;
const now = (): number => NOW;
const ISS = 'cosigner-sim/ws1';

async function keyPair(alg: 'ES256' | 'EdDSA', kid: string) {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const jwk = { ...(await jose.exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { privateKey, publicKey, jwk };
}

const es = await keyPair('ES256', 'k1');
const ed = await keyPair('EdDSA', 'k2');
const other = await keyPair('ES256', 'k1');

interface Claims { [k: string]: unknown }
function base(over: Claims = {}): Claims {
  const iat = Math.floor(NOW / 1000);
  return { iss: ISS, sub: 'u1', aud: 'cosigner-pairing', iat, nbf: iat, exp: iat + 3600, jti: 'j1', ...over };
}

async function sign(claims: Claims, key = es.privateKey, header: jose.JWTHeaderParameters = { alg: 'ES256', kid: 'k1' }): Promise<string> {
  const payload = Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined));
  return new jose.SignJWT(payload as jose.JWTPayload).setProtectedHeader(header).sign(key);
}

function b64(o: unknown): string {
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}

const config = parseTrustConfig(JSON.stringify([{ issuer: ISS, jwks: { keys: [es.jwk, ed.jwk] } }]));
const trust = createTrust(config, { now, fetchKeys: async () => { throw new Error('no platform'); } });
const opts = { audience: 'cosigner-pairing', maxLifetimeS: 3600 };

test('accepts a valid ES256 and EdDSA token', async () => {
  const v = await trust.verify(await sign(base()), opts);
  assert.equal(v.workspaceId, 'ws1');
  assert.equal(v.apiUserId, 'u1');
  assert.equal(v.claims.jti, 'j1');
  const v2 = await trust.verify(await sign(base(), ed.privateKey, { alg: 'EdDSA', kid: 'k2' }), opts);
  assert.equal(v2.apiUserId, 'u1');
});

test('accepts clock skew inside the tolerance', async () => {
  const iat = Math.floor(NOW / 1000);
  await trust.verify(await sign(base({ exp: iat - 10, iat: iat - 3000, nbf: iat - 3000 })), opts);
  await trust.verify(await sign(base({ nbf: iat + 20 })), opts);
});

const hsWithPublicKey = async (): Promise<string> => {
  const secret = new TextEncoder().encode(JSON.stringify(es.jwk));
  return new jose.SignJWT(base() as jose.JWTPayload).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(secret);
};

const cases: Array<[string, () => Promise<string>, string, Partial<typeof opts>?]> = [
  ['alg none', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(base())}.`, 'ERR_TOKEN_ALG'],
  ['HS256 keyed with the public key', hsWithPublicKey, 'ERR_TOKEN_ALG'],
  ['RS256', async () => {
    const rsa = await jose.generateKeyPair('RS256');
    return new jose.SignJWT(base() as jose.JWTPayload).setProtectedHeader({ alg: 'RS256' }).sign(rsa.privateKey);
  }, 'ERR_TOKEN_ALG'],
  ['wrong signing key', () => sign(base(), other.privateKey), 'ERR_TOKEN_SIGNATURE'],
  ['tampered payload', async () => {
    const t = await sign(base());
    const [h, , s] = t.split('.');
    return `${h}.${b64(base({ sub: 'u2' }))}.${s}`;
  }, 'ERR_TOKEN_SIGNATURE'],
  ['unknown kid', () => sign(base(), es.privateKey, { alg: 'ES256', kid: 'nope' }), 'ERR_TOKEN_SIGNATURE'],
  ['untrusted issuer', () => sign(base({ iss: 'cosigner-sim/evil' })), 'ERR_WORKSPACE_UNTRUSTED'],
  ['no issuer', () => sign(base({ iss: undefined })), 'ERR_TOKEN_ISSUER'],
  ['wrong audience', () => sign(base({ aud: 'cosigner-intake' })), 'ERR_TOKEN_AUDIENCE'],
  ['expired', () => sign(base({ exp: Math.floor(NOW / 1000) - 31, iat: Math.floor(NOW / 1000) - 3000 })), 'ERR_TOKEN_EXPIRED'],
  ['not yet valid', () => sign(base({ nbf: Math.floor(NOW / 1000) + 31 })), 'ERR_TOKEN_NOT_YET_VALID'],
  ['issued in the future', () => sign(base({ iat: Math.floor(NOW / 1000) + 300, nbf: undefined, exp: Math.floor(NOW / 1000) + 600 })), 'ERR_TOKEN_NOT_YET_VALID'],
  ['missing jti', () => sign(base({ jti: undefined })), 'ERR_TOKEN_MALFORMED'],
  ['missing sub', () => sign(base({ sub: undefined })), 'ERR_TOKEN_MALFORMED'],
  ['missing exp', () => sign(base({ exp: undefined })), 'ERR_TOKEN_MALFORMED'],
  ['lifetime too long', () => sign(base({ exp: Math.floor(NOW / 1000) + 7200 })), 'ERR_TOKEN_MALFORMED'],
  ['submission lifetime over 30 s', () => sign(base({ aud: 'cosigner-intake', exp: Math.floor(NOW / 1000) + 60 })), 'ERR_TOKEN_MALFORMED', { audience: 'cosigner-intake', maxLifetimeS: 30 }],
  ['garbage', async () => 'not.a.jwt', 'ERR_TOKEN_MALFORMED'],
  ['empty', async () => '', 'ERR_TOKEN_MALFORMED'],
  ['two parts', async () => `${b64({ alg: 'ES256' })}.${b64(base())}`, 'ERR_TOKEN_MALFORMED'],
  ['crit header', async () => `${b64({ alg: 'ES256', kid: 'k1', crit: ['x'], x: 1 })}.${b64(base())}.AAAA`, 'ERR_TOKEN_MALFORMED'],
  ['huge', async () => 'a'.repeat(10_000), 'ERR_TOKEN_MALFORMED'],
];

for (const [name, make, code, o] of cases) {
  test(`refuses: ${name} -> ${code}`, async () => {
    const token = await make();
    await assert.rejects(trust.verify(token, { ...opts, ...(o ?? {}) }), (e: unknown) => {
      assert.ok(e instanceof TrustError, String(e));
      assert.equal(e.code, code, e.message);
      assert.ok(!e.message.includes(token.slice(0, 20)) || token.length < 20, 'message must not echo the token');
      return true;
    });
  });
}

test('parseTrustConfig refuses malformed configuration', () => {
  const bad: unknown[] = [
    '{', '{}', '[1]', '[{}]', '[{"issuer": "a"}]', '[{"issuer": "a", "jwks": {"keys": []}}]',
    JSON.stringify([{ issuer: 'a', jwks: { keys: [{ ...es.jwk, d: 'x' }] } }]),
    JSON.stringify([{ issuer: 'a', jwks: { keys: [{ kty: 'oct', k: 'abc' }] } }]),
    JSON.stringify([{ issuer: 'a', jwks: { keys: [es.jwk] } }, { issuer: 'a', jwks: { keys: [es.jwk] } }]),
    '[{"platform": "nohost", "issuerPrefix": "x/"}]',
    '[{"platform": "h:1", "issuerPrefix": ""}]',
    '[{"platform": "h:1", "issuerPrefix": "x/"}, {"platform": "h:2", "issuerPrefix": "x/y"}]',
  ];
  for (const b of bad) assert.throws(() => parseTrustConfig(b), (e: unknown) => e instanceof TrustError && e.code === 'ERR_TRUST_CONFIG', String(b));
  assert.deepEqual(parseTrustConfig('').entries, []);
  assert.throws(() => parseTrustConfig('[{"platform": "h:1", "issuerPrefix": "x/", "tls": "yes"}]'), (e: unknown) => e instanceof TrustError && e.code === 'ERR_TRUST_CONFIG');
  const tls = parseTrustConfig('[{"platform": "h:1", "issuerPrefix": "x/", "tls": {"caFile": "/ca.pem", "serverName": "ws.example"}}, {"platform": "h:2", "issuerPrefix": "y/", "tls": true}]');
  assert.deepEqual(tls.entries[0], { kind: 'platform', platform: 'h:1', issuerPrefix: 'x/', tls: { caFile: '/ca.pem', serverName: 'ws.example' } });
  assert.deepEqual(tls.entries[1], { kind: 'platform', platform: 'h:2', issuerPrefix: 'y/', tls: {} });
  assert.equal(parseTrustConfig('[{"platform": "127.0.0.1:50054", "issuerPrefix": "cosigner-sim/"}]').entries.length, 1);
});

test('trust entries mapping one workspace id twice are refused at start (issue 15 item 5)', async () => {
  const dup = JSON.stringify([{ issuer: 'a', workspaceId: 'ws1', jwks: { keys: [es.jwk] } }, { issuer: 'b', workspaceId: 'ws1', jwks: { keys: [ed.jwk] } }]);
  assert.throws(() => parseTrustConfig(dup), (e: unknown) => e instanceof TrustError && e.code === 'ERR_TRUST_CONFIG' && /workspace id ws1/.test(e.message));
  // Same id by default (issuer suffix) and explicitly.
  const dup2 = JSON.stringify([{ issuer: 'x/ws1', jwks: { keys: [es.jwk] } }, { issuer: 'y', workspaceId: 'ws1', jwks: { keys: [ed.jwk] } }]);
  assert.throws(() => parseTrustConfig(dup2), (e: unknown) => e instanceof TrustError && e.code === 'ERR_TRUST_CONFIG');
  // An inline issuer that a platform prefix also covers.
  const covered = JSON.stringify([{ platform: 'h:1', issuerPrefix: 'cosigner-sim/' }, { issuer: 'cosigner-sim/ws1', jwks: { keys: [es.jwk] } }]);
  assert.throws(() => parseTrustConfig(covered), (e: unknown) => e instanceof TrustError && e.code === 'ERR_TRUST_CONFIG');
  // A platform-derived id equal to an inline entry's workspace id is not trusted through the platform.
  let calls = 0;
  const fetchKeys: KeysFetcher = async (_p, workspaceId) => {
    calls++;
    return { issuer: `cosigner-sim/${workspaceId}`, jwksJson: JSON.stringify({ keys: [es.jwk] }) };
  };
  const t = createTrust(parseTrustConfig(JSON.stringify([{ platform: '127.0.0.1:50054', issuerPrefix: 'cosigner-sim/' }, { issuer: 'inline-issuer', workspaceId: 'wsX', jwks: { keys: [es.jwk] } }])), { now: () => NOW, fetchKeys });
  assert.equal(t.isTrustedIssuer('cosigner-sim/wsX'), false);
  await assert.rejects(t.verify(await sign(base({ iss: 'cosigner-sim/wsX' })), opts), (e: unknown) => e instanceof TrustError && e.code === 'ERR_WORKSPACE_UNTRUSTED');
  assert.equal(calls, 0);
});

test('platform entries: fetch, cache, refetch on unknown kid with a rate limit', async () => {
  let clock = NOW;
  let calls = 0;
  let keys = [es.jwk];
  const fetchKeys: KeysFetcher = async (platform, workspaceId) => {
    calls++;
    assert.equal(platform, '127.0.0.1:50054');
    if (workspaceId !== 'ws1') throw new TrustError('ERR_WORKSPACE_UNTRUSTED', 'unknown');
    return { issuer: `cosigner-sim/${workspaceId}`, jwksJson: JSON.stringify({ keys }) };
  };
  const t = createTrust(parseTrustConfig('[{"platform": "127.0.0.1:50054", "issuerPrefix": "cosigner-sim/"}]'), { now: () => clock, fetchKeys, refetchMinIntervalMs: 10_000 });
  assert.equal(t.isTrustedIssuer('cosigner-sim/ws1'), true);
  assert.equal(t.isTrustedIssuer('other/ws1'), false);
  const tok = await sign(base());
  await Promise.all([t.verify(tok, opts), t.verify(tok, opts)]);
  assert.equal(calls, 1);
  // Key rotation: a token with a new kid right after a fetch is refused (rate limit) ...
  keys = [es.jwk, { ...other.jwk, kid: 'k9' }];
  const rotated = await sign(base(), other.privateKey, { alg: 'ES256', kid: 'k9' });
  await assert.rejects(t.verify(rotated, opts), (e: unknown) => e instanceof TrustError && e.code === 'ERR_TOKEN_SIGNATURE');
  assert.equal(calls, 1);
  // ... and accepted once the window has passed (one refetch).
  clock += 11_000;
  await t.verify(rotated, opts);
  assert.equal(calls, 2);
  await assert.rejects(t.verify(await sign(base({ iss: 'cosigner-sim/ws2' })), opts), (e: unknown) => e instanceof TrustError && e.code === 'ERR_WORKSPACE_UNTRUSTED');
  assert.equal(calls, 3);
  // An issuer the platform does not know is not asked about again for a while.
  await assert.rejects(t.verify(await sign(base({ iss: 'cosigner-sim/ws2' })), opts), (e: unknown) => e instanceof TrustError && e.code === 'ERR_WORKSPACE_UNTRUSTED');
  assert.equal(calls, 3);
  clock += 31_000;
  await assert.rejects(t.verify(await sign(base({ iss: 'cosigner-sim/ws2' })), opts), (e: unknown) => e instanceof TrustError && e.code === 'ERR_WORKSPACE_UNTRUSTED');
  assert.equal(calls, 4);
  await assert.rejects(t.verify(await sign(base({ iss: 'cosigner-sim/../x' })), opts), (e: unknown) => e instanceof TrustError && e.code === 'ERR_WORKSPACE_UNTRUSTED');
});
