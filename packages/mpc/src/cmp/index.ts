/**
 * MPC-CMP threshold ECDSA (Canetti, Gennaro, Goldfeder, Makriyannis, Peled, eprint 2021/060):
 * key generation with auxiliary setup, proactive refresh, 3-round presigning (single or
 * batched), 1-round online signing over a re-randomized presignature with the HD tweak folded
 * in, identifiable abort. No I/O.
 */
export { cmpKeygen, cmpRefresh, CmpKeygenParty, type CmpKeygenOptions, type CmpRefreshOptions } from './keygen.ts';
export {
  cmpPresign, cmpPresignBatch, CmpPresignParty, signShare, rerandomize, encodePresignature, decodePresignature, additiveShares, digestScalar, MAX_BATCH,
  type CmpPresignature, type CmpPresignOptions, type PresignatureBinding, type Rerandomized,
} from './presign.ts';
export { cmpSign, CmpSignParty, ecdsaVerify, ecdsaVerifyDerived, ecdsaNoncePoint, derSignature, finishSignature, type EcdsaSignature, type CmpSignOptions } from './sign.ts';
export {
  encodeKeyShare, decodeKeyShare, publicInfo, shareFingerprint, fingerprintHex, type CmpKeyShare, type AuxInfo,
} from './keyshare.ts';
export { deriveEcdsa, parsePath, HARDENED, type Derived } from './hd.ts';
