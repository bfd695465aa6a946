/** `cosigner print-public-key`: the co-signer's callback-signing public key (PEM), for handler configs. */
import type { CosignerInfo } from '@cosigner/proto';
import type { Command } from '../command.ts';
import { unary } from '../grpc.ts';
import { withPairing } from './pair.ts';

export const printPublicKey: Command = {
  name: ['print-public-key'],
  summary: "Print the co-signer's callback-signing RSA public key (PEM); callback handlers verify requests with it",
  usage: '[--json]',
  options: {},
  async run(io) {
    const info = await withPairing((c, token) => unary<object, CosignerInfo>(c, 'getCosignerInfo', {}, { token }));
    io.result({ cosignerId: info.cosignerId, publicKeyPem: info.callbackPublicKeyPem }, info.callbackPublicKeyPem.trimEnd());
  },
};

export default printPublicKey;
