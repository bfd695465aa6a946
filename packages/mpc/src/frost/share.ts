/**
 * A party's FROST(Ed25519) key share and its byte encoding, and the single-use signing nonce.
 *
 * The share carries the public package of RFC 9591 Appendix C (the group's Feldman commitments,
 * whose constant term is the group public key, and every party's verifying share Y_j = s_j·G),
 * the HD chain code agreed at key generation, and the party's secret signing share s_self.
 *
 * Encoding (version 1, big-endian lengths, every field fixed or counted):
 *   u8 version=1 | u8 self | u8 n | n × u8 party index (ascending) | u8 t |
 *   32 publicKey | 32 chainCode | t × 32 commitments | n × 32 verifyingShares | 32 signing share (LE)
 * `decodeFrostShare` is strict on structure and scalars and checks that `commitments[0]` is the
 * public key; elements stay bytes and are decoded by whoever uses them (signing needs only the
 * public key on its fast path). `validateFrostShare` runs the full algebraic check.
 */
import { Reader, Writer } from '../codec.ts';
import { MpcAbort, MpcError, MpcParseError, MpcUsageError } from '../errors.ts';
import { equalBytes, type ProtocolMessage } from '../round.ts';
import { baseMul } from './fast.ts';
import { G, decodePoint, decodeScalar, encodeScalar, sha256, vssEval, type EdPoint } from './suite.ts';

export const FROST_SHARE_VERSION = 1;

export interface FrostKeyShare {
  readonly self: number;
  /** Every holder of a share of this key, ascending (the share x-coordinates). */
  readonly parties: readonly number[];
  /** t: how many parties sign (the polynomial has degree t-1). */
  readonly threshold: number;
  /** Group public key (32-byte RFC 8032 encoding) = commitments[0]. */
  readonly publicKey: Uint8Array;
  /** HD chain code agreed at key generation (32 bytes), see HD.md. */
  readonly chainCode: Uint8Array;
  /** Group Feldman commitments C_0..C_{t-1} (RFC 9591 Appendix C.2). */
  readonly commitments: readonly Uint8Array[];
  /** Y_j = s_j·G for each entry of `parties`, same order. */
  readonly verifyingShares: readonly Uint8Array[];
  /** s_self, the secret signing share. Never logged, never leaves the enclave unsealed. */
  readonly secret: bigint;
}

export function encodeFrostShare(k: FrostKeyShare): Uint8Array {
  const w = new Writer().u8(FROST_SHARE_VERSION).u8(k.self).u8(k.parties.length);
  for (const p of k.parties) w.u8(p);
  w.u8(k.threshold).fixed(k.publicKey).fixed(k.chainCode);
  for (const c of k.commitments) w.fixed(c);
  for (const y of k.verifyingShares) w.fixed(y);
  return w.fixed(encodeScalar(k.secret)).finish();
}

export function decodeFrostShare(bytes: Uint8Array): FrostKeyShare {
  const r = new Reader(bytes);
  const v = r.u8();
  if (v !== FROST_SHARE_VERSION) throw new MpcParseError(`unknown FROST share version ${v}`);
  const self = r.u8();
  const n = r.u8();
  const parties: number[] = [];
  for (let i = 0; i < n; i++) parties.push(r.u8());
  checkParties(parties);
  if (!parties.includes(self)) throw new MpcParseError('share: self not among parties');
  const t = r.u8();
  if (t < 2 || t > n) throw new MpcParseError(`share: threshold ${t} of ${n}`);
  const publicKey = r.fixed(32);
  const chainCode = r.fixed(32);
  const commitments: Uint8Array[] = [];
  for (let i = 0; i < t; i++) commitments.push(r.fixed(32));
  const verifyingShares: Uint8Array[] = [];
  for (let i = 0; i < n; i++) verifyingShares.push(r.fixed(32));
  const secret = decodeScalar(r.fixed(32), true);
  r.end();
  if (!equalBytes(commitments[0]!, publicKey)) throw new MpcParseError('share: commitments[0] is not the public key');
  return { self, parties, threshold: t, publicKey, chainCode, commitments, verifyingShares, secret };
}

