/**
 * The metrics helper against the Prometheus text format 0.0.4: series per label set, escaping,
 * cumulative histogram buckets with +Inf, _sum and _count; collectors run at each scrape; one
 * instance per name; a wrong label set or a falling counter refused; served over real HTTP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, startMetricsServer, collectProcessMetrics } from '../src/metrics.ts';

test('counters, gauges and histograms in the text exposition format', async () => {
  const r = new Registry();
  const c = r.counter('x_requests_total', 'Requests.', ['kind', 'outcome']);
  c.inc({ kind: 'TRANSACTION', outcome: 'SIGNED' });
  c.inc({ kind: 'TRANSACTION', outcome: 'SIGNED' }, 2);
  c.inc({ kind: 'CONFIG_CHANGE', outcome: 'bad "quote"\\\nline' });
  assert.equal(r.counter('x_requests_total', 'Requests.', ['kind', 'outcome']), c, 'same instance by name');
  assert.throws(() => r.gauge('x_requests_total', 'other'), /already registered/);
  assert.throws(() => c.inc({ kind: 'TRANSACTION' }), /do not match/);
  assert.throws(() => c.inc({ kind: 'a', outcome: 'b' }, -1), /only goes up/);
  assert.throws(() => r.counter('bad name', 'x'), /not valid/);
  const h = r.histogram('x_seconds', 'Latency.', ['scheme'], [0.1, 1]);
  h.observe({ scheme: 'E' }, 0.05);
  h.observe({ scheme: 'E' }, 0.5);
  h.observe({ scheme: 'E' }, 5);
  const g = r.gauge('x_depth', 'Depth.');
  let calls = 0;
  r.collect(() => { calls++; g.set(undefined, 7); });
  const text = await r.text();
  assert.equal(calls, 1);
  assert.ok(text.endsWith('\n'));
  const lines = text.split('\n');
  for (const want of [
    '# HELP x_requests_total Requests.',
    '# TYPE x_requests_total counter',
    'x_requests_total{kind="TRANSACTION",outcome="SIGNED"} 3',
    'x_requests_total{kind="CONFIG_CHANGE",outcome="bad \\"quote\\"\\\\\\nline"} 1',
    '# TYPE x_seconds histogram',
    'x_seconds_bucket{scheme="E",le="0.1"} 1',
    'x_seconds_bucket{scheme="E",le="1"} 2',
    'x_seconds_bucket{scheme="E",le="+Inf"} 3',
    'x_seconds_sum{scheme="E"} 5.55',
    'x_seconds_count{scheme="E"} 3',
    '# TYPE x_depth gauge',
    'x_depth 7',
  ]) assert.ok(lines.includes(want), `missing: ${want}\n${text}`);
  // A failing collector does not fail the scrape; it is counted.
  r.collect(() => { throw new Error('boom'); });
  assert.match(await r.text(), /^cosigner_metrics_collector_errors_total 1$/m);
});

test('served on GET /metrics over HTTP; other paths 404; process metrics', async () => {
  const r = new Registry();
  r.counter('y_total', 'Y.').inc();
  collectProcessMetrics(r);
  const s = await startMetricsServer({ port: 0, registry: r });
  try {
    const res = await fetch(`http://127.0.0.1:${s.port}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const body = await res.text();
    assert.match(body, /^y_total 1$/m);
    assert.match(body, /^process_resident_memory_bytes \d+$/m);
    assert.match(body, /^nodejs_eventloop_delay_seconds\{quantile="0.99"\} [0-9.e-]+$/m);
    assert.equal((await fetch(`http://127.0.0.1:${s.port}/other`)).status, 404);
  } finally {
    await s.close();
  }
});
