/**
 * ECDSA (MPC-CMP, Canetti et al. 2020, eprint 2021/060) behind `ThresholdScheme` (scheme.ts), next
 * to FROST's adapter (frost/index.ts), plus batched presigning (one 3-round session yields up to
 * MAX_BATCH presignatures) and the recoverable-signature check. Keys are HD: the BIP32
 * (secp256k1) / SLIP-10 (secp256r1) non-hardened tweak is folded into the online round.
 */
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { SECP256K1, SECP256R1, type Curve } from '../curve.ts';
import { MpcError } from '../errors.ts';
import { mapParty, type Algorithm, type ThresholdScheme } from '../scheme.ts';
import { cmpKeygen, cmpRefresh } from './keygen.ts';
import { cmpPresignBatch, decodePresignature, encodePresignature } from './presign.ts';
import { cmpSign, ecdsaNoncePoint } from './sign.ts';
import { decodeKeyShare, encodeKeyShare, publicInfo, type CmpKeyShare } from './keyshare.ts';
import { deriveEcdsa, parsePath, type Derived } from './hd.ts';

/** noble's compact (r || s) verification over a prehashed digest, the same for both curves. */
interface CompactVerifier {
  verify(signature: Uint8Array, digest: Uint8Array, publicKey: Uint8Array, o: { prehash: false; lowS: false; format: 'compact' }): boolean;
}

function bigTo32(v: bigint): Uint8Array {
  return Uint8Array.from(Buffer.from(v.toString(16).padStart(64, '0'), 'hex'));
}

// Decoding a share checks it (scalar multiplications); the enclave keeps one byte array per
// share, so a decoded copy per array saves that on every signature.
const decoded = new WeakMap<Uint8Array, CmpKeyShare>();
function share(b: Uint8Array): CmpKeyShare {
  let s = decoded.get(b);
  if (!s) decoded.set(b, (s = decodeKeyShare(b)));
  return s;
}

// Master public keys decoded once (a square root each time otherwise), by encoding (bounded).
const masterPoints = new Map<string, ReturnType<Curve['decodePoint']>>();
function masterPoint(curve: Curve, publicKey: Uint8Array): ReturnType<Curve['decodePoint']> {
  const k = `${curve.name}:${Buffer.from(publicKey).toString('hex')}`;
  let p = masterPoints.get(k);
  if (!p) {
    p = curve.decodePoint(publicKey);
    if (masterPoints.size >= 1024) masterPoints.delete(masterPoints.keys().next().value!);
    masterPoints.set(k, p);
  }
  return p;
}

// Derivation is a pure function of public data; signing the same path again skips it (bounded).
const derivations = new Map<string, Derived>();
function derive(curve: Curve, publicKey: Uint8Array, chainCode: Uint8Array, path: string): Derived {
  const k = `${curve.name}:${Buffer.from(publicKey).toString('hex')}:${Buffer.from(chainCode).toString('hex')}:${path}`;
  let d = derivations.get(k);
  if (!d) {
    d = deriveEcdsa(curve, publicKey, chainCode, parsePath(path));
    if (derivations.size >= 4096) derivations.delete(derivations.keys().next().value!);
    derivations.set(k, d);
  }
  return d;
}

