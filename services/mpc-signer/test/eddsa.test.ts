/** EdDSA end to end with three party processes and a real nats-server. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { RequestFailed, RequestSigned, type KeyInfo } from '@cosigner/proto';
import { approvedEvent } from '../../../packages/party/test/helpers.ts';
import { startSystem } from './system.ts';

async function waitEvent(s: Awaited<ReturnType<typeof startSystem>>, id: string, timeoutMs = 30_000): Promise<{ kind: 'signed' | 'failed'; data: Uint8Array }> {
  const end = Date.now() + timeoutMs;
  const jsm = await s.js.jetstreamManager();
  while (Date.now() < end) {
    for (const kind of ['signed', 'failed'] as const) {
      try {
        const m = await jsm.streams.getMessage('COSIGNER_REQUESTS', { last_by_subj: `cosigner.requests.${kind}.${id}` });
        if (m) return { kind, data: m.data };
      } catch { /* not yet */ }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no terminal event for ${id}`);
}

test('EdDSA: create key over gRPC, sign 100 approved requests across several paths (noble + OpenSSL), forged approval signs nothing', async (t) => {
  const s = await startSystem();
  t.after(() => s.stop());
  const key = await s.call<KeyInfo>('createKey', { workspaceId: 'ws1', algorithm: 'EDDSA_ED25519', threshold: 0, keyId: '' });
  assert.equal(key.publicKey.length, 32);
  assert.equal(key.chainCode.length, 32);

  const N = 100;
  const ids: string[] = [];
  const msgs: Uint8Array[] = [];
  for (let i = 0; i < N; i++) {
    const id = `req-ed-${i}`;
    const msg = new TextEncoder().encode(`message ${i}`);
    const ev = approvedEvent({ key: s.ak.privateKey, requestId: id, workspaceId: 'ws1', entries: [{ keyId: key.keyId, path: [44, 501, i % 3, 0, i], payload: Buffer.from(msg), algorithm: 'EDDSA_ED25519' }] });
    await s.js.publish(`cosigner.requests.approved.${id}`, ev.bytes, { msgID: `${id}:approved` });
    ids.push(id);
    msgs.push(msg);
  }
  for (let i = 0; i < N; i++) {
    const ev = await waitEvent(s, ids[i]!);
    assert.equal(ev.kind, 'signed', ev.kind === 'failed' ? RequestFailed.decode(ev.data).reason : '');
    const signed = RequestSigned.decode(ev.data);
    const sig = signed.signatures[0]!;
    const pk = await s.call<{ publicKey: Buffer }>('getPublicKey', { keyId: key.keyId, path: [44, 501, i % 3, 0, i] });
    assert.deepEqual(Buffer.from(sig.publicKey), Buffer.from(pk.publicKey));
    assert.ok(ed25519.verify(sig.signature, msgs[i]!, pk.publicKey));
    const spki = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pk.publicKey).toString('base64url') }, format: 'jwk' });
    assert.ok(nodeVerify(null, msgs[i]!, spki, sig.signature));
  }

  // A forged approval (signed by another key) produces nothing.
  const { approvalKeys } = await import('../../../packages/party/test/helpers.ts');
  const forged = approvedEvent({ key: approvalKeys().privateKey, requestId: 'req-forged', workspaceId: 'ws1', entries: [{ keyId: key.keyId, path: [], payload: Buffer.from('x') }] });
  await s.js.publish('cosigner.requests.approved.req-forged', forged.bytes, { msgID: 'req-forged:approved' });
  // A request for the key from another workspace fails.
  const other = approvedEvent({ key: s.ak.privateKey, requestId: 'req-ws2', workspaceId: 'ws2', entries: [{ keyId: key.keyId, path: [], payload: Buffer.from('x') }] });
  await s.js.publish('cosigner.requests.approved.req-ws2', other.bytes, { msgID: 'req-ws2:approved' });
  const f = await waitEvent(s, 'req-ws2');
  assert.equal(f.kind, 'failed');
  assert.equal(RequestFailed.decode(f.data).code, 'ERR_WRONG_WORKSPACE');
  await assert.rejects(waitEvent(s, 'req-forged', 1500));

  const list = await s.call<{ keys: KeyInfo[] }>('listKeys', { workspaceId: '' });
  assert.equal(list.keys.length, 1);
  await assert.rejects(s.call('createKey', { workspaceId: '', algorithm: 'EDDSA_ED25519', threshold: 0, keyId: '' }), /workspace_id/);
});
