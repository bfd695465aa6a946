/**
 * The FROST(Ed25519, SHA-512) ciphersuite (RFC 9591 §6.1) as the round plumbing needs it:
 * strict element/scalar codecs (§3.1 / §6.1 SerializeElement, SerializeScalar), the hash
 * functions H1..H5, Lagrange coefficients (§4.2), binding factors and the group commitment
 * (§4.4, §4.5), the challenge (§4.6) and polynomial / VSS helpers (Appendix C).
 *
 * Key generation uses noble's `ed25519_FROST.DKG.round1` (see keygen.ts). Signing does not call
 * noble's packaged `signShare` / `aggregate`: they re-decode every element with two full
 * subgroup checks each (a scalar multiplication per check), about 30× the 2 ms signing budget.
 * The formulas here are RFC 9591's, pinned by the Appendix E.1 vectors
 * (test/frost-vectors.test.ts, which runs noble's `signShare` / `aggregate` on the same vectors
 * as a cross-check).
 */
import { createHash, createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { mulAddUnsafe } from '@noble/curves/abstract/curve.js';
import { MpcParseError } from '../errors.ts';
import { isValidElement } from './fast.ts';

export const Point = ed25519.Point;
export type EdPoint = ReturnType<typeof ed25519.Point.fromBytes>;
/** Prime order L of the Ed25519 base point. */
export const L: bigint = ed25519.Point.Fn.ORDER;
export const G: EdPoint = ed25519.Point.BASE;
export const IDENTITY: EdPoint = ed25519.Point.ZERO;

/** RFC 9591 §6.1 contextString. */
export const CONTEXT = 'FROST-ED25519-SHA512-v1';

export function mod(a: bigint): bigint {
  const r = a % L;
  return r < 0n ? r + L : r;
}

/** Modular inverse by Fermat (L is prime); callers never pass 0. */
export function inv(a: bigint): bigint {
  return ed25519.Point.Fn.inv(mod(a));
}

export function leToBigint(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

/** RFC 9591 §6.1 SerializeScalar: 32 bytes little-endian. */
export function encodeScalar(s: bigint): Uint8Array {
  let v = mod(s);
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** RFC 9591 §6.1 DeserializeScalar: 32 bytes, < L. `nonZero` also refuses 0. */
export function decodeScalar(b: Uint8Array, nonZero = false): bigint {
  if (b.length !== 32) throw new MpcParseError(`scalar of ${b.length} bytes`);
  const s = leToBigint(b);
  if (s >= L) throw new MpcParseError('scalar not reduced');
  if (nonZero && s === 0n) throw new MpcParseError('zero scalar');
  return s;
}

export function encodePoint(p: EdPoint): Uint8Array {
  return p.toBytes();
}

/**
 * RFC 9591 §6.1 DeserializeElement: canonical 32-byte encoding (RFC 8032 §5.1.3, y < p, no
 * "negative zero"), not the identity, not of small order. `full` also checks membership in the
 * prime-order subgroup ([L]P = 0), which costs a scalar multiplication.
 */
export function decodePoint(b: Uint8Array, full = true): EdPoint {
  if (b.length !== 32) throw new MpcParseError(`point of ${b.length} bytes`);
  let p: EdPoint;
  try {
    p = Point.fromBytes(b, false);
  } catch (e) {
    throw new MpcParseError('not a canonical Ed25519 point', { cause: e });
  }
  if (p.is0()) throw new MpcParseError('identity point');
  if (p.isSmallOrder()) throw new MpcParseError('small-order point');
  // libsodium's check ([L]P = 0 among others) is ~10x faster than noble's isTorsionFree().
  if (full && !isValidElement(b)) throw new MpcParseError('point not in the prime-order subgroup');
  return p;
}

const P_FIELD = 2n ** 255n - 19n;

/**
 * RFC 8032 §5.1.3 canonical encoding test without decoding the point: y < p, and no "negative
 * zero" (x = 0 happens only for y = ±1, and then the sign bit must be 0, else decoding fails).
 * y = 1 is refused outright (the identity). The order-2 point (y = -1) passes this test with
 * its canonical encoding; it is small order, which `fast.isValidElement` refuses.
 */
export function isCanonicalEncoding(b: Uint8Array): boolean {
  if (b.length !== 32) return false;
  const y = Uint8Array.from(b);
  const sign = y[31]! >> 7;
  y[31] = y[31]! & 0x7f;
  const v = leToBigint(y);
  if (v >= P_FIELD || v === 1n) return false;
  return !(v === P_FIELD - 1n && sign === 1);
}

function sha512(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

const te = new TextEncoder();
const TAG_RHO = te.encode(CONTEXT + 'rho');
const TAG_NONCE = te.encode(CONTEXT + 'nonce');
const TAG_MSG = te.encode(CONTEXT + 'msg');
const TAG_COM = te.encode(CONTEXT + 'com');

/** RFC 9591 §6.1 H1 (binding factor). */
export const H1 = (m: Uint8Array): bigint => mod(leToBigint(sha512(TAG_RHO, m)));
/** RFC 9591 §6.1 H2 (challenge): undecorated SHA-512 so signatures are RFC 8032 Ed25519. */
export const H2 = (...m: Uint8Array[]): bigint => mod(leToBigint(sha512(...m)));
/** RFC 9591 §6.1 H3 (nonce generation). */
export const H3 = (m: Uint8Array): bigint => mod(leToBigint(sha512(TAG_NONCE, m)));
/** RFC 9591 §6.1 H4 (message digest inside the binding factor input). */
export const H4 = (m: Uint8Array): Uint8Array => sha512(TAG_MSG, m);
/** RFC 9591 §6.1 H5 (commitment-list digest). */
export const H5 = (m: Uint8Array): Uint8Array => sha512(TAG_COM, m);

/**
 * RFC 9591 §4.1 nonce_generate: H3(random_bytes(32) || SerializeScalar(secret)), hedged further
 * with `context` (appended; none reproduces the RFC's vectors). The secret makes a nonce
 * unpredictable under a broken RNG; the context (session id and signing context) makes two
 * signings that reuse an RNG state (a cloned enclave, a restored VM snapshot) still draw
 * different nonces unless they sign the very same thing in the very same session, so a repeated
 * random stream no longer reuses a nonce across different messages and leaks the share.
 */
export function nonceGenerate(secret: bigint, rand: (n: number) => Uint8Array, ...context: Uint8Array[]): bigint {
  for (;;) {
    const k = H3(concat(rand(32), encodeScalar(secret), ...context));
    // RFC 9591 allows 0 here but its commitment would be the identity, which §3.1 refuses.
    if (k !== 0n) return k;
  }
}

/** RFC 9591 §4.2 derive_interpolating_value: λ_i for the set `xs` (distinct, non-zero). */
export function lagrange(xs: readonly number[], i: number): bigint {
  let num = 1n;
  let den = 1n;
  const xi = BigInt(i);
  for (const x of xs) {
    if (x === i) continue;
    num = (num * BigInt(x)) % L;
    den = (den * mod(BigInt(x) - xi)) % L;
  }
  return mod(num * inv(den));
}

/** One signer's round-one output: its nonce commitments (D_i, E_i), encoded. */
export interface SignerCommitment {
  readonly id: number;
  readonly hidingBytes: Uint8Array;
  readonly bindingBytes: Uint8Array;
}

/**
 * RFC 9591 §4.3 encode_group_commitment_list and §4.4 compute_binding_factors: ρ_i for every
 * signer. `list` must be sorted by id.
 */
export function bindingFactors(publicKeyBytes: Uint8Array, list: readonly SignerCommitment[], message: Uint8Array, messageH4?: Uint8Array): Map<number, bigint> {
  const enc: Uint8Array[] = [];
  for (const c of list) enc.push(encodeScalar(BigInt(c.id)), c.hidingBytes, c.bindingBytes);
  const prefix = concat(publicKeyBytes, messageH4 ?? H4(message), H5(concat(...enc)));
  const rho = new Map<number, bigint>();
  for (const c of list) rho.set(c.id, H1(concat(prefix, encodeScalar(BigInt(c.id)))));
  return rho;
}

/** RFC 9591 §4.5 compute_group_commitment in noble arithmetic (reference; signing uses fast.ts). */
export function groupCommitment(
  publicKeyBytes: Uint8Array,
  list: readonly SignerCommitment[],
  message: Uint8Array,
): { R: EdPoint; rho: Map<number, bigint> } {
  const rho = bindingFactors(publicKeyBytes, list, message);
  let hidingSum = IDENTITY;
  const pts: EdPoint[] = [];
  const sc: bigint[] = [];
  for (const c of list) {
    hidingSum = hidingSum.add(decodePoint(c.hidingBytes));
    pts.push(decodePoint(c.bindingBytes));
    sc.push(rho.get(c.id)!);
  }
  // Public inputs only: variable-time multi-scalar multiplication is fine here.
  return { R: hidingSum.add(mulAddUnsafe(Point, pts, sc)), rho };
}

/** RFC 9591 §4.6 compute_challenge = H2(R || PK || msg). */
export function challenge(Rbytes: Uint8Array, publicKeyBytes: Uint8Array, message: Uint8Array): bigint {
  return H2(Rbytes, publicKeyBytes, message);
}

/** Horner evaluation of a polynomial with coefficients `c` (c[0] constant) at x. */
export function polyEval(c: readonly bigint[], x: number): bigint {
  const xb = BigInt(x);
  let acc = 0n;
  for (let k = c.length - 1; k >= 0; k--) acc = mod(acc * xb + c[k]!);
  return acc;
}

/** RFC 9591 Appendix C.2 vss_verify's right side: Σ_k x^k C_k (public, variable time). */
export function vssEval(commitments: readonly EdPoint[], x: number): EdPoint {
  const xb = BigInt(x);
  const sc: bigint[] = [];
  let p = 1n;
  for (let k = 0; k < commitments.length; k++) {
    sc.push(p);
    p = (p * xb) % L;
  }
  return mulAddUnsafe(Point, [...commitments], sc);
}

/** Uniform scalar in [1, L) from 64 random bytes (bias < 2^-250). */
export function randomScalar(rand: (n: number) => Uint8Array): bigint {
  for (;;) {
    const s = mod(leToBigint(rand(64)));
    if (s !== 0n) return s;
  }
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const SPKI_ED25519 = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

const keyObjects = new Map<string, KeyObject>();

/** An OpenSSL `KeyObject` for a raw 32-byte Ed25519 public key (RFC 8410 SPKI); cached. */
export function ed25519KeyObject(publicKey: Uint8Array): KeyObject {
  const id = toHex(publicKey);
  let k = keyObjects.get(id);
  if (!k) {
    k = createPublicKey({ key: Buffer.from(concat(SPKI_ED25519, publicKey)), format: 'der', type: 'spki' });
    if (keyObjects.size >= 1024) keyObjects.delete(keyObjects.keys().next().value!);
    keyObjects.set(id, k);
  }
  return k;
}

/**
 * RFC 8032 §5.1.7 verification by OpenSSL (cofactorless, canonical S): the check every output
 * signature must pass. False on any malformed input.
 */
export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return nodeVerify(null, message, ed25519KeyObject(publicKey), signature);
  } catch {
    return false;
  }
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

export function fromHex(h: string): Uint8Array {
  if (!/^([0-9a-fA-F]{2})*$/.test(h)) throw new MpcParseError('invalid hex');
  return Uint8Array.from(Buffer.from(h, 'hex'));
}
