/** `cosigner bench dispatch`: intake-to-approved latency and dispatcher scaling (its own nats-server, services and handler). */
import type { Command } from '../command.ts';
import { runBenchScript } from '../bench.ts';

interface Scenario { handlerDelayMs: number; dispatchers: number; inFlightPerInstance: number; load: string; requestsPerSec: number; p50Ms: number; p99Ms: number; approved: number; failed: number }

const benchDispatch: Command = {
  name: ['bench', 'dispatch'],
  summary: 'Requests/s and p50/p99 intake-to-approved with a 0 ms and a 200 ms handler, 1 and 3 dispatchers at 16 callbacks in flight',
  usage: '[--rate 200] [--seconds 10] [--clients 128] [--scenarios 0x1,0x3,200x1,200x3] [--json]',
  options: { rate: { type: 'string' }, seconds: { type: 'string' }, clients: { type: 'string' }, scenarios: { type: 'string' } },
  async run(io) {
    const doc = await runBenchScript<{ scenarios: Scenario[]; scaling200ms?: number }>('services/callback-dispatcher/bench/dispatch.ts', io, ['rate', 'seconds', 'clients', 'scenarios']);
    io.result(doc, [
      ...doc.scenarios.map((s) => `handler ${s.handlerDelayMs} ms, ${s.dispatchers} dispatcher(s) x ${s.inFlightPerInstance} in flight, ${s.load}: ${s.requestsPerSec} req/s, p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms`),
      ...(doc.scaling200ms !== undefined ? [`200 ms handler: 3 instances deliver ${doc.scaling200ms}x the throughput of 1`] : []),
    ].join('\n'));
  },
};

export default benchDispatch;
