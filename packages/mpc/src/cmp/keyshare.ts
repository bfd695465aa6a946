/**
 * A party's CMP key share (output of key generation, CMP Fig. 5 + Fig. 6, and of every refresh):
 * its Shamir share of the ECDSA key (degree T-1, so any T parties sign, converting their shares
 * to additive ones with Lagrange coefficients at signing time), every party's public share, the
 * group public key and HD chain code, and the auxiliary setup: this party's Paillier-Blum secret
 * key (whose modulus is also its ring-Pedersen modulus, with λ: s = t^λ) and every party's
 * public (N, s, t).
 *
 * The encoding is strict and self-checking (secret·G must equal the party's public share, the
 * public shares must interpolate to the public key, the Paillier factors must match N).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { Reader, Writer } from '../codec.ts';
import { curveByName, type Curve, type EcdsaCurveName, type Point } from '../curve.ts';
import { MpcError, MpcParseError } from '../errors.ts';
import { PaillierSecretKey } from '../arith/paillier.ts';
import { crtPow } from '../arith/bigint.ts';
import { lagrange, mul, readPoint, readScalar, writePoint, writeScalar } from './messages.ts';
import type { PaillierCtx, PedersenCtx } from './proofs/common.ts';

export const KEYSHARE_VERSION = 1;

/** Public auxiliary parameters of one party: Paillier modulus N (= ring-Pedersen N̂), s, t. */
export interface AuxInfo {
  readonly N: bigint;
  readonly s: bigint;
  readonly t: bigint;
}

export interface CmpKeyShare {
  readonly curve: Curve;
  readonly self: number;
  /** Every holder of a share, ascending. */
  readonly parties: readonly number[];
  /** Number of parties needed to sign. */
  readonly threshold: number;
  /** Shamir share s_i (secret). */
  readonly secret: bigint;
  /** s_j·G for every party j. */
  readonly publicShares: ReadonlyMap<number, Point>;
  readonly publicKey: Point;
  readonly chainCode: Uint8Array;
  /** Joint randomness ρ of the last keygen/refresh (binds proofs to this key state). */
  readonly rid: Uint8Array;
  /** 0 after key generation, +1 per refresh. */
  readonly epoch: number;
  readonly paillier: PaillierSecretKey;
  /** λ with s = t^λ mod N for this party's ring-Pedersen parameters (secret). */
  readonly lambda: bigint;
  readonly aux: ReadonlyMap<number, AuxInfo>;
}

/** What the outside world may know of a key: no secrets. */
export function publicInfo(share: CmpKeyShare): { publicKey: Uint8Array; chainCode: Uint8Array; threshold: number; parties: number[]; curve: EcdsaCurveName; epoch: number } {
  return {
    publicKey: share.curve.encodePoint(share.publicKey),
    chainCode: Uint8Array.from(share.chainCode),
    threshold: share.threshold,
    parties: [...share.parties],
    curve: share.curve.name,
    epoch: share.epoch,
  };
}

/** Hash of the public state of a key share (same on every party of the same epoch). */
export function shareFingerprint(share: CmpKeyShare): Uint8Array {
  let f = fingerprints.get(share);
  if (!f) {
    f = sha256(publicState(share));
    fingerprints.set(share, f);
  }
  return f;
}

const fingerprints = new WeakMap<CmpKeyShare, Uint8Array>();

function publicState(s: CmpKeyShare): Uint8Array {
  const w = new Writer().string(s.curve.name).u8(s.parties.length);
  for (const j of s.parties) {
    const a = s.aux.get(j)!;
    w.u8(j);
    writePoint(w, s.curve, s.publicShares.get(j)!);
    w.bigint(a.N).bigint(a.s).bigint(a.t);
  }
  w.u8(s.threshold);
  writePoint(w, s.curve, s.publicKey);
  return w.fixed(s.chainCode).fixed(s.rid).u32(s.epoch).finish();
}

export function encodeKeyShare(s: CmpKeyShare): Uint8Array {
  const w = new Writer().u8(KEYSHARE_VERSION).u8(s.self);
  w.bytes(publicState(s));
  writeScalar(w, s.curve, s.secret);
  return w.bigint(s.paillier.p).bigint(s.paillier.q).bigint(s.lambda).finish();
}

