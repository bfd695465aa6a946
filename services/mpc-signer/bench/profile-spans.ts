/**
 * Where the approved -> signed time goes: runs the three parties with tracing to an in-process
 * OTLP/HTTP receiver, signs `--n` requests one at a time from a warm pool, and prints the mean and
 * p50 duration of every span name per service (table on stderr, JSON on stdout).
 * `--burst` sends all `--n` at once (throughput) instead of one at a time (latency); with
 * PROFILE_DIR set, the customer and cloud-1 also write V8 CPU profiles there.
 * `node services/mpc-signer/bench/profile-spans.ts [--algorithm A] [--n 30] [--burst]`
 */
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { KeyInfo, PoolStatusResponse } from '@cosigner/proto';
import { approvedEvent } from '../../../packages/party/test/helpers.ts';
import { startSystem } from '../test/system.ts';

const { values } = parseArgs({ options: { algorithm: { type: 'string' }, n: { type: 'string' }, burst: { type: 'boolean' } } });
const N = Number(values.n ?? 30);
const algorithm = values.algorithm ?? 'ECDSA_SECP256K1';
const durations = new Map<string, number[]>();
const http = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => { body += c; });
  req.on('end', () => {
    if (process.env.DEBUG_OTLP) process.stderr.write(`otlp body ${body.length} ${/"service.name","value":\{"stringValue":"([^"]+)"/.exec(body)?.[1]} ${req.headers['content-type']}\n`);
    const doc = JSON.parse(body) as { resourceSpans?: { resource?: { attributes?: { key: string; value: { stringValue?: string } }[] }; scopeSpans?: { spans?: { name: string; startTimeUnixNano: string; endTimeUnixNano: string; events?: { name: string; timeUnixNano: string }[] }[] }[] }[] };
    for (const rs of doc.resourceSpans ?? []) {
      const svc = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? '?';
      for (const ss of rs.scopeSpans ?? []) for (const sp of ss.spans ?? []) {
        const name = `${svc} ${sp.name.replace(/\.(bench|warm)-\d+$/, '.<id>')}`;
        const d = (Number(BigInt(sp.endTimeUnixNano) - BigInt(sp.startTimeUnixNano)) / 1e6);
        (durations.get(name) ?? durations.set(name, []).get(name)!).push(d);
        for (const ev of sp.events ?? []) {
          const at = Number(BigInt(ev.timeUnixNano) - BigInt(sp.startTimeUnixNano)) / 1e6;
          const en = `${name} @${ev.name}`;
          (durations.get(en) ?? durations.set(en, []).get(en)!).push(at);
        }
      }
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
const port = (http.address() as { port: number }).port;
const profDir = process.env.PROFILE_DIR;
const s = await startSystem({ ...(profDir ? { partyEnv: Object.fromEntries(['customer', 'cloud-1'].map((p) => [p, { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profDir}/${p}` }])) } : {}), env: {
  OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_BSP_SCHEDULE_DELAY: '200',
  COSIGNER_POOL_TARGET: String(N + 10), COSIGNER_POOL_LOW_WATER: '0', COSIGNER_POOL_CONCURRENCY: '2', COSIGNER_ROUND_TIMEOUT_MS: '60000',
} });
try {
  const key = await s.call<KeyInfo>('createKey', { workspaceId: 'bench', algorithm, threshold: 0, keyId: '' });
  const ecdsa = algorithm !== 'EDDSA_ED25519';
  if (ecdsa) {
    for (;;) {
      const st = await s.call<PoolStatusResponse>('getPoolStatus', { keyId: key.keyId });
      if ((st.pools[0]?.ready ?? 0) >= N + 10) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const one = async (id: string): Promise<number> => {
    const payload = ecdsa ? createHash('sha256').update(id).digest() : Buffer.from(id);
    const ev = approvedEvent({ key: s.ak.privateKey, requestId: id, workspaceId: 'bench', entries: [{ keyId: key.keyId, path: [44, 60, 0, 0, 1], payload }] });
    const done = new Promise<void>((r) => { const sub = s.nc.subscribe(`cosigner.requests.signed.${id}`, { callback: () => { sub.unsubscribe(); r(); } }); });
    await s.nc.flush();
    const t0 = performance.now();
    await s.js.publish(`cosigner.requests.approved.${id}`, ev.bytes, { msgID: `${id}:approved` });
    await done;
    return performance.now() - t0;
  };
  for (let i = 0; i < 5; i++) await one(`warm-${i}`);
  durations.clear();
  const lat: number[] = [];
  const t0 = performance.now();
  if (values.burst) lat.push(...(await Promise.all(Array.from({ length: N }, (_, i) => one(`bench-${i}`)))));
  else for (let i = 0; i < N; i++) lat.push(await one(`bench-${i}`));
  const seconds = (performance.now() - t0) / 1000;
  process.stderr.write(`${N} signatures in ${seconds.toFixed(2)} s: ${(N / seconds).toFixed(1)} per second${values.burst ? ' (all at once)' : ' (one at a time)'}\n`);
  await new Promise((r) => setTimeout(r, 3000));
  const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p / 100 * xs.length))]!;
  const rows = [...durations].map(([name, xs]) => ({ name, count: xs.length, meanMs: +(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(2), p50Ms: +pct(xs, 50).toFixed(2) }))
    .sort((a, b) => b.meanMs - a.meanMs);
  process.stderr.write(`end to end: p50 ${pct(lat, 50).toFixed(2)} ms, p99 ${pct(lat, 99).toFixed(2)} ms\n`);
  for (const r of rows) process.stderr.write(`${r.name.padEnd(70)} ${String(r.count).padStart(5)} ${r.meanMs.toFixed(2).padStart(9)} ${r.p50Ms.toFixed(2).padStart(9)}\n`);
  process.stdout.write(`${JSON.stringify({ algorithm, requests: N, p50Ms: pct(lat, 50), p99Ms: pct(lat, 99), spans: rows })}\n`);
} finally {
  // An orderly stop first, so a party run with NODE_OPTIONS=--cpu-prof writes its profile.
  for (const p of Object.values(s.procs)) p.signal('SIGTERM');
  await Promise.race([Promise.all(Object.values(s.procs).map((p) => p.exited)), new Promise((r) => setTimeout(r, 30_000))]);
  await s.stop();
  http.close();
}
