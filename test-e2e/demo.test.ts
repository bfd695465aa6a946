/**
 * End to end: nats-server and every service as real processes (the same supervisor `cosigner up`
 * uses), driven only through the public gRPC contracts. A workspace pairs an API user, a
 * secp256k1 key is made by DKG among the three parties, a real EIP-1559 transfer is approved
 * (by the example callback handler) and signed; the signed transaction's sender, recovered independently
 * with viem, is the key's derived address.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTransaction, recoverTransactionAddress } from 'viem';
import { credentials, Metadata } from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import { HealthClient } from '../proto/gen/grpc/health/v1/health.ts';
import { freePort } from '@cosigner/platform/testing';
import { startSystem } from '../packages/cli/src/system.ts';
import { connectNats } from '../packages/platform/src/index.ts';
import { cliNatsOptions } from '../packages/cli/src/nats.ts';
import { runDemo, DEMO_DESTINATION } from '../packages/cli/src/demo.ts';


test('demo transfer: paired, DKG key, approved, signed; sender recovered independently', { timeout: 600_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cosigner-e2e-'));
  const lines: string[] = [];
  const cloudHealthPort = await freePort();
  const sys = await startSystem({
    dataDir,
    ports: { nats: await freePort(), pairing: await freePort(), intake: await freePort(), keys: await freePort(), workspace: await freePort() },
    onLine: (svc, line) => lines.push(`${svc} ${line}`),
    serviceEnv: { 'cloud-1': { HEALTH_PORT: String(cloudHealthPort) } },
  });
  try {
    for (const s of ['workspace-sim', 'pairing', 'intake', 'dispatcher', 'mpc-signer', 'cloud-1', 'cloud-2'])
      assert.ok(sys.services.has(s), `service ${s} is not part of the system yet`);
    // Orchestrators' probes: every service answers the standard health check.
    for (const addr of [sys.config.pairingUrl, sys.config.intakeUrl, sys.config.keysUrl, sys.config.workspaceUrl, `127.0.0.1:${cloudHealthPort}`]) {
      const hc = new HealthClient(addr, credentials.createInsecure());
      const status = await new Promise<string>((resolve, reject) =>
        hc.check({ service: '' }, new Metadata(), { deadline: Date.now() + 10_000 }, (err, r) => (err ? reject(err) : resolve(r.status))),
      );
      hc.close();
      assert.equal(status, 'SERVING', addr);
    }
    const res = await runDemo(sys.config, () => {}, 300_000);
    assert.equal(res.status, 'SIGNED', res.reason);
    const tx = parseTransaction(res.signedTx as `0x${string}`);
    assert.equal(tx.type, 'eip1559');
    assert.equal(tx.to?.toLowerCase(), DEMO_DESTINATION.toLowerCase());
    assert.equal(tx.value, 10n ** 16n);
    const sender = await recoverTransactionAddress({ serializedTransaction: res.signedTx as `0x02${string}` });
    assert.equal(sender.toLowerCase(), res.address.toLowerCase());
    assert.equal(res.from.toLowerCase(), res.address.toLowerCase());
    // One trace: the trace intake started is the one every later event carries (the dispatcher's
    // approval, the signer's signature after the MPC session).
    assert.match(res.traceId, /^[0-9a-f]{32}$/);
    // The closed bus: the CLI's own NATS user (it may read request events).
    const nc = await connectNats(cliNatsOptions(sys.config));
    try {
      const jsm = await jetstreamManager(nc);
      for (const ev of ['approved', 'signed']) {
        const m = await jsm.streams.getMessage('COSIGNER_REQUESTS', { last_by_subj: `cosigner.requests.${ev}.${res.requestId}` });
        assert.ok(m, `${ev} event stored`);
        assert.equal(m.header?.get('traceparent').split('-')[1], res.traceId, `${ev} continues the request's trace`);
      }
    } finally {
      await nc.close();
    }
    // No secret-looking material in any service's output.
    const leaked = lines.filter((l) => /BEGIN (RSA |EC )?PRIVATE KEY/.test(l));
    assert.deepEqual(leaked, []);
  } catch (e) {
    process.stderr.write(lines.slice(-80).join('\n') + '\n');
    throw e;
  } finally {
    await sys.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
