/**
 * Signing benchmark with three party processes and a real nats-server (started here):
 *  - warm pool latency: requests one at a time, approved published -> signed received (p50/p99);
 *  - burst: `--burst` requests against a pool of as many presignatures (signatures/s);
 *  - sustained: requests while presignatures are produced on demand (signatures/s incl. presigning).
 * Prints one JSON document on stdout. `node services/mpc-signer/bench/sign.ts [--algorithm A] [--burst 200] [--latency 100] [--sustained 20]`
 */
import { parseArgs } from 'node:util';
import type { KeyInfo, PoolStatusResponse } from '@cosigner/proto';
import { RequestSigned } from '@cosigner/proto';
import { createHash } from 'node:crypto';
import { approvedEvent } from '../../../packages/party/test/helpers.ts';
import { startSystem, type System } from '../test/system.ts';

const { values } = parseArgs({ options: { algorithm: { type: 'string' }, burst: { type: 'string' }, latency: { type: 'string' }, sustained: { type: 'string' }, echo: { type: 'boolean' } } });
const burst = Number(values.burst ?? 200);
const latencyN = Number(values.latency ?? 100);
const sustainedN = Number(values.sustained ?? 20);
const log = (m: string) => process.stderr.write(`bench: ${m}\n`);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 100) / 100;
}

async function main(): Promise<void> {
  // The pool holds what the latency and burst phases use (low-water 0: no refill while they
  // run); the sustained phase then runs on an empty pool, presigning while it signs.
  const s: System = await startSystem({ env: {
    COSIGNER_POOL_TARGET: String(latencyN + burst + 5), COSIGNER_POOL_LOW_WATER: '0', COSIGNER_POOL_CONCURRENCY: '2',
    COSIGNER_ROUND_TIMEOUT_MS: '60000',
  } });
  try {
    let algorithm = values.algorithm ?? 'ECDSA_SECP256K1';
    let key: KeyInfo;
    try {
      key = await s.call<KeyInfo>('createKey', { workspaceId: 'bench', algorithm, threshold: 0, keyId: '' });
    } catch (e) {
      if (values.algorithm) throw e;
      log(`${algorithm} unavailable (${(e as Error).message}); benchmarking EDDSA_ED25519`);
      algorithm = 'EDDSA_ED25519';
      key = await s.call<KeyInfo>('createKey', { workspaceId: 'bench', algorithm, threshold: 0, keyId: '' });
    }
    const ecdsa = algorithm !== 'EDDSA_ED25519';
    const waitPool = async (n: number) => {
      if (!ecdsa) return;
      const t0 = Date.now();
      for (;;) {
        const st = await s.call<PoolStatusResponse>('getPoolStatus', { keyId: key.keyId });
        const ready = st.pools[0]?.ready ?? 0;
        if (ready >= n) break;
        if (Date.now() - t0 > 30 * 60_000) throw new Error('pool did not fill');
        await new Promise((r) => setTimeout(r, 500));
      }
      log(`pool holds ${n} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    };
    const arrived = new Map<string, number>();
    const waiters = new Map<string, () => void>();
    const sub = s.nc.subscribe('cosigner.requests.signed.>', { callback: (_e, m) => {
      const id = RequestSigned.decode(m.data).requestId;
      arrived.set(id, performance.now());
      waiters.get(id)?.();
    } });
    let seq = 0;
    const publish = async (): Promise<{ id: string; t0: number; done: Promise<void> }> => {
      const id = `bench-${seq++}`;
      const payload = ecdsa ? createHash('sha256').update(id).digest() : Buffer.from(`bench ${id}`);
      const ev = approvedEvent({ key: s.ak.privateKey, requestId: id, workspaceId: 'bench', entries: [{ keyId: key.keyId, path: [44, 60, 0, 0, seq % 5], payload }] });
      const done = new Promise<void>((r) => waiters.set(id, r));
      const t0 = performance.now();
      await s.js.publish(`cosigner.requests.approved.${id}`, ev.bytes, { msgID: `${id}:approved` });
      return { id, t0, done };
    };
    // Warm-up (JIT, connections, derivation caches).
    await waitPool(latencyN + burst + 5);
    for (let i = 0; i < 5; i++) await (await publish()).done;
    const lat: number[] = [];
    for (let i = 0; i < latencyN; i++) {
      const r = await publish();
      await r.done;
      lat.push(arrived.get(r.id)! - r.t0);
    }
    log(`latency p50 ${pct(lat, 50)} ms p99 ${pct(lat, 99)} ms`);
    const tb = performance.now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < burst; i++) pending.push((await publish()).done);
    await Promise.all(pending);
    const burstSec = (performance.now() - tb) / 1000;
    log(`burst ${burst} in ${burstSec.toFixed(2)} s`);
    // Sustained: the pool is (nearly) empty now, so presignatures are made while signing.
    const ts = performance.now();
    const pend2: Promise<void>[] = [];
    for (let i = 0; i < sustainedN; i++) pend2.push((await publish()).done);
    await Promise.all(pend2);
    const susSec = (performance.now() - ts) / 1000;
    sub.unsubscribe();
    const doc = {
      algorithm,
      parties: 3,
      warmPool: { requests: latencyN, p50Ms: pct(lat, 50), p99Ms: pct(lat, 99) },
      burst: { requests: burst, seconds: Math.round(burstSec * 1000) / 1000, signaturesPerSec: Math.round((burst / burstSec) * 10) / 10 },
      sustained: { requests: sustainedN, seconds: Math.round(susSec * 1000) / 1000, signaturesPerSec: Math.round((sustainedN / susSec) * 100) / 100, includesPresigning: ecdsa },
    };
    process.stdout.write(`${JSON.stringify(doc)}\n`);
  } finally {
    await s.stop();
  }
}

await main();