export function decodeKeyShare(bytes: Uint8Array): CmpKeyShare {
  const r = new Reader(bytes);
  if (r.u8() !== KEYSHARE_VERSION) throw new MpcParseError('key share: unknown version');
  const self = r.u8();
  const pub = new Reader(r.bytes());
  const name = pub.string(32);
  if (name !== 'secp256k1' && name !== 'secp256r1') throw new MpcParseError('key share: unknown curve');
  const curve = curveByName(name);
  const n = pub.u8();
  const parties: number[] = [];
  const publicShares = new Map<number, Point>();
  const aux = new Map<number, AuxInfo>();
  for (let k = 0; k < n; k++) {
    const j = pub.u8();
    if (j === 0 || (parties.length > 0 && j <= parties[parties.length - 1]!)) throw new MpcParseError('key share: parties not ascending');
    parties.push(j);
    publicShares.set(j, readPoint(pub, curve));
    aux.set(j, { N: pub.bigint(512), s: pub.bigint(512), t: pub.bigint(512) });
  }
  const threshold = pub.u8();
  const publicKey = readPoint(pub, curve);
  const chainCode = pub.fixed(32);
  const rid = pub.fixed(32);
  const epoch = pub.u32();
  pub.end();
  const secret = readScalar(r, curve, true);
  const p = r.bigint(256);
  const q = r.bigint(256);
  const lambda = r.bigint(512);
  r.end();
  if (!parties.includes(self)) throw new MpcParseError('key share: self not among parties');
  if (threshold < 1 || threshold > parties.length) throw new MpcParseError('key share: bad threshold');
  let paillier: PaillierSecretKey;
  try {
    paillier = PaillierSecretKey.decode(new Writer().u8(1).bigint(p).bigint(q).finish());
  } catch (e) {
    throw new MpcParseError('key share: bad Paillier key', { cause: e });
  }
  const share: CmpKeyShare = { curve, self, parties, threshold, secret, publicShares, publicKey, chainCode, rid, epoch, paillier, lambda, aux };
  checkShare(share);
  return share;
}

/** Consistency of a share's secret and public parts; throws MpcParseError. */
export function checkShare(s: CmpKeyShare): void {
  const c = s.curve;
  if (!c.G.multiply(s.secret).equals(s.publicShares.get(s.self)!)) throw new MpcParseError('key share: secret does not match public share');
  const first = s.parties.slice(0, s.threshold);
  let acc = c.ZERO;
  for (const j of first) acc = acc.add(mul(c, s.publicShares.get(j)!, lagrange(c, j, first)));
  if (!acc.equals(s.publicKey)) throw new MpcParseError('key share: public shares do not interpolate to the public key');
  const a = s.aux.get(s.self)!;
  if (a.N !== s.paillier.pub.N) throw new MpcParseError('key share: Paillier key does not match');
  if (crtPow(a.t, s.lambda, s.paillier.p, s.paillier.q) !== a.s) throw new MpcParseError('key share: ring-Pedersen λ does not match');
  if (c.name !== 'secp256k1' && c.name !== 'secp256r1') throw new MpcParseError('key share: curve');
}

/** Own Paillier key with its factors (CRT). */
export function ownPaillier(s: CmpKeyShare): PaillierCtx {
  const N = s.paillier.pub.N;
  return { N, N2: N * N, p: s.paillier.p, q: s.paillier.q };
}

/** Another party's Paillier public key. */
export function peerPaillier(s: CmpKeyShare, j: number): PaillierCtx {
  const a = s.aux.get(j);
  if (!a) throw new MpcError('ERR_MPC_USAGE', `no aux info for party ${j}`);
  return { N: a.N, N2: a.N * a.N };
}

/** Own ring-Pedersen parameters with λ and factors (the verifier's fast path). */
export function ownPedersen(s: CmpKeyShare): PedersenCtx {
  const a = s.aux.get(s.self)!;
  return { N: a.N, s: a.s, t: a.t, lambda: s.lambda, p: s.paillier.p, q: s.paillier.q };
}

export function peerPedersen(s: CmpKeyShare, j: number): PedersenCtx {
  const a = s.aux.get(j);
  if (!a) throw new MpcError('ERR_MPC_USAGE', `no aux info for party ${j}`);
  return { N: a.N, s: a.s, t: a.t };
}

export function fingerprintHex(s: CmpKeyShare): string {
  return bytesToHex(shareFingerprint(s));
}
