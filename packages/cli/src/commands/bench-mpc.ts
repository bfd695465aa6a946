/**
 * `cosigner bench mpc`: per-party compute of CMP (3-of-3 secp256k1) keygen, refresh, presigning
 * and online signing, and FROST (Ed25519) when its bench exists; all parties in this process.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { int, type Command } from '../command.ts';

const MPC = new URL('../../../mpc/', import.meta.url);

const benchMpc: Command = {
  name: ['bench', 'mpc'],
  summary: 'Per-party compute of the threshold protocols (CMP keygen/refresh/presign/online, FROST), in-process',
  usage: '[--iterations N] [--json]',
  options: { iterations: { type: 'string' } },
  async run(io) {
    const iterations = int(io, 'iterations', 3);
    const cmp = (await import(new URL('bench/cmp.ts', MPC).href)) as typeof import('../../../mpc/bench/cmp.ts');
    const ecdsa = await cmp.benchEcdsa({ iterations, progress: (s) => io.info(`ECDSA_SECP256K1: ${s}`) });
    const doc: Record<string, unknown> = { ECDSA_SECP256K1: ecdsa };
    const human = [cmp.renderTable('ECDSA_SECP256K1', ecdsa)];
    const frost = new URL('src/frost/bench.ts', MPC);
    if (existsSync(fileURLToPath(frost))) {
      io.info('EDDSA_ED25519');
      const m = (await import(frost.href)) as { benchEddsa: (o: { iterations?: number }) => unknown };
      const ed = await Promise.resolve(m.benchEddsa({ iterations: Math.max(iterations, 5) }));
      doc.EDDSA_ED25519 = ed;
      human.push(`EDDSA_ED25519\n${JSON.stringify(ed, null, 2)}`);
    }
    io.result(doc, human.join('\n\n'));
  },
};

export default benchMpc;
