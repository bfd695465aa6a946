/**
 * CMP online signing (eprint 2021/060 Fig. 8, "ECDSA signing"): one round. The presignature is
 * first re-randomized for this request (Groth-Shoup, `rerandomize`: R' = ρ·R with ρ a hash of
 * the key, the presignature, the digest and the tweak). Each signer broadcasts
 * σ_i = ρ^{-1}·(k_i·(m + r'·t) + r'·χ_i) (t: the HD tweak, see `signShare`), everyone sums,
 * verifies (r', σ) under the derived key P + t·G before releasing it, normalizes to low S and
 * computes the recovery id.
 *
 * If the combined signature does not verify, a second round runs the paper's identification
 * (Fig. 8, "Otherwise"): each party j broadcasts Ĥ_j = K_j^{x_j}·ν^{N_j} (an encryption of
 * k_j·x_j) with Π^mul*, and proves with Π^dec that (m + r't)·dec(K_j) + r'·dec(Ĥ_j · Π_l D̂_{j,l} F̂_{l,j}^{-1})
 * ≡ ρ·σ_j mod q, over the centred plaintexts (ρ is public, so the un-scaled share's ciphertexts serve as is).
 * Every party whose proof fails is named.
 */
import type { Curve, Point } from '../curve.ts';
import { MpcAbort, MpcError } from '../errors.ts';
import { RoundParty, equalBytes, type ProtocolMessage, type Step } from '../round.ts';
import { mod, modInv, randomUnit, type RandomSource } from '../arith/bigint.ts';
import { randomBytes } from 'node:crypto';
import { Transcript } from './proofs/transcript.ts';
import { isUnitN2, powN2, type PedersenCtx } from './proofs/common.ts';
import { proveMulStar, verifyMulStar, encodeMulStarProof, decodeMulStarProof } from './proofs/mul.ts';
import { proveDec, verifyDec, encodeDecProof, decodeDecProof, type DecTerm } from './proofs/dec.ts';
import { TAG, asSender, bodyReader, bodyWriter, check, mulPub, readCipher, readScalar, writeScalar } from './messages.ts';
import { ownPaillier, ownPedersen, peerPaillier, peerPedersen, shareFingerprint, type CmpKeyShare } from './keyshare.ts';
import { additiveShares, checkSigners, digestScalar, rerandomize, signShare, type CmpPresignature, type Rerandomized } from './presign.ts';

/** A finished ECDSA signature: low-S, with recovery id and DER encoding. */
export interface EcdsaSignature {
  readonly r: bigint;
  readonly s: bigint;
  /** Bit 0: parity of R's y (after low-S normalization); bit 1: R.x ≥ n. */
  readonly recoveryId: number;
  readonly der: Uint8Array;
}

export interface CmpSignOptions {
  readonly session: Uint8Array;
  readonly share: CmpKeyShare;
  readonly presignature: CmpPresignature;
  /** The 32-byte digest to sign (not hashed again). */
  readonly digest: Uint8Array;
  /** HD tweak t (from `deriveEcdsa`); 0n for the master key. */
  readonly tweak?: bigint;
  readonly signers: readonly number[];
  readonly rand?: RandomSource;
}

export function cmpSign(o: CmpSignOptions): CmpSignParty {
  return new CmpSignParty(o);
}

/** Master public keys with a precomputed multiplication table, by encoding (bounded). */
const tables = new Map<string, Point>();
const MAX_TABLES = 256;

function withTable(c: Curve, X: Point): Point {
  const k = `${c.name}:${X.toHex(true)}`;
  let t = tables.get(k);
  if (!t) {
    t = c.decodePoint(c.encodePoint(X));
    t.precompute(8, false);
    if (tables.size >= MAX_TABLES) tables.delete(tables.keys().next().value!);
    tables.set(k, t);
  }
  return t;
}

/**
 * Verifies (r, s) over e under the derived key X + t·G (SEC 1 v2 §4.1.4) as
 * ((e + r·t)/s)·G + (r/s)·X, so both multiplications use precomputed tables (G's, and one per
 * master key X, cached by its encoding whichever share object it comes from). Every input is
 * public (signature, digest, keys, tweak), so the multiplications are variable time.
 */