export function checkParties(parties: readonly number[]): void {
  if (parties.length < 2) throw new MpcParseError('fewer than 2 parties');
  for (let i = 0; i < parties.length; i++) {
    const p = parties[i]!;
    if (p < 1 || p > 255) throw new MpcParseError(`party index ${p}`);
    if (i > 0 && p <= parties[i - 1]!) throw new MpcParseError('party indices not strictly ascending');
  }
}

/**
 * Full check of a decoded share: every element canonical and in the prime-order subgroup,
 * Y_j = Σ_k j^k C_k for every party, and s_self·G = Y_self. Throws `MpcError('ERR_MPC_SHARE')`.
 */
export function validateFrostShare(k: FrostKeyShare): void {
  let C: EdPoint[];
  try {
    C = k.commitments.map((c) => decodePoint(c));
  } catch (e) {
    throw new MpcError('ERR_MPC_SHARE', 'share: bad commitment', { cause: e });
  }
  for (let i = 0; i < k.parties.length; i++) {
    const expected = vssEval(C, k.parties[i]!);
    let y: EdPoint;
    try {
      y = decodePoint(k.verifyingShares[i]!);
    } catch (e) {
      throw new MpcError('ERR_MPC_SHARE', 'share: bad verifying share', { cause: e });
    }
    if (!y.equals(expected)) throw new MpcError('ERR_MPC_SHARE', `share: verifying share of ${k.parties[i]} does not match the commitments`);
  }
  const own = k.parties.indexOf(k.self);
  if (!G.multiply(k.secret).equals(decodePoint(k.verifyingShares[own]!)))
    throw new MpcError('ERR_MPC_SHARE', 'share: secret does not match its verifying share');
}

/**
 * A signing nonce pair (d, e) of RFC 9591 §5.1, usable exactly once: `take()` hands the
 * scalars out and wipes them, a second `take()` throws. Sign parties own theirs, so a nonce
 * can never sign two messages (RFC 9591 §4.1, §7.1: reuse reveals the signing share).
 */
export class FrostNonce {
  private d: bigint;
  private e: bigint;
  private used = false;
  /** D = d·G, E = e·G (public). */
  readonly hidingCommitment: Uint8Array;
  readonly bindingCommitment: Uint8Array;

  constructor(d: bigint, e: bigint) {
    if (d === 0n || e === 0n) throw new MpcUsageError('ERR_MPC_USAGE', 'zero nonce');
    this.d = d;
    this.e = e;
    this.hidingCommitment = baseMul(encodeScalar(d));
    this.bindingCommitment = baseMul(encodeScalar(e));
  }

  get consumed(): boolean {
    return this.used;
  }

  take(): { d: bigint; e: bigint } {
    if (this.used) throw new MpcUsageError('ERR_MPC_PRESIGNATURE_USED', 'FROST nonce already used');
    this.used = true;
    const out = { d: this.d, e: this.e };
    this.d = 0n;
    this.e = 0n;
    return out;
  }
}

const TAG_STATE = new TextEncoder().encode('cosigner/frost/key-state/v1');

/** Digest of the public part of a key share: what all holders must agree on. */
export function keyStateDigest(k: FrostKeyShare): Uint8Array {
  const w = new Writer().u8(k.parties.length);
  for (const p of k.parties) w.u8(p);
  w.u8(k.threshold).fixed(k.publicKey).fixed(k.chainCode);
  for (const c of k.commitments) w.fixed(c);
  for (const y of k.verifyingShares) w.fixed(y);
  return sha256(TAG_STATE, w.finish());
}

/** Body of a key-confirmation message (last round of keygen and refresh). */
export function confirmBody(k: FrostKeyShare): Uint8Array {
  return keyStateDigest(k);
}

/** Check every party's key confirmation against our own result; a mismatch names the sender. */
export function readConfirm(party: { readonly others: readonly number[] }, b: ReadonlyMap<number, ProtocolMessage>, mine: FrostKeyShare): void {
  const want = keyStateDigest(mine);
  for (const j of party.others) {
    const body = b.get(j)!.body;
    if (body.length !== 32) throw new MpcAbort('ERR_MPC_PARSE', [j], `malformed key confirmation from ${j}`);
    if (!equalBytes(body, want)) throw new MpcAbort('ERR_MPC_INCONSISTENT_BROADCAST', [j], `party ${j} confirms a different key state`);
  }
}
