/**
 * A small `cosigner chaos`: a system on loopback, transfers through every handler behaviour on
 * ECDSA and EdDSA keys, a few kill -9s of random services, parties or nats-server; zero violations
 * of the system's promises (one terminal state each, one signature each, presignatures single-use,
 * signatures valid under independent libraries, no secret in a log).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChaos } from '../packages/cli/src/chaos.ts';

test('chaos: 30 requests, 4 kills, no violation', { timeout: 1_500_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cosigner-chaos-test-'));
  try {
    const r = await runChaos({ requests: 30, kills: 4, seconds: 1_200, concurrency: 4, dataDir, log: (l) => process.stderr.write(l + '\n') });
    process.stderr.write(JSON.stringify(r) + '\n');
    assert.deepEqual(r.violations, []);
    assert.ok(r.requests.accepted > 0, 'some requests were accepted');
    assert.ok(r.signatures.checked > 0, 'some signatures were checked');
    assert.equal(r.byBehaviour.reject?.SIGNED ?? 0, 0, 'a rejecting handler never leads to a signature');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