export function ecdsaVerifyDerived(c: Curve, X: Point, t: bigint, e: bigint, r: bigint, s: bigint): boolean {
  const R = ecdsaNoncePoint(c, X, t, e, r, s);
  return R !== undefined && c.xModN(R) === r;
}

/**
 * The point R = ((e + r·t)/s)·G + (r/s)·X that a valid (r, s) over e under X + t·G was made
 * with (its x is r mod n), or undefined when r or s is out of range or R is the identity. Its y
 * parity and x overflow are what the recovery id states.
 */
export function ecdsaNoncePoint(c: Curve, X: Point, t: bigint, e: bigint, r: bigint, s: bigint): Point | undefined {
  if (r <= 0n || r >= c.n || s <= 0n || s >= c.n) return undefined;
  const w = c.inv(s);
  const a = c.mod((e + r * t) * w);
  const b = c.mod(r * w);
  const P = mulPub(c, c.G, a).add(mulPub(c, withTable(c, X), b));
  return P.equals(c.ZERO) ? undefined : P;
}

/** Verifies (r, s) over e under Q: (e/s·G + r/s·Q).x ≡ r. */
export function ecdsaVerify(c: Curve, Q: Point, e: bigint, r: bigint, s: bigint): boolean {
  if (r <= 0n || r >= c.n || s <= 0n || s >= c.n) return false;
  const w = c.inv(s);
  const P = mulPub(c, c.G, e * w).add(mulPub(c, Q, r * w));
  if (P.equals(c.ZERO)) return false;
  return c.xModN(P) === r;
}

function derInt(v: bigint): string {
  let hex = v.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  if (parseInt(hex.slice(0, 2), 16) >= 0x80) hex = '00' + hex;
  return '02' + (hex.length / 2).toString(16).padStart(2, '0') + hex;
}

/** DER `SEQUENCE { INTEGER r, INTEGER s }` (X9.62 / RFC 3279); r, s < 2^256 keep lengths short-form. */
export function derSignature(r: bigint, s: bigint): Uint8Array {
  const body = derInt(r) + derInt(s);
  return new Uint8Array(Buffer.from('30' + (body.length / 2).toString(16).padStart(2, '0') + body, 'hex'));
}

/** Low-S normalization and recovery id for a signature whose nonce point is R. */
export function finishSignature(c: Curve, R: Point, r: bigint, s: bigint): EcdsaSignature {
  const a = R.toAffine();
  let rec = (a.y & 1n ? 1 : 0) | (a.x >= c.n ? 2 : 0);
  if (s > c.n >> 1n) {
    s = c.n - s;
    rec ^= 1;
  }
  return { r, s, recoveryId: rec, der: derSignature(r, s) };
}

export class CmpSignParty extends RoundParty<EcdsaSignature> {
  private readonly c: Curve;
  private readonly share: CmpKeyShare;
  private readonly pre: CmpPresignature;
  private readonly digest: Uint8Array;
  private readonly tweak: bigint;
  private readonly rand: RandomSource;
  private readonly fp: Uint8Array;
  /** The presignature re-randomized for this (digest, tweak): R' and ρ. */
  private readonly rr: Rerandomized;
  private sigmas = new Map<number, bigint>();

  constructor(o: CmpSignOptions) {
    const signers = checkSigners(o.share, o.signers);
    super('cmp/sign', o.session, o.share.self, signers);
    const p = o.presignature;
    this.fp = shareFingerprint(o.share);
    if (!equalBytes(p.keyFingerprint, this.fp)) throw new MpcError('ERR_MPC_USAGE', 'presignature was made with another key share (or epoch)');
    if (p.self !== o.share.self || p.signers.length !== signers.length || p.signers.some((j, i) => j !== signers[i]))
      throw new MpcError('ERR_MPC_USAGE', 'presignature belongs to another signing set');
    if (p.curve.name !== o.share.curve.name) throw new MpcError('ERR_MPC_USAGE', 'curve mismatch');
    this.c = o.share.curve;
    this.share = o.share;
    this.pre = p;
    this.digest = Uint8Array.from(o.digest);
    digestScalar(this.c, this.digest);
    this.tweak = this.c.mod(o.tweak ?? 0n);
    this.rand = o.rand ?? ((k) => randomBytes(k));
    this.rr = rerandomize(p, this.digest, this.tweak);
  }

