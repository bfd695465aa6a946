/**
 * ECDSA (MPC-CMP, Canetti et al. 2020) behind the mpc package's `ThresholdScheme` shape, plus
 * batched presigning (one 3-round session yields up to MAX_BATCH presignatures). Keys are HD:
 * the BIP32 (secp256k1) / SLIP-10 (secp256r1) non-hardened tweak is folded into the online round.
 * When the mpc package ships its own ECDSA scheme this file is the one to swap.
 */
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { SECP256K1, SECP256R1, cmp, mapParty, type Curve, type Party, type ThresholdScheme } from '@cosigner/mpc';
import type { Algorithm } from './enclave.ts';

export interface BatchPresignOptions {
  session: Uint8Array;
  self: number;
  signers: readonly number[];
  share: Uint8Array;
  count: number;
}

export interface EcdsaScheme extends ThresholdScheme {
  presignBatch(o: BatchPresignOptions): Party<Uint8Array[]>;
  /**
   * Verifies a compact (r || s) signature over a 32-byte digest under the key derived from the
   * master key and chain code along `path`, together with its recovery id (SEC 1 v2 §4.1.4 and
   * §4.1.6): r and s in [1, n-1], s low, and R = ((e + r·t)/s)·G + (r/s)·X (X the master key,
   * t the path's tweak, so X + t·G is the derived key) has x ≡ r and the y parity and x overflow
   * the recovery id states. Equivalent to recovering the derived key from (r, s, v, e), at the
   * cost of two table-driven multiplications.
   */
  verifyRecoverable(masterPublicKey: Uint8Array, chainCode: Uint8Array, path: string, digest: Uint8Array, signature: Uint8Array, recoveryId: number): boolean;
}

function bigTo32(v: bigint): Uint8Array {
  return Uint8Array.from(Buffer.from(v.toString(16).padStart(64, '0'), 'hex'));
}

// The batched presigning entry point (named `cmpPresignBatch`, or `cmpPresign` with `count` in
// earlier versions of the mpc package).
const presignLib = cmp as unknown as {
  cmpPresignBatch?: (o: cmp.CmpPresignOptions) => Party<cmp.CmpPresignature[]>;
  cmpPresign: (o: cmp.CmpPresignOptions) => Party<cmp.CmpPresignature[]>;
};
function presignParty(o: cmp.CmpPresignOptions): Party<cmp.CmpPresignature[]> {
  return presignLib.cmpPresignBatch ? presignLib.cmpPresignBatch(o) : presignLib.cmpPresign(o);
}

// Decoding a share checks it (scalar multiplications); the enclave keeps one byte array per
// share, so a decoded copy per array saves that on every signature.
const decoded = new WeakMap<Uint8Array, cmp.CmpKeyShare>();
function share(b: Uint8Array): cmp.CmpKeyShare {
  let s = decoded.get(b);
  if (!s) decoded.set(b, (s = cmp.decodeKeyShare(b)));
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
const derivations = new Map<string, cmp.Derived>();
function derive(curve: Curve, publicKey: Uint8Array, chainCode: Uint8Array, path: string): cmp.Derived {
  const k = `${curve.name}:${Buffer.from(publicKey).toString('hex')}:${Buffer.from(chainCode).toString('hex')}:${path}`;
  let d = derivations.get(k);
  if (!d) {
    d = cmp.deriveEcdsa(curve, publicKey, chainCode, cmp.parsePath(path));
    if (derivations.size >= 4096) derivations.delete(derivations.keys().next().value!);
    derivations.set(k, d);
  }
  return d;
}

function make(algorithm: Algorithm, curve: Curve, noble: typeof secp256k1): EcdsaScheme {
  const output = (s: cmp.CmpKeyShare) => {
    const i = cmp.publicInfo(s);
    return { algorithm, self: s.self, parties: i.parties, threshold: i.threshold, publicKey: i.publicKey, chainCode: i.chainCode, share: cmp.encodeKeyShare(s) };
  };
  const primes = (p: readonly [bigint, bigint] | undefined): readonly [bigint, bigint] => {
    if (!p) throw new Error('CMP key generation needs two primes');
    return p;
  };
  return {
    algorithm: algorithm as ThresholdScheme['algorithm'],
    messageKind: 'digest32',
    needsPresignature: true,
    keygen: (o) => mapParty(cmp.cmpKeygen({ curve, session: o.session, self: o.self, parties: o.parties, threshold: o.threshold ?? o.parties.length, primes: primes(o.primes), ...(o.rand ? { rand: o.rand } : {}) }), output),
    refresh: (o) => mapParty(cmp.cmpRefresh({ session: o.session, share: share(o.share), primes: primes(o.primes), ...(o.rand ? { rand: o.rand } : {}) }), output),
    presign: (o) => mapParty(presignParty({ session: o.session, share: share(o.share), signers: o.signers, count: 1 }), (ps) => cmp.encodePresignature(ps[0]!)),
    presignBatch: (o) => mapParty(presignParty({ session: o.session, share: share(o.share), signers: o.signers, count: o.count }), (ps) => ps.map((p) => cmp.encodePresignature(p))),
    sign: (o) => {
      if (!o.presignature) throw new Error('CMP signing needs a presignature');
      const k = share(o.share);
      const d = derive(curve, curve.encodePoint(k.publicKey), k.chainCode, o.path);
      const publicKey = curve.encodePoint(d.publicKey);
      return mapParty(
        cmp.cmpSign({ session: o.session, share: k, presignature: cmp.decodePresignature(o.presignature), digest: o.message, tweak: d.tweak, signers: o.signers }),
        (sig) => ({
          algorithm: algorithm as ThresholdScheme['algorithm'],
          signature: Uint8Array.from([...bigTo32(sig.r), ...bigTo32(sig.s)]),
          publicKey, recoveryId: sig.recoveryId, der: sig.der,
        }),
      );
    },
    derivePublicKey: (publicKey, chainCode, path) => {
      const d = derive(curve, publicKey, chainCode, path);
      return { publicKey: curve.encodePoint(d.publicKey), chainCode: d.chainCode, path: cmp.parsePath(path) };
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
      const R = cmp.ecdsaNoncePoint(curve, X, d.tweak, e, r, sv);
      if (!R) return false;
      const a = R.toAffine();
      return curve.xModN(R) === r && Number(a.y & 1n) === (recoveryId & 1) && (a.x >= curve.n) === ((recoveryId & 2) !== 0);
    },
    shareInfo: (bytes) => {
      const s = cmp.decodeKeyShare(bytes);
      const i = cmp.publicInfo(s);
      return { algorithm: algorithm as ThresholdScheme['algorithm'], self: s.self, parties: i.parties, threshold: i.threshold, publicKey: i.publicKey, chainCode: i.chainCode };
    },
  };
}

export const ecdsaSecp256k1: EcdsaScheme = make('ECDSA_SECP256K1', SECP256K1, secp256k1);
export const ecdsaSecp256r1: EcdsaScheme = make('ECDSA_SECP256R1', SECP256R1, p256 as unknown as typeof secp256k1);
