/**
 * The Grafana dashboard (deploy/grafana/cosigner.json) is importable (a Prometheus data source
 * input, panels with queries) and asks only for metrics the services really export: every metric
 * name in its queries is declared in the source with the platform's metrics helper.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DEPLOY, ROOT, type Obj } from './tools.ts';

/** Metric names declared with metrics.counter / gauge / histogram anywhere in packages/ and services/. */
function declaredMetrics(): Set<string> {
  const out = new Set<string>();
  const walk = (dir: string): void => {
    for (const f of readdirSync(dir)) {
      if (f === 'node_modules' || f === 'test' || f === 'gen' || f.startsWith('.')) continue;
      const p = join(dir, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (f.endsWith('.ts')) {
        for (const m of readFileSync(p, 'utf8').matchAll(/\.(?:counter|gauge|histogram)\(\s*'([a-z_:][a-z0-9_:]*)'/g)) out.add(m[1]!);
      }
    }
  };
  walk(join(ROOT, 'packages'));
  walk(join(ROOT, 'services'));
  return out;
}

test('the dashboard is importable and queries only metrics the services export', () => {
  const d = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'cosigner.json'), 'utf8')) as Obj;
  assert.equal(d.__inputs[0].pluginId, 'prometheus');
  assert.ok(d.uid && d.title);
  const declared = declaredMetrics();
  for (const must of ['cosigner_requests_total', 'cosigner_callback_duration_seconds', 'cosigner_signing_duration_seconds', 'cosigner_presign_pool_ready',
    'cosigner_presign_produced_total', 'cosigner_mpc_aborts_total', 'cosigner_nats_consumer_pending', 'cosigner_audit_write_failures_total']) assert.ok(declared.has(must), must);
  const used = new Set<string>();
  const ids = new Set<number>();
  for (const p of d.panels as Obj[]) {
    assert.ok(!ids.has(p.id), `panel id ${p.id} twice`);
    ids.add(p.id);
    assert.equal(p.datasource.uid, '${DS_PROMETHEUS}', p.title);
    assert.ok(p.targets.length > 0, p.title);
    for (const t of p.targets as Obj[]) {
      for (const m of String(t.expr).matchAll(/\b((?:cosigner|process|nodejs)_[a-z0-9_]+)\b/g)) used.add(m[1]!.replace(/_(bucket|count|sum)$/, ''));
    }
  }
  for (const name of used) assert.ok(declared.has(name), `the dashboard queries ${name}, which no service declares`);
  // Every metric of issue 16 item 3 has a panel.
  for (const name of ['cosigner_requests_total', 'cosigner_callback_duration_seconds', 'cosigner_signing_duration_seconds', 'cosigner_presign_pool_ready',
    'cosigner_presign_produced_total', 'cosigner_mpc_aborts_total', 'cosigner_nats_consumer_pending', 'cosigner_audit_write_failures_total']) assert.ok(used.has(name), `no panel for ${name}`);
});
