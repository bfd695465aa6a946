/**
 * Pairing latency: N API users paired one after another, then N concurrently, against a real
 * nats-server, the workspace simulator and the pairing service (in process, gRPC between them).
 * Run: node services/pairing/bench/pair.ts [N]
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, closeClient, createLogger, unary } from '@cosigner/platform';
import { startNats } from '@cosigner/platform/testing';
import { PairingServiceClient } from '@cosigner/proto';
import { parseTrustConfig } from '@cosigner/trust';
import { startWorkspace } from '@cosigner/cloud-cosigner-sim';
import { startPairing } from '../src/index.ts';

const N = Number(process.argv[2] ?? 50);
const TOKEN = 'bench';
const dir = await mkdtemp(join(tmpdir(), 'pair-bench-'));
await writeFile(join(dir, 'cb.pem'), generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
const nats = await startNats({ ignoreEnv: true });
const sim = await startWorkspace({ natsUrl: nats.url, port: 0, adminTokens: [TOKEN], dataDir: join(dir, 'sim'), intakeUrl: '127.0.0.1:1', log: createLogger({ service: 'workspace-sim', level: 'warn' }) });
const pairing = await startPairing({ natsUrl: nats.url, port: 0, adminTokens: [TOKEN], trust: parseTrustConfig([{ platform: sim.address, issuerPrefix: 'cosigner-sim/' }]), callbackKeyFile: join(dir, 'cb.pem'), dataDir: join(dir, 'p'), log: createLogger({ service: 'pairing', level: 'warn' }) });
const client = createClient(PairingServiceClient, pairing.address, { token: TOKEN });
try {
  const ws = await sim.workspaces.createWorkspace('bench');
  const tokens = async (n: number) => Promise.all(Array.from({ length: n }, async () => {
    const u = await sim.workspaces.createApiUser(ws.workspaceId, '');
    return (await sim.workspaces.issuePairingToken(u.apiUserId)).token;
  }));
  const seq = await tokens(N);
  let t0 = performance.now();
  for (const token of seq) await unary(client, 'pair', { token, autoApprove: true });
  const seqMs = performance.now() - t0;
  const par = await tokens(N);
  t0 = performance.now();
  await Promise.all(par.map((token) => unary(client, 'pair', { token, autoApprove: true })));
  const parMs = performance.now() - t0;
  console.log(`pair, sequential: ${(seqMs / N).toFixed(1)} ms each (${N} pairs)`);
  console.log(`pair, ${N} concurrent: ${parMs.toFixed(0)} ms total, ${(N / (parMs / 1000)).toFixed(0)} pairs/s`);
} finally {
  closeClient(client);
  await pairing.stop();
  await sim.stop();
  await nats.stop();
  await rm(dir, { recursive: true, force: true });
}
