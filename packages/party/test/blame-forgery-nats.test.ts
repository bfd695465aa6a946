/**
 * Adversarial review of issue 19 (attack-frost), over NATS with real parties: a session member
 * that publishes a failure outcome naming an honest party (a timeout or refusal, which carries no
 * evidence) while it keeps taking part must not get that party blamed, neither by the session
 * runner of any party nor by the coordinator's wait for every party's outcome after its own run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { startNats } from '@cosigner/platform/testing';
import { PartyNode, SoftwareEnclaveProvider, schemeFor, DEFAULT_PARTIES, type PartyError } from '../src/index.ts';
import { approvalKeys, testTrust } from './helpers.ts';

for (const code of ['ERR_SESSION_TIMEOUT', 'ERR_APPROVAL_INVALID']) {
  test(`FROST keygen: a member's ${code} outcome naming an honest party blames nobody it names`, async (t) => {
    const nats = await startNats();
    t.after(() => nats.stop());
    const ak = approvalKeys();
    const conns = await Promise.all(DEFAULT_PARTIES.map(() => connect({ servers: nats.url })));
    t.after(async () => { for (const c of conns) await c.close(); });
    const failures: { party: string; culprits: string[] }[] = [];
    const nodes = await Promise.all(DEFAULT_PARTIES.map((p, i) => PartyNode.start({
      nc: conns[i]!, partyId: p.id, index: p.index, dataDir: mkdtempSync(join(tmpdir(), 'cosigner-blame-')), provider: new SoftwareEnclaveProvider(randomBytes(32)),
      approvalKey: ak.publicKey, trust: testTrust(), allowTofu: true, scheme: schemeFor, roundTimeoutMs: 20_000,
      log: (_level, msg, fields) => { if (msg === 'session failed') failures.push({ party: p.id, culprits: [...((fields?.culprits as string[] | undefined) ?? [])] }); },
    })));
    t.after(async () => { for (const n of nodes) await n.stop(); });
    const [customer, , cloud2] = nodes;
    // cloud-2 (the cheater) accuses cloud-1 as soon as the session's first message reaches it,
    // then goes on with the protocol as if nothing happened.
    const tr = cloud2!.transport;
    const register = tr.register.bind(tr);
    let lied = false;
    tr.register = (sessionId, handler) => register(sessionId, (e) => {
      if (!lied && e.kind === 'message') {
        lied = true;
        tr.publishOutcome({
          sessionId: Buffer.from(sessionId), partyId: tr.self, ok: false, code, reason: 'cloud-1 never sent (a lie)', culprits: ['cloud-1'],
          result: Buffer.alloc(0), evidence: Buffer.alloc(0),
        }, 'KEYGEN', 'k_lie');
      }
      handler(e);
    });
    const base = { keyId: 'k_lie', parties: DEFAULT_PARTIES.map((p) => p.id), workspaceId: 'ws1', algorithm: 'EDDSA_ED25519' as const, threshold: 2, entryIndex: 0, epoch: 0, presignatureId: Buffer.alloc(0), requestId: '' };
    let blamed: string[] = [];
    try {
      await customer!.coordinate({ ...base, kind: 'KEYGEN', context: Buffer.alloc(0), count: 0 });
    } catch (e) {
      blamed = [...(e as PartyError).culprits];
    }
    assert.ok(lied, 'the cheater lied');
    assert.ok(!blamed.includes('cloud-1'), `the coordinator blamed honest cloud-1: ${blamed.join(',')}`);
    for (const f of failures) assert.ok(!f.culprits.includes('cloud-1'), `${f.party} blamed honest cloud-1`);
  });
}
