/**
 * Non-hardened HD derivation of a threshold ECDSA key, computed from public data only:
 * BIP32 "CKDpub" for secp256k1, SLIP-10 public derivation for secp256r1 (same formula; SLIP-10
 * retries with 0x01 ‖ IR ‖ i when IL ≥ n, where BIP32 would skip the index).
 *
 * Each step: I = HMAC-SHA512(c, ser_P(K) ‖ ser32(i)), K' = K + IL·G, c' = IR. Along a path the
 * derived key is P + t·G with t = Σ IL; the signers fold t into the online round (sign.ts) so
 * one presignature pool of the master key serves every path.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';
import type { Curve, Point } from '../curve.ts';
import { bytesToBigint } from '../codec.ts';
import { MpcError } from '../errors.ts';

/** First hardened index; only indices below it are derivable without the private key. */
export const HARDENED = 0x80000000;

export interface Derived {
  /** The derived public key P + t·G. */
  readonly publicKey: Point;
  /** t = Σ IL mod n along the path. */
  readonly tweak: bigint;
  /** Chain code of the derived node. */
  readonly chainCode: Uint8Array;
}

function ser32(i: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, i >>> 0);
  return b;
}

/** Derives along `path` (non-hardened indices only). The empty path returns the master key, t = 0. */
export function deriveEcdsa(c: Curve, publicKey: Point | Uint8Array, chainCode: Uint8Array, path: readonly number[]): Derived {
  let K = publicKey instanceof Uint8Array ? c.decodePoint(publicKey) : publicKey;
  if (chainCode.length !== 32) throw new MpcError('ERR_MPC_USAGE', 'chain code must be 32 bytes');
  let cc = Uint8Array.from(chainCode);
  let t = 0n;
  for (const i of path) {
    if (!Number.isInteger(i) || i < 0 || i >= HARDENED) throw new MpcError('ERR_MPC_USAGE', `index ${i} is hardened or invalid: only non-hardened derivation is possible for a threshold key`);
    let data = new Uint8Array([...c.encodePoint(K), ...ser32(i)]);
    for (;;) {
      const I = hmac(sha512, cc, data);
      const IL = bytesToBigint(I.subarray(0, 32));
      const IR = I.subarray(32);
      const child = IL < c.n ? K.add(c.G.multiply(IL === 0n ? 1n : IL)) : c.ZERO;
      if (IL < c.n && IL !== 0n && !child.equals(c.ZERO)) {
        K = child;
        cc = Uint8Array.from(IR);
        t = c.mod(t + IL);
        break;
      }
      if (c.name === 'secp256k1') throw new MpcError('ERR_MPC_USAGE', `BIP32: index ${i} gives an invalid child; use the next index`);
      data = new Uint8Array([1, ...IR, ...ser32(i)]);
    }
  }
  return { publicKey: K, tweak: t, chainCode: cc };
}

/** Parses "44/60/0/0/0" (also with a leading "m/"); hardened markers are refused. */
export function parsePath(s: string): number[] {
  const t = s.trim().replace(/^m\/?/, '');
  if (t === '') return [];
  return t.split('/').map((p) => {
    if (!/^\d+$/.test(p)) throw new MpcError('ERR_MPC_USAGE', `bad path element '${p}' (hardened derivation is not possible for a threshold key)`);
    const n = Number(p);
    if (n >= HARDENED) throw new MpcError('ERR_MPC_USAGE', `path element ${p} is hardened`);
    return n;
  });
}