  private tr(label: string, prover: number, verifier: number): Transcript {
    return Transcript.bound(`cmp/sign/${label}`, this.session, prover)
      .append('ctx', this.fp).append('presig', this.pre.session).append('index', this.pre.index)
      .append('digest', this.digest).append('tweak', this.tweak).append('verifier', verifier);
  }

  protected expects(round: number): { broadcast: boolean; direct: boolean } {
    return { broadcast: true, direct: round === 2 };
  }

  protected onStart(): Step<EcdsaSignature> {
    const sigma = signShare(this.pre, this.digest, this.tweak);
    this.sigmas.set(this.self, sigma);
    return { kind: 'send', messages: [this.msg(0, writeScalar(bodyWriter(TAG.sign1b), this.c, sigma).finish())] };
  }

  protected onRound(round: number, b: ReadonlyMap<number, ProtocolMessage>, d: ReadonlyMap<number, ProtocolMessage>): Step<EcdsaSignature> {
    if (round === 1) return this.combine(b);
    return this.identify(b, d);
  }

  private combine(b: ReadonlyMap<number, ProtocolMessage>): Step<EcdsaSignature> {
    const c = this.c;
    for (const [j, m] of b) {
      const s = asSender(j, 'sign round 1', () => {
        const r = bodyReader(m.body, TAG.sign1b);
        const v = readScalar(r, c);
        r.end();
        return v;
      });
      this.sigmas.set(j, s);
    }
    let s = 0n;
    for (const j of this.parties) s = c.mod(s + this.sigmas.get(j)!);
    const r = this.rr.r;
    // The verification recomputes the nonce point R' = ((e + r't)/s)·G + (r'/s)·X; when it is
    // the signature's, its x is r' and it is what the recovery id describes.
    const R = ecdsaNoncePoint(c, this.share.publicKey, this.tweak, digestScalar(c, this.digest), r, s);
    if (R !== undefined && c.xModN(R) === r) return { kind: 'done', output: finishSignature(c, R, r, s), messages: [] };
    return this.startIdentification();
  }

  private mPrime(): bigint {
    const c = this.c;
    return c.mod(digestScalar(c, this.digest) + this.rr.r * this.tweak);
  }

  /**
   * The Π^dec statement for σ_j under N_j, from public data and Ĥ_j: ρ·σ_j ≡ (m + r'·t)·k̃_j +
   * r'·χ̃_j (mod q) for the centred plaintexts k̃_j of K_j and χ̃_j of Ĥ_j·Π_l D̂_{j,l}·F̂_{l,j}^{-1}.
   * Two terms, not the one ciphertext K_j^{m+r't}·(…)^{r'}: its plaintext could exceed N_j/2 (dec.ts).
   */
  private sigmaCipher(j: number, Hh: bigint): DecTerm[] {
    const Nj = j === this.self ? ownPaillier(this.share) : peerPaillier(this.share, j);
    let U = Hh;
    for (const l of this.parties) {
      if (l === j) continue;
      U = mod(U * this.pre.Dhat.get(`${j},${l}`)!, Nj.N2);
      U = mod(U * modInv(this.pre.Fhat.get(`${l},${j}`)!, Nj.N2), Nj.N2);
    }
    return [{ C: this.pre.K.get(j)!, a: this.mPrime() }, { C: U, a: this.rr.r }];
  }

  /** ρ·σ_j mod q: what σ_j's ciphertext must decrypt to (mod q). */
  private scaled(j: number): bigint {
    return this.c.mod(this.rr.rho * this.sigmas.get(j)!);
  }

  private startIdentification(): Step<EcdsaSignature> {
    const c = this.c;
    const me = ownPaillier(this.share);
    const { x, X } = additiveShares(this.share, this.parties);
    const rho = randomUnit(me.N, this.rand);
    const Kself = this.pre.K.get(this.self)!;
    const Hh = mod(powN2(me, Kself, x) * powN2(me, rho, me.N), me.N2);
    const S = this.sigmaCipher(this.self, Hh);
    const wit = S.map((term) => { const { m, rho } = this.share.paillier.decryptWithNonce(term.C); return { y: m, rho }; });
    const out: ProtocolMessage[] = [{ ...this.msg(0, bodyWriter(TAG.sign2b).bigint(Hh).finish()), round: 2 }];
    for (const j of this.others) {
      const P = peerPedersen(this.share, j);
      const pm = proveMulStar(this.tr('mulstar', this.self, j), c, me, P, Kself, Hh, X.get(this.self)!, x, rho, this.rand);
      const pd = proveDec(this.tr('dec', this.self, j), c.n, me, P, S, this.scaled(this.self), wit, this.rand);
      out.push({ ...this.msg(j, bodyWriter(TAG.sign2d).bytes(encodeMulStarProof(pm)).bytes(encodeDecProof(pd)).finish()), round: 2 });
    }
    return { kind: 'send', messages: out };
  }