function make(algorithm: Algorithm, curve: Curve, noble: CompactVerifier): ThresholdScheme {
  const output = (s: CmpKeyShare) => {
    const i = publicInfo(s);
    return { algorithm, self: s.self, parties: i.parties, threshold: i.threshold, publicKey: i.publicKey, chainCode: i.chainCode, share: encodeKeyShare(s) };
  };
  const primes = (p: readonly [bigint, bigint] | undefined): readonly [bigint, bigint] => {
    if (!p) throw new MpcError('ERR_MPC_USAGE', 'CMP key generation needs two primes');
    return p;
  };
  return {
    algorithm: algorithm,
    messageKind: 'digest32',
    needsPresignature: true,
    keygen: (o) => mapParty(cmpKeygen({ curve, session: o.session, self: o.self, parties: o.parties, threshold: o.threshold ?? o.parties.length, primes: primes(o.primes), ...(o.rand ? { rand: o.rand } : {}) }), output),
    refresh: (o) => mapParty(cmpRefresh({ session: o.session, share: share(o.share), primes: primes(o.primes), ...(o.rand ? { rand: o.rand } : {}) }), output),
    presign: (o) => mapParty(cmpPresignBatch({ session: o.session, share: share(o.share), signers: o.signers, count: 1 }), (ps) => encodePresignature(ps[0]!)),
    presignBatch: (o) => mapParty(cmpPresignBatch({ session: o.session, share: share(o.share), signers: o.signers, count: o.count }), (ps) => ps.map((p) => encodePresignature(p))),
    sign: (o) => {
      if (!o.presignature) throw new MpcError('ERR_MPC_USAGE', 'CMP signing needs a presignature');
      const k = share(o.share);
      const d = derive(curve, curve.encodePoint(k.publicKey), k.chainCode, o.path);
      const publicKey = curve.encodePoint(d.publicKey);
      return mapParty(
        cmpSign({ session: o.session, share: k, presignature: decodePresignature(o.presignature), digest: o.message, tweak: d.tweak, signers: o.signers }),
        (sig) => ({
          algorithm: algorithm,
          signature: Uint8Array.from([...bigTo32(sig.r), ...bigTo32(sig.s)]),
          publicKey, recoveryId: sig.recoveryId, der: sig.der,
        }),
      );
    },
    derivePublicKey: (publicKey, chainCode, path) => {
      const d = derive(curve, publicKey, chainCode, path);
      return { publicKey: curve.encodePoint(d.publicKey), chainCode: d.chainCode, path: parsePath(path) };
    },
    verify: (publicKey, digest, signature) => {
      try {
        return noble.verify(signature, digest, publicKey, { prehash: false, lowS: false, format: 'compact' });
      } catch {
        return false;
      }
    },
    verifyRecoverable: (masterPublicKey, chainCode, path, digest, signature, recoveryId) => {
      if (digest.length !== 32 || signature.length !== 64 || !Number.isInteger(recoveryId) || recoveryId < 0 || recoveryId > 3) return false;
      let X;
      try {
        X = masterPoint(curve, masterPublicKey);
      } catch {
        return false;
      }
      const r = BigInt(`0x${Buffer.from(signature.subarray(0, 32)).toString('hex')}`);
      const sv = BigInt(`0x${Buffer.from(signature.subarray(32)).toString('hex')}`);
      if (sv > curve.n >> 1n) return false;
      const d = derive(curve, masterPublicKey, chainCode, path);
      const e = BigInt(`0x${Buffer.from(digest).toString('hex')}`) % curve.n;
      const R = ecdsaNoncePoint(curve, X, d.tweak, e, r, sv);
      if (!R) return false;
      const a = R.toAffine();
      return curve.xModN(R) === r && Number(a.y & 1n) === (recoveryId & 1) && (a.x >= curve.n) === ((recoveryId & 2) !== 0);
    },
    shareInfo: (bytes) => {
      const s = decodeKeyShare(bytes);
      const i = publicInfo(s);
      return { algorithm: algorithm, self: s.self, parties: i.parties, threshold: i.threshold, publicKey: i.publicKey, chainCode: i.chainCode };
    },
  };
}

/** `ThresholdScheme` for ECDSA_SECP256K1 (CMP, BIP32 derivation). `message` is a 32-byte digest. */
export const ecdsaSecp256k1Scheme: ThresholdScheme = make('ECDSA_SECP256K1', SECP256K1, secp256k1);
/** `ThresholdScheme` for ECDSA_SECP256R1 (CMP, SLIP-10 derivation). `message` is a 32-byte digest. */
export const ecdsaSecp256r1Scheme: ThresholdScheme = make('ECDSA_SECP256R1', SECP256R1, p256);
