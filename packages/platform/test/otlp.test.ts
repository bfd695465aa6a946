import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { initTelemetry, withSpan } from '../src/telemetry.ts';

test('spans are exported over OTLP/HTTP (what Jaeger receives)', async () => {
  const bodies: { url: string; body: string }[] = [];
  const http = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => {
      bodies.push({ url: req.url ?? '', body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as { port: number }).port;
  const tel = initTelemetry({ serviceName: 'otlp-test', exporter: 'otlp', otlpUrl: `http://127.0.0.1:${port}/v1/traces` });
  try {
    await withSpan('exported-span', async () => undefined);
    await tel.forceFlush();
    assert.ok(bodies.length >= 1);
    assert.equal(bodies[0]!.url, '/v1/traces');
    assert.match(bodies[0]!.body, /exported-span/);
    assert.match(bodies[0]!.body, /otlp-test/);
  } finally {
    await tel.shutdown();
    http.close();
  }
});