  /** The checks verifier `v` runs on party j's identification bodies (Fig. 8); throws an MpcAbort naming j. */
  private checkIdentification(j: number, v: number, Pv: PedersenCtx, X: ReadonlyMap<number, Point>, bBody: Uint8Array, dBody: Uint8Array): void {
    const c = this.c;
    const Nj = peerPaillier(this.share, j);
    asSender(j, 'sign identification', () => {
      const r = bodyReader(bBody, TAG.sign2b);
      const Hh = readCipher(r);
      r.end();
      const rd = bodyReader(dBody, TAG.sign2d);
      const pm = decodeMulStarProof(rd.bytes());
      const pd = decodeDecProof(rd.bytes());
      rd.end();
      check(isUnitN2(Hh, Nj), 'ERR_MPC_PARSE', j, 'invalid ciphertext');
      check(verifyMulStar(this.tr('mulstar', j, v), c, Nj, Pv, this.pre.K.get(j)!, Hh, X.get(j)!, pm), 'ERR_MPC_PROOF', j, 'Π^mul* failed');
      check(verifyDec(this.tr('dec', j, v), c.n, Nj, Pv, this.sigmaCipher(j, Hh), this.scaled(j), pd), 'ERR_MPC_PROOF', j, 'Π^dec: σ_j is not what its ciphertexts say');
    });
  }

  /**
   * Verifiable complaint (`Party.checkComplaint`): re-runs the identification checks the
   * complainer ran on sender k's round-2 messages to it (shown with k's signature), with public
   * data only (the σ_j every party holds after the echo, the presignature's ciphertexts, the
   * complainer's ring-Pedersen parameters).
   */
  checkComplaint(complainer: number, messages: readonly ProtocolMessage[]): number | undefined {
    const k = messages[0]?.from;
    if (k === undefined || k === complainer || !this.parties.includes(k) || !this.parties.includes(complainer)) return undefined;
    if (messages.some((m) => m.from !== k || m.round !== 2 || (m.to !== 0 && m.to !== complainer)) || this.round < 2) return undefined;
    const bm = messages.find((m) => m.to === 0);
    const dm = messages.find((m) => m.to === complainer);
    if (!bm || !dm) return complainer;
    const Pv = complainer === this.self ? ownPedersen(this.share) : peerPedersen(this.share, complainer);
    try {
      this.checkIdentification(k, complainer, Pv, additiveShares(this.share, this.parties).X, bm.body, dm.body);
      return complainer;
    } catch (e) {
      if (e instanceof MpcAbort && e.culprits.includes(k)) return k;
      throw e;
    }
  }

  private identify(b: ReadonlyMap<number, ProtocolMessage>, d: ReadonlyMap<number, ProtocolMessage>): Step<EcdsaSignature> {
    const myPed = ownPedersen(this.share);
    const { X } = additiveShares(this.share, this.parties);
    const culprits: number[] = [];
    for (const j of this.others) {
      try {
        this.checkIdentification(j, this.self, myPed, X, b.get(j)!.body, d.get(j)!.body);
      } catch (err) {
        if (err instanceof MpcAbort) culprits.push(j);
        else throw err;
      }
    }
    if (culprits.length > 0) throw new MpcAbort('ERR_MPC_SIGNATURE', culprits, 'signature did not verify; identified by Π^mul*/Π^dec');
    // Every other party proved its σ_j against the presignature's ciphertexts: nobody can be
    // blamed (e.g. this party's stored presignature differs from the one the others hold).
    throw new MpcError('ERR_MPC_UNIDENTIFIED', 'signature did not verify, but every other party proved its σ_j (Π^mul*, Π^dec); nobody is blamed');
  }
}
