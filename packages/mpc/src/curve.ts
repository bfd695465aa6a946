/**
 * One generic view of the prime-order Weierstrass curves the ECDSA protocols run on
 * (secp256k1, secp256r1), over `@noble/curves`. CMP is written once against `Curve`.
 *
 * Encodings are strict: points are SEC1 compressed (33 bytes) and never the identity; scalars are
 * 32 bytes big-endian and reduced (< n). Anything else is `MpcParseError`.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p256 } from '@noble/curves/nist.js';
import { MpcParseError } from './errors.ts';
import { bigintToFixed, bytesToBigint } from './codec.ts';

export type EcdsaCurveName = 'secp256k1' | 'secp256r1';

/** The point type noble gives both curves (a projective Weierstrass point). */
export type Point = ReturnType<typeof secp256k1.Point.fromHex>;

export interface Curve {
  readonly name: EcdsaCurveName;
  /** Group order q (the paper's q). */
  readonly n: bigint;
  readonly G: Point;
  readonly ZERO: Point;
  /** The noble ECDSA object for this curve (verification in tests, signature helpers). */
  readonly ecdsa: typeof secp256k1;
  mod(a: bigint): bigint;
  inv(a: bigint): bigint;
  /** Uniform non-zero scalar from the given random source. */
  randomScalar(rand?: (n: number) => Uint8Array): bigint;
  encodeScalar(s: bigint): Uint8Array;
  /** Strict: 32 bytes, < n. `nonZero` also refuses 0. */
  decodeScalar(b: Uint8Array, nonZero?: boolean): bigint;
  encodePoint(p: Point): Uint8Array;
  /** Strict: 33-byte compressed, on the curve, not the identity. */
  decodePoint(b: Uint8Array): Point;
  /** x-coordinate of a point reduced mod n (ECDSA's r). */
  xModN(p: Point): bigint;
}

import { randomBytes } from 'node:crypto';

function make(name: EcdsaCurveName, c: typeof secp256k1): Curve {
  const P = c.Point;
  const n = P.Fn.ORDER;
  const mod = (a: bigint): bigint => {
    const r = a % n;
    return r < 0n ? r + n : r;
  };
  return {
    name,
    n,
    G: P.BASE,
    ZERO: P.ZERO,
    ecdsa: c,
    mod,
    inv: (a) => P.Fn.inv(mod(a)),
    randomScalar(rand = (k) => randomBytes(k)) {
      for (;;) {
        // 48 bytes then reduce: bias below 2^-128 (RFC 9380 §5 style).
        const s = mod(bytesToBigint(rand(48)));
        if (s !== 0n) return s;
      }
    },
    encodeScalar: (s) => bigintToFixed(mod(s), 32),
    decodeScalar(b, nonZero = false) {
      if (b.length !== 32) throw new MpcParseError(`scalar of ${b.length} bytes`);
      const s = bytesToBigint(b);
      if (s >= n) throw new MpcParseError('scalar not reduced');
      if (nonZero && s === 0n) throw new MpcParseError('zero scalar');
      return s;
    },
    encodePoint: (p) => p.toBytes(true),
    decodePoint(b) {
      if (b.length !== 33) throw new MpcParseError(`point of ${b.length} bytes`);
      let p: Point;
      try {
        p = P.fromBytes(b);
        p.assertValidity();
      } catch (e) {
        throw new MpcParseError('point not on curve', { cause: e });
      }
      if (p.equals(P.ZERO)) throw new MpcParseError('identity point');
      return p;
    },
    xModN: (p) => mod(p.toAffine().x),
  };
}

export const SECP256K1: Curve = make('secp256k1', secp256k1);
export const SECP256R1: Curve = make('secp256r1', p256 as unknown as typeof secp256k1);

export function curveByName(name: EcdsaCurveName): Curve {
  return name === 'secp256k1' ? SECP256K1 : SECP256R1;
}
