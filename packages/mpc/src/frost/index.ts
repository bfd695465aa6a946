/**
 * Threshold EdDSA: FROST(Ed25519, SHA-512) (RFC 9591) with DKG, refresh and non-hardened HD
 * derivation, behind the package's one `ThresholdScheme` interface (scheme.ts).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { MpcError } from '../errors.ts';
import { mapParty, type KeyShareInfo, type KeyShareOutput, type ThresholdScheme } from '../scheme.ts';
import { deriveEd25519 } from './hd.ts';
import { FrostKeygenParty } from './keygen.ts';
import { FrostRefreshParty } from './refresh.ts';
import { decodeFrostShare, encodeFrostShare, type FrostKeyShare } from './share.ts';
import { FrostSignParty } from './sign.ts';
import { verifyEd25519 } from './suite.ts';

export { FrostKeygenParty, frostKeygen, verifyKnowledgeProof, dkgBinding, type FrostKeygenOptions } from './keygen.ts';
export { FrostRefreshParty, frostRefresh, type FrostRefreshOptions } from './refresh.ts';
export { FrostSignParty, frostSign, frostCommit, type FrostSignOptions, type FrostSignature, type FrostSignOutput } from './sign.ts';
export { FrostNonce, encodeFrostShare, decodeFrostShare, validateFrostShare, keyStateDigest, type FrostKeyShare } from './share.ts';
// parsePath / HARDENED stay in hd.ts: cmp/ exports the same names (same syntax) for BIP32.
export { deriveEd25519, type Ed25519Derivation } from './hd.ts';
export { verifyEd25519, ed25519KeyObject } from './suite.ts';
export { demoEddsa, type EddsaDemoOptions, type EddsaDemoResult } from './demo.ts';
export { benchEddsa, type EddsaBenchResult } from './bench.ts';

function info(k: FrostKeyShare): KeyShareInfo {
  return {
    algorithm: 'EDDSA_ED25519',
    self: k.self,
    parties: k.parties,
    threshold: k.threshold,
    publicKey: k.publicKey,
    chainCode: k.chainCode,
  };
}

function output(k: FrostKeyShare): KeyShareOutput {
  return { ...info(k), share: encodeFrostShare(k) };
}

/** `ThresholdScheme` for EDDSA_ED25519 (FROST). `message` is the message itself. */
export const eddsaEd25519Scheme: ThresholdScheme = {
  algorithm: 'EDDSA_ED25519',
  messageKind: 'message',
  needsPresignature: false,
  keygen: (o) =>
    mapParty(
      new FrostKeygenParty({ session: o.session, self: o.self, parties: o.parties, threshold: o.threshold ?? o.parties.length, ...(o.rand ? { rand: o.rand } : {}) }),
      output,
    ),
  refresh: (o) => mapParty(new FrostRefreshParty({ session: o.session, self: o.self, share: o.share, ...(o.rand ? { rand: o.rand } : {}) }), output),
  sign: (o) => {
    if (o.presignature !== undefined) throw new MpcError('ERR_MPC_USAGE', 'EdDSA signing takes no presignature');
    return mapParty(
      new FrostSignParty({
        session: o.session, self: o.self, signers: o.signers, share: o.share, message: o.message, path: o.path,
        ...(o.rand ? { rand: o.rand } : {}), ...(o.aggregator !== undefined ? { aggregator: o.aggregator } : {}),
      }),
      (s) => (s === null ? null : { algorithm: 'EDDSA_ED25519' as const, signature: s.signature, publicKey: s.publicKey }),
    );
  },
  derivePublicKey: (publicKey, chainCode, path) => {
    const d = deriveEd25519(publicKey, chainCode, path);
    return { publicKey: d.publicKey, chainCode: d.chainCode, path: d.path };
  },
  // OpenSSL's RFC 8032 check and noble's must agree; requiring both costs little and guards
  // against either library accepting something the other would not.
  verify: (publicKey, message, signature) => {
    if (!verifyEd25519(publicKey, message, signature)) return false;
    try {
      return ed25519.verify(signature, message, publicKey, { zip215: false });
    } catch {
      return false;
    }
  },
  shareInfo: (share) => info(decodeFrostShare(share)),
};
