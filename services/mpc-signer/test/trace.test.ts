/**
 * One trace covers signing (DESIGN.md "The life of a request"): the trace context carried by
 * `RequestApproved` continues through the signer's consumer span, the MPC session it
 * coordinates, each cloud party's part of that session (three processes exporting over
 * OTLP/HTTP to a receiver in this test), and the `RequestSigned` it publishes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { headers as natsHeaders } from '@nats-io/nats-core';
import type { KeyInfo } from '@cosigner/proto';
import { approvedEvent } from '../../../packages/party/test/helpers.ts';
import { startSystem } from './system.ts';

interface SeenSpan { service: string; name: string; traceId: string; attributes: Record<string, unknown> }

/** OTLP/HTTP JSON ids are hex; accept base64 too (the protobuf-JSON mapping). */
function hexId(v: unknown): string {
  const s = String(v ?? '');
  return /^[0-9a-f]+$/i.test(s) ? s.toLowerCase() : Buffer.from(s, 'base64').toString('hex');
}

function attrValue(v: { stringValue?: string; intValue?: string | number; boolValue?: boolean } | undefined): unknown {
  return v?.stringValue ?? v?.intValue ?? v?.boolValue;
}

test('the approved message\'s trace continues through the signer, every party\'s MPC session and the signed event', async (t) => {
  const spans: SeenSpan[] = [];
  const bodies: string[] = [];
  const http = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => {
      bodies.push(body);
      try {
        const doc = JSON.parse(body) as { resourceSpans?: { resource?: { attributes?: { key: string; value: { stringValue?: string } }[] }; scopeSpans?: { spans?: { name: string; traceId: string; attributes?: { key: string; value: object }[] }[] }[] }[] };
        for (const rs of doc.resourceSpans ?? []) {
          const service = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
          for (const ss of rs.scopeSpans ?? []) {
            for (const sp of ss.spans ?? []) {
              spans.push({ service, name: sp.name, traceId: hexId(sp.traceId), attributes: Object.fromEntries((sp.attributes ?? []).map((a) => [a.key, attrValue(a.value)])) });
            }
          }
        }
      } catch {
        // not JSON: counted in bodies, asserted below
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  t.after(() => http.close());
  const port = (http.address() as { port: number }).port;

  const s = await startSystem({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_BSP_SCHEDULE_DELAY: '100' } });
  t.after(() => s.stop());
  const key = await s.call<KeyInfo>('createKey', { workspaceId: 'ws1', algorithm: 'EDDSA_ED25519', threshold: 0, keyId: '' });

  const traceId = randomBytes(16).toString('hex');
  const id = 'req-traced';
  const ev = approvedEvent({ key: s.ak.privateKey, requestId: id, workspaceId: 'ws1', entries: [{ keyId: key.keyId, path: [44, 501, 0, 0, 0], payload: Buffer.from('traced'), algorithm: 'EDDSA_ED25519' }] });
  const h = natsHeaders();
  h.set('traceparent', `00-${traceId}-${randomBytes(8).toString('hex')}-01`);
  const signed = new Promise<string>((resolve) => {
    const sub = s.nc.subscribe(`cosigner.requests.signed.${id}`, { callback: (_e, m) => { sub.unsubscribe(); resolve(m.headers?.get('traceparent') ?? ''); } });
  });
  await s.js.publish(`cosigner.requests.approved.${id}`, ev.bytes, { msgID: `${id}:approved`, headers: h });

  // The signed event continues the same trace.
  const tp = await signed;
  assert.match(tp, new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));

  // Every party exported its part of the session under that trace id.
  const want = [
    ['mpc-signer', `consume cosigner.requests.approved.${id}`],
    ['mpc-signer', 'sign entry'],
    ['mpc-signer', 'mpc SIGN'],
    ['mpc-signer', `publish cosigner.requests.signed.${id}`],
    ['cloud-1', 'mpc SIGN join'],
    ['cloud-2', 'mpc SIGN join'],
  ] as const;
  const missing = () => want.filter(([svc, name]) => !spans.some((x) => x.service === svc && x.name === name && x.traceId === traceId));
  for (let i = 0; i < 200 && missing().length > 0; i++) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(missing(), [], `spans seen: ${JSON.stringify(spans.map((x) => [x.service, x.name, x.traceId === traceId]))}; bodies ${bodies.length}`);

  // The session spans say what the session was about, and nothing secret rides along.
  const join = spans.find((x) => x.service === 'cloud-1' && x.name === 'mpc SIGN join' && x.traceId === traceId)!;
  assert.equal(join.attributes['cosigner.request_id'], id);
  assert.equal(join.attributes['cosigner.key_id'], key.keyId);
  const text = bodies.join('\n');
  assert.ok(!text.includes(Buffer.from('traced').toString('base64')), 'payloads are not exported');
});
