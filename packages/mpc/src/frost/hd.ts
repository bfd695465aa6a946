/**
 * Non-hardened HD derivation for threshold Ed25519 keys: the project's own BIP32-style
 * construction, specified in HD.md (next to this file) and pinned by
 * test/vectors/ed25519-hd.json.
 *
 * For a parent public key A (RFC 8032 encoding, a point of the prime-order subgroup) with chain
 * code c and a child index i (0 <= i < 2^31; hardened indices need the private key and are
 * refused):
 *
 *   I      = HMAC-SHA512(key = c, data = A || ser32(i))      (ser32: 4 bytes big-endian)
 *   t_i    = LE(I[0..32]) mod L                              (refused if 0)
 *   A'     = A + t_i·G                                        (refused if the identity)
 *   c'     = I[32..64]
 *
 * Along a path i_1/…/i_k the tweaks add up: t = Σ t_i mod L and the derived key is A + t·G.
 * A FROST key with shares s_j (Σ_{j∈S} λ_j^S s_j = s for every signer set S of size >= t) signs
 * for A + t·G with shares s_j + t, because Σ_{j∈S} λ_j^S = 1 for every S (Lagrange interpolation
 * of the constant polynomial 1 at 0); the verifying shares move the same way,
 * Y_j' = Y_j + t·G, and the Feldman commitments become (C_0 + t·G, C_1, …, C_{t-1}). So the tweak
 * is applied once for the group and signing needs no extra round.
 */
import { createHmac } from 'node:crypto';
import { MpcUsageError } from '../errors.ts';
import { equalBytes } from '../round.ts';
import * as fast from './fast.ts';
import { L, encodeScalar, leToBigint, mod, toHex } from './suite.ts';

/** 2^31: first hardened index. */
export const HARDENED = 0x80000000;

/**
 * Parse a BIP32-style path: `m/44/501/0/0/0`, `44/501/0/0/0`, `m` or `` (the master key).
 * Only non-hardened indices (0 <= i < 2^31, decimal, no leading zeros); hardened markers
 * (`'`, `h`, `H`) are refused: hardened derivation needs the private key.
 */
export function parsePath(path: string): number[] {
  let p = path.trim();
  if (p === '' || p === 'm' || p === 'M') return [];
  if (p.startsWith('m/') || p.startsWith('M/')) p = p.slice(2);
  return p.split('/').map((s) => {
    if (/^\d+['hH]$/.test(s)) throw new MpcUsageError('ERR_MPC_USAGE', `hardened index ${s}: threshold keys derive non-hardened children only`);
    if (!/^(0|[1-9]\d{0,9})$/.test(s)) throw new MpcUsageError('ERR_MPC_USAGE', `invalid path component "${s}"`);
    const i = Number(s);
    if (i >= HARDENED) throw new MpcUsageError('ERR_MPC_USAGE', `path index ${s} is hardened (>= 2^31)`);
    return i;
  });
}

export function formatPath(path: readonly number[]): string {
  return ['m', ...path.map(String)].join('/');
}

export interface Ed25519Derivation {
  /** Derived public key A + t·G (32 bytes). */
  readonly publicKey: Uint8Array;
  readonly chainCode: Uint8Array;
  /** The summed tweak t (mod L); public, since anyone with A and c can compute it. */
  readonly tweak: bigint;
  readonly path: readonly number[];
}

const IDENTITY_BYTES = (() => {
  const b = new Uint8Array(32);
  b[0] = 1;
  return b;
})();

/** One CKDpub step (see the module comment) on an encoded, already validated parent key. */
export function deriveChild(Abytes: Uint8Array, chainCode: Uint8Array, index: number): { Abytes: Uint8Array; chainCode: Uint8Array; t: bigint } {
  if (!Number.isInteger(index) || index < 0 || index >= HARDENED) throw new MpcUsageError('ERR_MPC_USAGE', `index ${index} is not a non-hardened index`);
  const data = new Uint8Array(36);
  data.set(Abytes, 0);
  new DataView(data.buffer).setUint32(32, index);
  const I = new Uint8Array(createHmac('sha512', chainCode).update(data).digest());
  const t = mod(leToBigint(I.subarray(0, 32)));
  // Probability ~2^-252 each; BIP32 skips to the next index, we refuse so a path names one key.
  if (t === 0n) throw new MpcUsageError('ERR_MPC_USAGE', `index ${index} gives a zero tweak; use another index`);
  const child = fast.add(Abytes, fast.baseMul(encodeScalar(t)));
  if (equalBytes(child, IDENTITY_BYTES)) throw new MpcUsageError('ERR_MPC_USAGE', `index ${index} gives the identity; use another index`);
  return { Abytes: child, chainCode: I.slice(32, 64), t };
}

// Derivations are pure functions of public data; signing the same path again skips the point
// arithmetic. Bounded so a stream of distinct paths cannot grow memory.
const cache = new Map<string, Ed25519Derivation>();
const CACHE_MAX = 4096;

/**
 * Derive (publicKey, chainCode) along `path` (a string as for `parsePath`, or indices).
 * `trustedKey` skips the prime-order check of `publicKey` (for a key taken from our own
 * validated share, not from outside).
 */
export function deriveEd25519(publicKey: Uint8Array, chainCode: Uint8Array, path: string | readonly number[], trustedKey = false): Ed25519Derivation {
  if (chainCode.length !== 32) throw new MpcUsageError('ERR_MPC_USAGE', 'chain code must be 32 bytes');
  const idx = typeof path === 'string' ? parsePath(path) : [...path];
  const key = `${toHex(publicKey)}:${toHex(chainCode)}:${idx.join('/')}`;
  const hit = cache.get(key);
  if (hit) return { ...hit, publicKey: hit.publicKey.slice(), chainCode: hit.chainCode.slice() };
  if (!trustedKey && !fast.isValidElement(publicKey)) throw new MpcUsageError('ERR_MPC_USAGE', 'public key is not a valid Ed25519 prime-order element');
  let Ab: Uint8Array = Uint8Array.from(publicKey);
  let c: Uint8Array = Uint8Array.from(chainCode);
  let t = 0n;
  for (const i of idx) {
    const step = deriveChild(Ab, c, i);
    Ab = step.Abytes;
    c = step.chainCode;
    t = (t + step.t) % L;
  }
  const out: Ed25519Derivation = { publicKey: Ab, chainCode: c, tweak: t, path: idx };
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(key, out);
  return { ...out, publicKey: Ab.slice(), chainCode: c.slice() };
}

/** For benchmarks and tests that must measure or exercise the uncached path. */
export function clearDerivationCache(): void {
  cache.clear();
}
