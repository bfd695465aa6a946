/** `cosigner bench sign`: the signing benchmark (its own nats-server and three party processes). */
import type { Command } from '../command.ts';
import { runBenchScript } from '../bench.ts';

const benchSign: Command = {
  name: ['bench', 'sign'],
  summary: 'Approved-to-signed latency from a warm presignature pool, burst and sustained signatures/s (three party processes)',
  usage: '[--algorithm A] [--burst N] [--latency N] [--sustained N] [--json]',
  options: { algorithm: { type: 'string' }, burst: { type: 'string' }, latency: { type: 'string' }, sustained: { type: 'string' } },
  async run(io) {
    const doc = await runBenchScript<{
      algorithm: string; warmPool: { p50Ms: number; p99Ms: number }; burst: { requests: number; signaturesPerSec: number }; sustained: { signaturesPerSec: number };
    }>('services/mpc-signer/bench/sign.ts', io, ['algorithm', 'burst', 'latency', 'sustained']);
    io.result(doc, [
      `algorithm ${doc.algorithm}`,
      `approved -> signed (warm pool): p50 ${doc.warmPool.p50Ms} ms, p99 ${doc.warmPool.p99Ms} ms`,
      `burst of ${doc.burst.requests}: ${doc.burst.signaturesPerSec} signatures/s`,
      `sustained incl. presigning: ${doc.sustained.signaturesPerSec} signatures/s`,
    ].join('\n'));
  },
};

export default benchSign;
