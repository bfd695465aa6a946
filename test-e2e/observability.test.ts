/**
 * Observability end to end (issue 16): every service its own process, as `cosigner up` runs
 * them, each exporting traces over OTLP/HTTP to a receiver in this test and serving Prometheus
 * metrics on its own port. One demo transfer (workspace -> intake -> dispatcher -> the example
 * callback handler over HTTP -> signer -> both cloud parties -> signed), then:
 * - every service's /metrics is scraped and carries its metrics with the values this one request
 *   must have produced;
 * - the request is one trace whose span tree (parents, not only trace ids) runs from the
 *   workspace's gRPC call to the terminal event, with OpenTelemetry semantic conventions and the
 *   request id, API user and key id as attributes, and no secret anywhere in it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@cosigner/platform/testing';
import { startSystem, type RunningSystem } from '../packages/cli/src/system.ts';
import { runDemo, type DemoResult } from '../packages/cli/src/demo.ts';

const SERVICES = ['workspace-sim', 'pairing', 'intake', 'dispatcher', 'mpc-signer', 'cloud-1', 'cloud-2'] as const;

export interface Span {
  service: string;
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  attributes: Record<string, unknown>;
  status: number;
}

/** OTLP/HTTP JSON ids are hex; accept base64 too (the protobuf-JSON mapping). */
function hexId(v: unknown): string {
  const s = String(v ?? '');
  return /^[0-9a-f]*$/i.test(s) ? s.toLowerCase() : Buffer.from(s, 'base64').toString('hex');
}

function attrValue(v: Record<string, unknown> | undefined): unknown {
  if (!v) return undefined;
  if ('intValue' in v) return Number(v.intValue);
  return v.stringValue ?? v.boolValue ?? v.doubleValue;
}

/** An OTLP/HTTP (JSON) trace receiver: what Jaeger's collector port does, in this process. */
function startReceiver(spans: Span[], raw: string[]): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => {
      raw.push(body);
      try {
        const doc = JSON.parse(body) as { resourceSpans?: { resource?: { attributes?: { key: string; value: Record<string, unknown> }[] }; scopeSpans?: { spans?: Record<string, any>[] }[] }[] };
        for (const rs of doc.resourceSpans ?? []) {
          const service = String(attrValue(rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value) ?? '');
          for (const ss of rs.scopeSpans ?? []) {
            for (const sp of ss.spans ?? []) {
              spans.push({
                service, name: sp.name, kind: sp.kind ?? 0, traceId: hexId(sp.traceId), spanId: hexId(sp.spanId), parentSpanId: hexId(sp.parentSpanId),
                attributes: Object.fromEntries(((sp.attributes ?? []) as { key: string; value: Record<string, unknown> }[]).map((a) => [a.key, attrValue(a.value)])),
                status: sp.status?.code ?? 0,
              });
            }
          }
        }
      } catch {
        // not JSON: kept in raw, the test fails on it below
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port })));
}

const spans: Span[] = [];
const raw: string[] = [];
let receiver: { server: Server; port: number };
let sys: RunningSystem;
let dataDir: string;
let demo: DemoResult;
const metricsPorts: Record<string, number> = {};
const lines: string[] = [];

