/**
 * `cosigner bench mpc`: per-party compute of CMP (3-of-3 secp256k1) keygen, refresh, presigning
 * and online signing, and FROST (Ed25519) when its bench exists; all parties in this process.
 */
import { int, type Command } from '../command.ts';

const benchMpc: Command = {
  name: ['bench', 'mpc'],
  summary: 'Per-party compute of the threshold protocols (CMP keygen/refresh/presign/online, FROST), in-process',
  usage: '[--iterations N] [--json]',
  options: { iterations: { type: 'string' } },
  async run(io) {
    const iterations = int(io, 'iterations', 3);
    // Loaded on use: the MPC package is not needed by the CLI's other commands.
    const cmp = await import('@cosigner/mpc/bench');
    const ecdsa = await cmp.benchEcdsa({ iterations, progress: (s) => io.info(`ECDSA_SECP256K1: ${s}`) });
    const doc: Record<string, unknown> = { ECDSA_SECP256K1: ecdsa };
    const human = [cmp.renderTable('ECDSA_SECP256K1', ecdsa)];
    io.info('EDDSA_ED25519');
    const { benchEddsa } = await import('@cosigner/mpc');
    const ed = benchEddsa({ iterations: Math.max(iterations, 5) });
    doc.EDDSA_ED25519 = ed;
    human.push(`EDDSA_ED25519\n${JSON.stringify(ed, null, 2)}`);
    io.result(doc, human.join('\n\n'));
  },
};

export default benchMpc;
