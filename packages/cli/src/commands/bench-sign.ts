/** `cosigner bench sign`: the signing benchmark (its own nats-server and three party processes). */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CliError, str, type Command } from '../command.ts';
import { REPO_ROOT } from '../config.ts';

const benchSign: Command = {
  name: ['bench', 'sign'],
  summary: 'Approved-to-signed latency from a warm presignature pool, burst and sustained signatures/s (three party processes)',
  usage: '[--algorithm A] [--burst N] [--latency N] [--sustained N] [--json]',
  options: { algorithm: { type: 'string' }, burst: { type: 'string' }, latency: { type: 'string' }, sustained: { type: 'string' } },
  async run(io) {
    const args = [join(REPO_ROOT, 'services/mpc-signer/bench/sign.ts')];
    for (const k of ['algorithm', 'burst', 'latency', 'sustained']) {
      const v = str(io, k);
      if (v !== undefined) args.push(`--${k}`, v);
    }
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c; });
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    if (code !== 0) throw new CliError('ERR_BENCH', `benchmark failed (exit ${code})`);
    const doc = JSON.parse(out.trim().split('\n').pop()!) as {
      algorithm: string; warmPool: { p50Ms: number; p99Ms: number }; burst: { requests: number; signaturesPerSec: number }; sustained: { signaturesPerSec: number };
    };
    io.result(doc, [
      `algorithm ${doc.algorithm}`,
      `approved -> signed (warm pool): p50 ${doc.warmPool.p50Ms} ms, p99 ${doc.warmPool.p99Ms} ms`,
      `burst of ${doc.burst.requests}: ${doc.burst.signaturesPerSec} signatures/s`,
      `sustained incl. presigning: ${doc.sustained.signaturesPerSec} signatures/s`,
    ].join('\n'));
  },
};

export default benchSign;