before(async () => {
  receiver = await startReceiver(spans, raw);
  dataDir = mkdtempSync(join(tmpdir(), 'cosigner-obs-'));
  try {
    sys = await startSystem({
    dataDir,
    ports: { nats: await freePort(), pairing: await freePort(), intake: await freePort(), keys: await freePort(), workspace: await freePort() },
    // Generous MPC round timeouts: the gate's machine is shared and a party may start slowly.
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port}`, OTEL_BSP_SCHEDULE_DELAY: '100', COSIGNER_ROUND_TIMEOUT_MS: '60000' },
    // Port 0: each service binds a free port itself and logs it in its ready line (no race with
    // other tests for a port picked here).
    serviceEnv: Object.fromEntries(SERVICES.map((s) => [s, { METRICS_PORT: '0' }])),
    onLine: (svc, line) => {
      lines.push(`${svc} ${line}`);
      const port = /"msg":"ready".*"metricsPort":(\d+)/.exec(line)?.[1];
      if (port) metricsPorts[svc] = Number(port);
    },
  });
  } catch (e) {
    throw new Error(`system did not start: ${(e as Error).message}\n${lines.slice(-30).join('\n')}`, { cause: e });
  }
  try {
    demo = await runDemo(sys.config, () => {}, 300_000);
  } catch (e) {
    // The services' own logs say why (kept for the failure message).
    throw new Error(`demo failed: ${(e as Error).message}\n${lines.filter((l) => /"level":"(warn|error)"/.test(l)).slice(-30).join('\n')}`, { cause: e });
  }
}, { timeout: 600_000 });

after(async () => {
  await sys?.stop();
  receiver?.server.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function scrape(service: string): Promise<string> {
  assert.ok(metricsPorts[service], `${service} logged no metrics port`);
  const res = await fetch(`http://127.0.0.1:${metricsPorts[service]}/metrics`);
  assert.equal(res.status, 200, service);
  return res.text();
}

/** The value of one series (labels given as `k="v"` pairs, in any order), or undefined. */
function value(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map([...(m[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) return Number(m[3]);
  }
  return undefined;
}

test('the demo transfer is signed', () => {
  assert.equal(demo.status, 'SIGNED', demo.reason);
});

test('every service serves Prometheus metrics, with what this request produced', async () => {
  const text: Record<string, string> = {};
  for (const s of SERVICES) text[s] = await scrape(s);
  for (const s of SERVICES) {
    assert.match(text[s]!, /^process_resident_memory_bytes \d+$/m, s);
    assert.match(text[s]!, /^# TYPE nodejs_eventloop_delay_seconds gauge$/m, s);
  }
  // intake: requests by kind and outcome, submissions, its projector's lag.
  const intake = text['intake']!;
  assert.ok(value(intake, 'cosigner_requests_total', { kind: 'TRANSACTION', outcome: 'RECEIVED' })! >= 1, intake);
  assert.ok(value(intake, 'cosigner_requests_total', { kind: 'TRANSACTION', outcome: 'SIGNED' })! >= 1);
  assert.ok(value(intake, 'cosigner_intake_submissions_total', { kind: 'TRANSACTION', result: 'admitted' })! >= 1);
  assert.equal(value(intake, 'cosigner_nats_consumer_pending', { stream: 'COSIGNER_REQUESTS' }) !== undefined, true, 'intake consumer lag');
  // dispatcher: the handler's answer and latency, per handler; its consumer's lag; audit failures declared.
  const d = text['dispatcher']!;
  const handler = new URL(demo.handlerUrl).origin;
  assert.equal(value(d, 'cosigner_callback_duration_seconds_count', { handler, outcome: 'APPROVE' }), 1, d);
  assert.ok(value(d, 'cosigner_callback_duration_seconds_sum', { handler, outcome: 'APPROVE' })! > 0);
  assert.equal(value(d, 'cosigner_callback_duration_seconds_bucket', { handler, outcome: 'APPROVE', le: '+Inf' }), 1);
  assert.match(d, /^# TYPE cosigner_audit_write_failures_total counter$/m);
  assert.equal(value(d, 'cosigner_nats_messages_total', { outcome: 'ack' })! >= 1, true);
  assert.ok(value(d, 'cosigner_nats_consumer_pending') !== undefined);
  // signer: signing latency per scheme, pool depth and production, aborts declared, its lag.
  const m = text['mpc-signer']!;
  assert.equal(value(m, 'cosigner_signing_duration_seconds_count', { scheme: 'ECDSA_SECP256K1' }), 1, m);
  assert.ok(value(m, 'cosigner_presign_produced_total')! >= 1);
  assert.ok(value(m, 'cosigner_presign_pool_ready') !== undefined);
  assert.match(m, /^# TYPE cosigner_mpc_aborts_total counter$/m);
  assert.ok(value(m, 'cosigner_nats_consumer_pending') !== undefined);
  assert.equal(value(m, 'cosigner_requests_signed_total'), 1);
  // cloud parties: their sessions' aborts are counted there too.
  for (const s of ['cloud-1', 'cloud-2']) assert.match(text[s]!, /^# TYPE cosigner_mpc_aborts_total counter$/m, s);
  assert.match(text['pairing']!, /^# TYPE cosigner_audit_write_failures_total counter$/m);
  // No secret and no request id in any label.
  for (const s of SERVICES) assert.doesNotMatch(text[s]!, new RegExp(demo.requestId), s);
});

const KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;

test('one trace per request: the whole span tree from the workspace\'s gRPC call to the terminal event', async () => {
  const id = demo.requestId;
  const want = (service: string, name: string, kind: number) => (s: Span) => s.service === service && s.name === name && s.kind === kind;
  const INTAKE_RPC = 'cosigner.v1.RequestIntakeService/SubmitTransaction';
  // Spans leave each process in batches: wait until the last ones of the tree are in.
  const deadline = Date.now() + 60_000;
  const last = [want('request-intake', `consume cosigner.requests.signed.${id}`, KIND.CONSUMER), want('cloud-2', 'mpc SIGN join', KIND.SERVER), want('cloud-1', 'mpc SIGN join', KIND.SERVER)];
  while (!last.every((f) => spans.some((s) => f(s) && (s.name !== 'mpc SIGN join' || s.attributes['cosigner.request_id'] === id)))) {
    assert.ok(Date.now() < deadline, `spans missing after 60 s; have: ${[...new Set(spans.map((s) => `${s.service}:${s.name}`))].join(', ')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.deepEqual(raw.filter((b) => { try { JSON.parse(b); return false; } catch { return true; } }), [], 'every export is OTLP/JSON');

  const root = spans.find((s) => want('workspace-sim', INTAKE_RPC, KIND.CLIENT)(s) && s.attributes['cosigner.request_id'] === id);
  assert.ok(root, 'the workspace\'s gRPC call to intake');
  const trace = spans.filter((s) => s.traceId === root.traceId);
  const one = (parent: Span, f: (s: Span) => boolean, what: string): Span => {
    const found = trace.filter((s) => f(s) && s.parentSpanId === parent.spanId);
    assert.equal(found.length, 1, `${what}: expected one child of ${parent.service}:${parent.name}, found ${found.length}; trace has ${trace.map((s) => `${s.service}:${s.name}<-${trace.find((p) => p.spanId === s.parentSpanId)?.name ?? 'root'}`).join(' | ')}`);
    return found[0]!;
  };
  const server = one(root, want('request-intake', INTAKE_RPC, KIND.SERVER), 'intake server');
  const received = one(server, want('request-intake', `publish cosigner.requests.received.${id}`, KIND.PRODUCER), 'publish received');
  const dispatch = one(received, want('callback-dispatcher', `consume cosigner.requests.received.${id}`, KIND.CONSUMER), 'dispatcher consume');
  one(received, want('request-intake', `consume cosigner.requests.received.${id}`, KIND.CONSUMER), 'projector consume');
  const post = one(dispatch, want('callback-dispatcher', 'POST', KIND.CLIENT), 'HTTP call to the handler');
  const approved = one(dispatch, want('callback-dispatcher', `publish cosigner.requests.approved.${id}`, KIND.PRODUCER), 'publish approved');
  const sign = one(approved, want('mpc-signer', `consume cosigner.requests.approved.${id}`, KIND.CONSUMER), 'signer consume');
  const entry = one(sign, want('mpc-signer', 'sign entry', KIND.INTERNAL), 'sign entry');
  const session = one(entry, want('mpc-signer', 'mpc SIGN', KIND.CLIENT), 'the customer\'s MPC session');
  const cloud1 = one(session, want('cloud-1', 'mpc SIGN join', KIND.SERVER), 'cloud-1 session');
  const cloud2 = one(session, want('cloud-2', 'mpc SIGN join', KIND.SERVER), 'cloud-2 session');
  const signed = one(sign, want('mpc-signer', `publish cosigner.requests.signed.${id}`, KIND.PRODUCER), 'publish signed (terminal event)');
  one(signed, want('request-intake', `consume cosigner.requests.signed.${id}`, KIND.CONSUMER), 'terminal event projected');

  // Semantic conventions: rpc, messaging, http.
  for (const s of [root, server]) {
    assert.equal(s.attributes['rpc.system'], 'grpc');
    assert.equal(s.attributes['rpc.service'], 'cosigner.v1.RequestIntakeService');
    assert.equal(s.attributes['rpc.method'], 'SubmitTransaction');
    assert.equal(s.attributes['rpc.grpc.status_code'], 0);
  }
  assert.equal(root.attributes['server.address'], '127.0.0.1');
  for (const s of [received, approved, signed]) {
    assert.equal(s.attributes['messaging.system'], 'nats');
    assert.equal(s.attributes['messaging.operation.type'], 'send');
    assert.match(String(s.attributes['messaging.destination.name']), new RegExp(`^cosigner\\.requests\\.\\w+\\.${id}$`));
    assert.match(String(s.attributes['messaging.message.id']), new RegExp(`^${id}:`));
  }
  for (const s of [dispatch, sign]) {
    assert.equal(s.attributes['messaging.operation.type'], 'process');
    assert.ok(s.attributes['messaging.consumer.group.name']);
  }
  assert.equal(post.attributes['http.request.method'], 'POST');
  assert.equal(post.attributes['http.response.status_code'], 200);
  assert.equal(post.attributes['server.address'], new URL(demo.handlerUrl).hostname);
  assert.equal(post.attributes['server.port'], Number(new URL(demo.handlerUrl).port));
  // The request id, API user and key id where they are known.
  const apiUser = String(root.attributes['cosigner.api_user']);
  assert.ok(apiUser.length > 0);
  for (const s of [root, server, dispatch, entry]) {
    assert.equal(s.attributes['cosigner.request_id'], id, `${s.service}:${s.name} request id`);
    assert.equal(s.attributes['cosigner.api_user'], apiUser, `${s.service}:${s.name} API user`);
  }
  for (const s of [root, server, entry, session, cloud1, cloud2]) assert.equal(s.attributes['cosigner.key_id'], demo.keyId, `${s.service}:${s.name} key id`);
  for (const s of [sign, session, cloud1, cloud2]) assert.equal(s.attributes['cosigner.request_id'], id, `${s.service}:${s.name} request id`);
  // Every span of the trace ended well.
  for (const s of trace) assert.notEqual(s.status, 2, `${s.service}:${s.name} has an ERROR status`);
});

test('no secret in any exported span', () => {
  const dir = join(dataDir, 'secrets');
  const secrets = readdirSync(dir).filter((f) => !f.endsWith('.pub.pem')).map((f) => readFileSync(join(dir, f), 'utf8').trim()).filter((s) => s.length >= 16);
  assert.ok(secrets.length >= 5);
  for (const body of raw) {
    for (const s of secrets) {
      // A PEM key is checked by its base64 body lines, a token or hex key as it is.
      const probes = s.includes('-----BEGIN') ? s.split('\n').filter((l) => !l.startsWith('-----') && l.length >= 32) : [s];
      for (const p of probes) assert.ok(!body.includes(p), 'a secret of the system appears in an exported span');
    }
    assert.doesNotMatch(body, /PRIVATE KEY|"eyJ[A-Za-z0-9_-]{10,}\./, 'no key and no JWT in spans');
  }
});
