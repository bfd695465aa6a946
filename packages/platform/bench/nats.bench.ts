/**
 * Throughput of the platform's NATS path on a local nats-server (file store):
 * awaited publishEvent (sequential and 32 in flight) and startConsumer (ack confirmed) at
 * concurrency 1 and 16. Run: node packages/platform/bench/nats.bench.ts [N]
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connectNats, drainNats, ensureConsumer, ensureStream, publishEvent, startConsumer } from '../src/index.ts';
import { startNats } from '../src/testing/index.ts';

const N = Number(process.argv[2] ?? '2000');
const srv = await startNats({ jetstream: true, ignoreEnv: true });
const nc = await connectNats({ servers: srv.url, name: 'bench' });
const jsm = await jetstreamManager(nc);
const js = jetstream(nc);
const payload = new Uint8Array(256);

async function pub(stream: string, inFlight: number): Promise<number> {
  await ensureStream(jsm, { name: stream, subjects: [`${stream.toLowerCase()}.>`] });
  const t = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < N) {
      const i = next++;
      await publishEvent(js, `${stream.toLowerCase()}.x`, payload, { msgId: `${stream}-${i}` });
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return (N / (performance.now() - t)) * 1000;
}

async function consume(stream: string, durable: string, concurrency: number): Promise<number> {
  await ensureConsumer(jsm, { stream, durable });
  let n = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => { done = r; });
  const t = performance.now();
  const c = await startConsumer(js, { stream, consumer: durable, concurrency, handler: async () => { if (++n === N) done(); } });
  await all;
  const rate = (N / (performance.now() - t)) * 1000;
  await c.stop();
  return rate;
}

const r1 = await pub('BENCHA', 1);
const r32 = await pub('BENCHB', 32);
const c1 = await consume('BENCHA', 'c1', 1);
const c16 = await consume('BENCHB', 'c16', 16);
console.log(JSON.stringify({ N, publishSequentialPerSec: Math.round(r1), publish32InFlightPerSec: Math.round(r32), consumeConc1PerSec: Math.round(c1), consumeConc16PerSec: Math.round(c16) }));
await drainNats(nc);
await srv.stop();
