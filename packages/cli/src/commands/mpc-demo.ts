/**
 * `cosigner mpc demo`: key generation, presigning and online signing among in-process parties
 * (CMP for ECDSA, FROST for Ed25519), printing the keys and the verified signature.
 */
import { CliError, int, str, type Command } from '../command.ts';

const mpcDemo: Command = {
  name: ['mpc', 'demo'],
  summary: 'Run threshold key generation, presigning and signing among in-process parties and print the verified signature',
  usage: '--algorithm ECDSA_SECP256K1|ECDSA_SECP256R1|EDDSA_ED25519 --parties N --threshold T [--path 44/60/0/0/0] --message-hex HEX [--test-primes] [--json]',
  options: {
    algorithm: { type: 'string' },
    parties: { type: 'string' },
    threshold: { type: 'string' },
    path: { type: 'string' },
    'message-hex': { type: 'string' },
    'test-primes': { type: 'boolean' },
  },
  async run(io) {
    const algorithm = str(io, 'algorithm') ?? 'ECDSA_SECP256K1';
    const parties = int(io, 'parties', 3);
    const threshold = int(io, 'threshold', parties);
    const path = str(io, 'path');
    const messageHex = str(io, 'message-hex', true);
    if (algorithm === 'EDDSA_ED25519') {
      // Loaded on use: the MPC package (wasm, tables) is not needed by the CLI's other commands.
      const { demoEddsa } = await import('@cosigner/mpc');
      const doc = await demoEddsa({ parties, threshold, ...(path ? { path } : {}), messageHex });
      io.result(doc);
      return;
    }
    if (algorithm !== 'ECDSA_SECP256K1' && algorithm !== 'ECDSA_SECP256R1')
      throw new CliError('ERR_USAGE', `unknown --algorithm ${algorithm} (ECDSA_SECP256K1, ECDSA_SECP256R1, EDDSA_ED25519)`, 2);
    const { demoEcdsa } = await import('@cosigner/mpc');
    try {
      const r = await demoEcdsa({
        algorithm, parties, threshold, messageHex, ...(path ? { path } : {}),
        primes: io.values['test-primes'] === true ? 'fixture' : 'generate',
        progress: (l) => io.info(l),
      });
      const { signers, ...doc } = r;
      io.result(doc, [
        `algorithm         ${doc.algorithm} (${threshold}-of-${parties}, signed by ${signers.join(', ')})`,
        `publicKey         ${doc.publicKey}`,
        `chainCode         ${doc.chainCode}`,
        `path              ${doc.path || '(master)'}`,
        `derivedPublicKey  ${doc.derivedPublicKey}`,
        `messageHex        ${doc.messageHex}`,
        `signature r       ${doc.signature.r}`,
        `signature s       ${doc.signature.s}`,
        `recoveryId        ${doc.signature.recoveryId}`,
        `der               ${doc.der}`,
      ].join('\n'));
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ERR_MPC_USAGE') throw new CliError('ERR_USAGE', (e as Error).message, 2, { cause: e });
      throw e;
    }
  },
};

export default mpcDemo;
