import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { DomainError } from '../src/errors.ts';
import { createServer, service, type GrpcServerHandle } from '../src/grpc/server.ts';
import { closeClient, createClient, unary } from '../src/grpc/client.ts';
import { HealthClient, ServingStatus } from '../src/grpc/health.ts';
import { EchoClient, EchoService } from './fixtures/echo.ts';

let dir: string;
let srv: GrpcServerHandle;
const pem = (n: string) => readFileSync(join(dir, n), 'utf8');

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}
function makeCa(name: string): void {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-subj', `/CN=${name}`, '-days', '1');
}
function makeCert(name: string, cn: string, ca: string, san?: string): void {
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, san ? `subjectAltName=${san}\n` : 'basicConstraints=CA:FALSE\n');
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', ext);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cosigner-mtls-'));
  makeCa('ca');
  makeCa('rogue');
  makeCert('server', 'localhost', 'ca', 'DNS:localhost,IP:127.0.0.1');
  makeCert('cli', 'cosigner-cli', 'ca');
  makeCert('other', 'someone-else', 'ca');
  makeCert('evil', 'cosigner-cli', 'rogue');
  srv = await createServer({
    port: 0, host: '127.0.0.1',
    auth: { tls: { certPem: pem('server.crt'), keyPem: pem('server.key'), caPem: pem('ca.crt'), requireClientCert: true, allowedSubjects: ['cosigner-cli'] } },
    services: [service(EchoService, {
      echo: async (r, ctx) => ({ text: `${r.text} ${ctx.principal.kind}:${ctx.principal.id}` }),
      boom: async () => ({ text: '' }), slow: async () => ({ text: '' }), count: async function* () { /* none */ },
    })],
  });
  srv.setServing();
});
after(async () => {
  await srv?.stop(1000);
  rmSync(dir, { recursive: true, force: true });
});

const tlsFor = (name?: string, ca = 'ca') => ({
  caPem: pem(`${ca}.crt`),
  ...(name ? { certPem: pem(`${name}.crt`), keyPem: pem(`${name}.key`) } : {}),
});

test('mTLS: an allowed client certificate passes admin auth, health works with it', async () => {
  const c = createClient(EchoClient, `localhost:${srv.port}`, { tls: tlsFor('cli') });
  const h = createClient(HealthClient, `localhost:${srv.port}`, { tls: tlsFor('cli') });
  try {
    assert.equal((await unary(c, 'echo', { text: 'hi' })).text, 'hi mtls:cosigner-cli');
    assert.equal((await unary(h, 'check', { service: '' })).status, ServingStatus.SERVING);
  } finally {
    closeClient(c);
    closeClient(h);
  }
});

test('mTLS: no certificate, a rogue CA certificate or a non-allowed subject are refused', async () => {
  const cases: [string, ReturnType<typeof tlsFor>, number[]][] = [
    ['no cert', tlsFor(), [GrpcStatus.UNAVAILABLE]],
    ['rogue CA', tlsFor('evil'), [GrpcStatus.UNAVAILABLE]],
    ['other subject', tlsFor('other'), [GrpcStatus.PERMISSION_DENIED]],
  ];
  for (const [name, tls, want] of cases) {
    const c = createClient(EchoClient, `localhost:${srv.port}`, { tls, defaultDeadlineMs: 3000 });
    try {
      await assert.rejects(unary(c, 'echo', { text: 'hi' }), (e: DomainError) => {
        assert.ok(want.includes(e.grpcStatus), `${name}: got ${e.grpcStatus} ${e.message}`);
        return true;
      }, name);
    } finally {
      closeClient(c);
    }
  }
});
