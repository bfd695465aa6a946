/**
 * Message bodies of the CMP protocols (keygen, refresh, presign, sign): one strict codec per body,
 * built on codec.ts `Writer`/`Reader`. Every body starts with a version byte and a tag naming the
 * body, so a body of one round can never be read as another.
 *
 * Parsing is strict: wrong version or tag, wrong lengths, trailing bytes, a point off the curve
 * or the identity, a scalar not reduced, an integer larger than its field allows. Decoding
 * happens inside the protocol, where a parse failure becomes an `MpcAbort` naming the sender
 * (`asSender`), so a malformed body is blamed like any other bad message.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { Reader, Writer } from '../codec.ts';
import type { Curve, Point } from '../curve.ts';
import { MpcAbort, MpcError, MpcParseError } from '../errors.ts';

/** Version byte at the start of every CMP body. */
export const BODY_VERSION = 1;

/** Largest Paillier modulus we accept (bits); N² ciphertexts are at most twice that. */
export const MAX_MODULUS_BITS = 4096;
/** Byte cap for a ciphertext (an element of Z_{N²}). */
export const MAX_CIPHERTEXT_BYTES = (2 * MAX_MODULUS_BITS) / 8;
/** Byte cap for any ZK-proof integer (responses are at most |N̂|+ℓ+ε+|q| bits; generous). */
export const MAX_INT_BYTES = 1200;

/** Body tags; each round's body has its own. */
export const TAG = {
  keygen1: 0x11,
  keygen2: 0x12,
  keygen3b: 0x13,
  keygen3d: 0x14,
  presign1b: 0x21,
  presign1d: 0x22,
  presign2b: 0x23,
  presign2d: 0x24,
  presign3b: 0x25,
  presign3d: 0x26,
  presign4b: 0x27,
  presign4d: 0x28,
  sign1b: 0x31,
  sign2b: 0x32,
  sign2d: 0x33,
} as const;

export function bodyWriter(tag: number): Writer {
  return new Writer().u8(BODY_VERSION).u8(tag);
}

export function bodyReader(bytes: Uint8Array, tag: number): Reader {
  const r = new Reader(bytes);
  const v = r.u8();
  if (v !== BODY_VERSION) throw new MpcParseError(`body version ${v}`);
  const t = r.u8();
  if (t !== tag) throw new MpcParseError(`body tag ${t}, expected ${tag}`);
  return r;
}

export function writePoint(w: Writer, c: Curve, p: Point): Writer {
  return w.fixed(c.encodePoint(p));
}
export function readPoint(r: Reader, c: Curve): Point {
  return c.decodePoint(r.fixed(33));
}
export function writeScalar(w: Writer, c: Curve, s: bigint): Writer {
  return w.fixed(c.encodeScalar(s));
}
export function readScalar(r: Reader, c: Curve, nonZero = false): bigint {
  return c.decodeScalar(r.fixed(32), nonZero);
}
export function readInt(r: Reader): bigint {
  return r.bigint(MAX_INT_BYTES);
}
export function readSInt(r: Reader): bigint {
  return r.sbigint(MAX_INT_BYTES);
}
export function readCipher(r: Reader): bigint {
  return r.bigint(MAX_CIPHERTEXT_BYTES);
}

/**
 * Runs a body decoder/check for the message of `sender`; any parse failure becomes an `MpcAbort`
 * naming that sender (identifiable abort also covers malformed bytes).
 */
export function asSender<T>(sender: number, what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof MpcAbort) throw e;
    if (e instanceof MpcParseError) throw new MpcAbort('ERR_MPC_PARSE', [sender], `${what}: ${e.message}`, { cause: e });
    if (e instanceof MpcError) throw new MpcAbort(e.code === 'ERR_MPC_USAGE' ? 'ERR_MPC_PROOF' : e.code, [sender], `${what}: ${e.message}`, { cause: e });
    // Arithmetic on hostile numbers (e.g. a non-invertible value) must not crash the party.
    if (e instanceof RangeError || e instanceof TypeError)
      throw new MpcAbort('ERR_MPC_PARSE', [sender], `${what}: ${e.message}`, { cause: e });
    throw e;
  }
}

/** Throws an abort naming `sender` unless `ok`. */
export function check(ok: boolean, code: 'ERR_MPC_PROOF' | 'ERR_MPC_COMMITMENT' | 'ERR_MPC_INCONSISTENT_BROADCAST' | 'ERR_MPC_SHARE' | 'ERR_MPC_PARSE', sender: number, what: string): void {
  if (!ok) throw new MpcAbort(code, [sender], what);
}

/** SHA-256 over length-prefixed parts (domain separated by a label). */
export function hashParts(label: string, ...parts: Uint8Array[]): Uint8Array {
  const w = new Writer().string(label);
  for (const p of parts) w.bytes(p);
  return sha256(w.finish());
}

export function u8(n: number): Uint8Array {
  return Uint8Array.of(n);
}

/** Lagrange coefficient at 0 of party `i` among `set` (mod q). CMP §1.2.8 / standard Shamir. */
export function lagrange(c: Curve, i: number, set: readonly number[]): bigint {
  let num = 1n;
  let den = 1n;
  for (const j of set) {
    if (j === i) continue;
    num = c.mod(num * BigInt(j));
    den = c.mod(den * BigInt(j - i));
  }
  return c.mod(num * c.inv(den));
}

/** Evaluates a polynomial (coefficients low to high) at x, mod q. */
export function evalPoly(c: Curve, coeffs: readonly bigint[], x: number): bigint {
  let acc = 0n;
  for (let k = coeffs.length - 1; k >= 0; k--) acc = c.mod(acc * BigInt(x) + coeffs[k]!);
  return acc;
}

/** Evaluates a committed polynomial (Feldman: points A_k = a_k·G) at x. */
export function evalPolyPoints(c: Curve, coeffs: readonly Point[], x: number): Point {
  let acc = c.ZERO;
  for (let k = coeffs.length - 1; k >= 0; k--) {
    acc = acc.equals(c.ZERO) ? acc : acc.multiplyUnsafe(BigInt(x));
    acc = acc.add(coeffs[k]!);
  }
  return acc;
}

/** Variable-time scalar multiplication for public values only (verification). */
export function mulPub(c: Curve, p: Point, k: bigint): Point {
  const s = c.mod(k);
  return s === 0n || p.equals(c.ZERO) ? c.ZERO : p.multiplyUnsafe(s);
}

/** Scalar multiplication that accepts 0 and any integer (noble refuses 0). */
export function mul(c: Curve, p: Point, k: bigint): Point {
  const s = c.mod(k);
  return s === 0n ? c.ZERO : p.multiply(s);
}
