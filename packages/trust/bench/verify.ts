/**
 * Throughput of `Trust.verify` (ES256 and EdDSA, inline keys, and a platform entry served from
 * the cache). Run: node packages/trust/bench/verify.ts [iterations]
 */
import * as jose from 'jose';
import { createTrust, parseTrustConfig } from '../src/index.ts';

const N = Number(process.argv[2] ?? 2000);
const now = Math.floor(Date.now() / 1000);

async function bench(label: string, alg: 'ES256' | 'EdDSA', platform: boolean): Promise<void> {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await jose.exportJWK(publicKey)), kid: 'k' };
  const iss = 'cosigner-sim/ws-bench';
  const trust = platform
    ? createTrust(parseTrustConfig([{ platform: 'bench:1', issuerPrefix: 'cosigner-sim/' }]), { fetchKeys: async () => ({ issuer: iss, jwksJson: JSON.stringify({ keys: [jwk] }) }) })
    : createTrust(parseTrustConfig([{ issuer: iss, jwks: { keys: [jwk] } }]));
  const token = await new jose.SignJWT({ reqHash: 'x' }).setProtectedHeader({ alg, kid: 'k' }).setIssuer(iss).setSubject('u').setAudience('cosigner-intake')
    .setIssuedAt(now).setExpirationTime(now + 30).setJti('j').sign(privateKey);
  await trust.verify(token, { audience: 'cosigner-intake', maxLifetimeS: 30 });
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await trust.verify(token, { audience: 'cosigner-intake', maxLifetimeS: 30 });
  const ms = performance.now() - t0;
  console.log(`${label.padEnd(28)} ${(N / (ms / 1000)).toFixed(0).padStart(7)} verifies/s  ${((ms * 1000) / N).toFixed(1)} µs each`);
  trust.close();
}

await bench('ES256 inline issuer', 'ES256', false);
await bench('EdDSA inline issuer', 'EdDSA', false);
await bench('ES256 platform (cached)', 'ES256', true);
