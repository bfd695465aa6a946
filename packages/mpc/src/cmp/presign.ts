/**
 * CMP presigning (eprint 2021/060 Fig. 7, "ECDSA pre-signing", three rounds), single or batched
 * (`count` presignatures per run; every message carries one entry per presignature).
 *
 * Signers S (any T or more holders of the key) turn their Shamir shares into additive ones,
 * x_i = λ_i(S)·s_i, X_i = λ_i(S)·S_i.
 * 1. k_i, γ_i ← F_q; broadcast K_i = enc_i(k_i), G_i = enc_i(γ_i); to each j, Π^enc for K_i.
 * 2. Γ_i = γ_i·G. For each j: D_{j,i} = K_j^{γ_i}·enc_j(β), F_{j,i} = enc_i(β), and the same with
 *    x_i, β̂ (D̂, F̂); broadcast Γ_i and all of them (they are needed by everyone only if the
 *    identification step runs); to each j, Π^aff-g for both and Π^log* for (G_i, Γ_i).
 * 3. Γ = Σ Γ_j, Δ_i = k_i·Γ, δ_i = k_iγ_i + Σ (α_{i,j} − β_{i,j}), χ_i = k_i x_i + Σ (α̂ − β̂);
 *    broadcast δ_i, Δ_i; to each j, Π^log* for (K_i, Δ_i) in base Γ.
 * Output: if δ·G = Σ Δ_j then R = δ^{-1}·Γ and the presignature is (R, k_i, χ_i). Otherwise
 * (round 4, the paper's identification, Fig. 7 "Output" step 2) each party proves its δ_i: it
 * broadcasts H_i = enc_i(k_iγ_i) with Π^mul, and sends each j Π^dec that
 * U_i = H_i · Π_j D_{i,j} · F_{j,i}^{-1} decrypts to δ_i mod q; the failing provers are named.
 *
 * A presignature yields a signature share for exactly one (digest, tweak): `signShare` binds it
 * on first use and refuses any other message; the binding is part of its encoding so the caller
 * can persist it before releasing the share.
 */
import { createECDH, createHash, randomBytes } from 'node:crypto';
import { Reader, Writer } from '../codec.ts';
import { curveByName, type Curve, type Point } from '../curve.ts';
import { MpcAbort, MpcError, MpcParseError, MpcUsageError } from '../errors.ts';
import { RoundParty, equalBytes, type Party, type ProtocolMessage, type Step } from '../round.ts';
import { ctSumProducts, mod, modInv, randomSigned, randomUnit, type RandomSource } from '../arith/bigint.ts';
import { Transcript } from './proofs/transcript.ts';
import { ELL_PRIME, encWith, powN2, UnitBatch, type PaillierCtx } from './proofs/common.ts';
import { proveEnc, verifyEnc, encodeEncProof, decodeEncProof } from './proofs/enc.ts';
import { proveAffG, verifyAffG, encodeAffGProof, decodeAffGProof } from './proofs/aff-g.ts';
import { proveLogStar, verifyLogStar, encodeLogStarProof, decodeLogStarProof } from './proofs/log-star.ts';
import { proveMul, verifyMul, encodeMulProof, decodeMulProof } from './proofs/mul.ts';
import { proveDec, verifyDec, encodeDecProof, decodeDecProof } from './proofs/dec.ts';
import {
  MAX_CIPHERTEXT_BYTES, TAG, asSender, bodyReader, bodyWriter, check, lagrange, mul, mulPub, readCipher, readPoint, readScalar,
  writePoint, writeScalar,
} from './messages.ts';
import { ownPaillier, ownPedersen, peerPaillier, peerPedersen, shareFingerprint, type CmpKeyShare } from './keyshare.ts';

/**
 * Version 2: shares are computed over the re-randomized presignature (`rerandomize`). A version-1
 * presignature is still read when it is unused (its data is the same); one bound under version 1
 * released a share over the raw R and is refused, so it is never used again.
 */
export const PRESIGNATURE_VERSION = 2;
/** Most presignatures one batched run may produce. */
export const MAX_BATCH = 64;

/** What a used presignature is bound to. */
export interface PresignatureBinding {
  readonly digest: Uint8Array;
  readonly tweak: bigint;
  readonly sigma: bigint;
}

export interface CmpPresignature {
  readonly curve: Curve;
  /** Presigning session id and index in its batch: together the presignature's id. */
  readonly session: Uint8Array;
  readonly index: number;
  readonly self: number;
  readonly signers: readonly number[];
  /** Fingerprint of the key share (and epoch) it was made with. */
  readonly keyFingerprint: Uint8Array;
  readonly R: Point;
  /** k_i and χ_i (secret). */
  readonly k: bigint;
  readonly chi: bigint;
  /** Ciphertexts for the signing identification step (CMP Fig. 8): K_j, D̂_{j,l}, F̂_{l,j}. */
  readonly K: ReadonlyMap<number, bigint>;
  readonly Dhat: ReadonlyMap<string, bigint>;
  readonly Fhat: ReadonlyMap<string, bigint>;
  /** Set by `signShare` on first use; persisted with the presignature. */
  binding: PresignatureBinding | undefined;
}

export interface CmpPresignOptions {
  readonly session: Uint8Array;
  readonly share: CmpKeyShare;
  /** The signing set S (includes self, at least `threshold` parties). */
  readonly signers: readonly number[];
  /** Presignatures to make in this run (default 1). */
  readonly count?: number;
  readonly rand?: RandomSource;
}

/** Additive share x_i = λ_i(S)·s_i and public X_j = λ_j(S)·S_j for a signing set. */
export function additiveShares(share: CmpKeyShare, signers: readonly number[]): { x: bigint; X: Map<number, Point> } {
  const c = share.curve;
  const X = new Map<number, Point>();
  for (const j of signers) X.set(j, mulPub(c, share.publicShares.get(j)!, lagrange(c, j, signers)));
  return { x: ctSumProducts(c.n, [lagrange(c, share.self, signers), share.secret]), X };
}

export function checkSigners(share: CmpKeyShare, signers: readonly number[]): number[] {
  const s = [...signers].sort((a, b) => a - b);
  if (new Set(s).size !== s.length || s.some((j) => !share.parties.includes(j)))
    throw new MpcError('ERR_MPC_USAGE', 'signers must be distinct holders of the key');
  if (!s.includes(share.self)) throw new MpcError('ERR_MPC_USAGE', 'self is not a signer');
  if (s.length < 2) throw new MpcError('ERR_MPC_USAGE', 'a signing set needs at least 2 parties');
  if (s.length < share.threshold) throw new MpcError('ERR_MPC_USAGE', `need at least ${share.threshold} signers`);
  return s;
}

/** CMP presigning among `signers`; output: one presignature. */
export function cmpPresign(o: Omit<CmpPresignOptions, 'count'>): Party<CmpPresignature> {
  return new SingleOutput(new CmpPresignParty({ ...o, count: 1 }));
}

/** Batched CMP presigning: `count` presignatures from one 3-round run (per-message entries). */
export function cmpPresignBatch(o: CmpPresignOptions): CmpPresignParty {
  return new CmpPresignParty(o);
}

/** A batch-of-one presigning party seen as producing a single presignature. */
class SingleOutput implements Party<CmpPresignature> {
  private readonly inner: CmpPresignParty;
  constructor(inner: CmpPresignParty) {
    this.inner = inner;
  }
  get protocol(): Party<CmpPresignature>['protocol'] {
    return this.inner.protocol;
  }
  get session(): Uint8Array {
    return this.inner.session;
  }
  get self(): number {
    return this.inner.self;
  }
  get parties(): readonly number[] {
    return this.inner.parties;
  }
  get round(): number {
    return this.inner.round;
  }
  private map(s: Step<CmpPresignature[]>): Step<CmpPresignature> {
    return s.kind === 'done' ? { kind: 'done', output: s.output[0]!, messages: s.messages } : s;
  }
  start(): Step<CmpPresignature> {
    return this.map(this.inner.start());
  }
  receive(m: ProtocolMessage): Step<CmpPresignature> {
    return this.map(this.inner.receive(m));
  }
}

interface Entry {
  k: bigint;
  gamma: bigint;
  rhoK: bigint;
  nuG: bigint;
  Gamma: Point;
  /** K_j, G_j, Γ_j for every signer (self included). */
  K: Map<number, bigint>;
  G: Map<number, bigint>;
  Gam: Map<number, Point>;
  /** Round-2 ciphertexts keyed "receiver,sender". */
  D: Map<string, bigint>;
  F: Map<string, bigint>;
  Dh: Map<string, bigint>;
  Fh: Map<string, bigint>;
  /** β and β̂ this party chose toward each j. */
  beta: Map<number, bigint>;
  betaHat: Map<number, bigint>;
  delta: bigint;
  chi: bigint;
  Delta: Point;
  deltas: Map<number, bigint>;
  Deltas: Map<number, Point>;
}

const key = (recv: number, send: number): string => `${recv},${send}`;

export class CmpPresignParty extends RoundParty<CmpPresignature[]> {
  private readonly c: Curve;
  private readonly share: CmpKeyShare;
  private readonly count: number;
  private readonly rand: RandomSource;
  private readonly fp: Uint8Array;
  private readonly x: bigint;
  private readonly X: Map<number, Point>;
  private readonly me: PaillierCtx;
  private entries: Entry[] = [];

  constructor(o: CmpPresignOptions) {
    const signers = checkSigners(o.share, o.signers);
    super('cmp/presign', o.session, o.share.self, signers);
    this.c = o.share.curve;
    this.share = o.share;
    this.count = o.count ?? 1;
    if (!Number.isInteger(this.count) || this.count < 1 || this.count > MAX_BATCH) throw new MpcError('ERR_MPC_USAGE', `count must be in 1..${MAX_BATCH}`);
    this.rand = o.rand ?? ((k) => randomBytes(k));
    this.fp = shareFingerprint(o.share);
    const a = additiveShares(o.share, signers);
    this.x = a.x;
    this.X = a.X;
    this.me = ownPaillier(o.share);
  }

  private tr(label: string, prover: number, b: number, verifier: number): Transcript {
    return Transcript.bound(`cmp/presign/${label}`, this.session, prover).append('ctx', this.fp).append('b', b).append('verifier', verifier);
  }

  private next(to: number, body: Uint8Array): ProtocolMessage {
    return { ...this.msg(to, body), round: this.round + 1 };
  }

  protected expects(_round: number): { broadcast: boolean; direct: boolean } {
    return { broadcast: true, direct: true };
  }

  private readCount(r: Reader): number {
    const n = r.u16();
    if (n !== this.count) throw new MpcParseError(`batch of ${n}, expected ${this.count}`);
    return n;
  }

  protected onStart(): Step<CmpPresignature[]> {
    const c = this.c;
    const bw = bodyWriter(TAG.presign1b).u16(this.count);
    const dws = new Map(this.others.map((j) => [j, bodyWriter(TAG.presign1d).u16(this.count)]));
    for (let b = 0; b < this.count; b++) {
      const k = c.randomScalar(this.rand);
      const gamma = c.randomScalar(this.rand);
      const rhoK = randomUnit(this.me.N, this.rand);
      const nuG = randomUnit(this.me.N, this.rand);
      const K = encWith(this.me, k, rhoK);
      const G = encWith(this.me, gamma, nuG);
      const e: Entry = {
        k, gamma, rhoK, nuG, Gamma: c.G.multiply(gamma),
        K: new Map([[this.self, K]]), G: new Map([[this.self, G]]), Gam: new Map(),
        D: new Map(), F: new Map(), Dh: new Map(), Fh: new Map(), beta: new Map(), betaHat: new Map(),
        delta: 0n, chi: 0n, Delta: c.ZERO, deltas: new Map(), Deltas: new Map(),
      };
      e.Gam.set(this.self, e.Gamma);
      this.entries.push(e);
      bw.bigint(K).bigint(G);
      for (const j of this.others) {
        const pf = proveEnc(this.tr('enc', this.self, b, j), c.n, this.me, peerPedersen(this.share, j), K, k, rhoK, this.rand);
        dws.get(j)!.bytes(encodeEncProof(pf));
      }
    }
    return { kind: 'send', messages: [this.msg(0, bw.finish()), ...this.others.map((j) => this.msg(j, dws.get(j)!.finish()))] };
  }

  protected onRound(round: number, b: ReadonlyMap<number, ProtocolMessage>, d: ReadonlyMap<number, ProtocolMessage>): Step<CmpPresignature[]> {
    if (round === 1) return this.round1(b, d);
    if (round === 2) return this.round2(b, d);
    if (round === 3) return this.round3(b, d);
    return this.identify(b, d);
  }

  // Receives K_j, G_j and Π^enc; sends round 2.
  private round1(bm: ReadonlyMap<number, ProtocolMessage>, dm: ReadonlyMap<number, ProtocolMessage>): Step<CmpPresignature[]> {
    const c = this.c;
    const myPed = ownPedersen(this.share);
    for (const j of this.others) {
      const Nj = peerPaillier(this.share, j);
      asSender(j, 'presign round 1', () => {
        const r = bodyReader(bm.get(j)!.body, TAG.presign1b);
        this.readCount(r);
        const rd = bodyReader(dm.get(j)!.body, TAG.presign1d);
        this.readCount(rd);
        for (let b = 0; b < this.count; b++) {
          const K = readCipher(r);
          const G = readCipher(r);
          check(new UnitBatch().n2(K, Nj).n2(G, Nj).check(), 'ERR_MPC_PARSE', j, 'invalid ciphertext');
          const pf = decodeEncProof(rd.bytes());
          check(verifyEnc(this.tr('enc', j, b, this.self), c.n, Nj, myPed, K, pf), 'ERR_MPC_PROOF', j, `Π^enc for K_${j} failed`);
          this.entries[b]!.K.set(j, K);
          this.entries[b]!.G.set(j, G);
        }
        r.end();
        rd.end();
      });
    }
    const bw = bodyWriter(TAG.presign2b).u16(this.count);
    const dws = new Map(this.others.map((j) => [j, bodyWriter(TAG.presign2d).u16(this.count)]));
    for (let b = 0; b < this.count; b++) {
      const e = this.entries[b]!;
      writePoint(bw, c, e.Gamma);
      for (const j of this.others) {
        const Nj = peerPaillier(this.share, j);
        const Pj = peerPedersen(this.share, j);
        const Kj = e.K.get(j)!;
        const mk = (x: bigint): { D: bigint; F: bigint; y: bigint; s: bigint; r: bigint } => {
          const y = randomSigned(ELL_PRIME, this.rand);
          const s = randomUnit(Nj.N, this.rand);
          const r = randomUnit(this.me.N, this.rand);
          return { D: mod(powN2(Nj, Kj, x) * encWith(Nj, y, s), Nj.N2), F: encWith(this.me, y, r), y, s, r };
        };
        const g = mk(e.gamma);
        const h = mk(this.x);
        e.beta.set(j, g.y);
        e.betaHat.set(j, h.y);
        e.D.set(key(j, this.self), g.D);
        e.F.set(key(j, this.self), g.F);
        e.Dh.set(key(j, this.self), h.D);
        e.Fh.set(key(j, this.self), h.F);
        bw.bigint(g.D).bigint(g.F).bigint(h.D).bigint(h.F);
        const st = { N0: Nj, N1: this.me, C: Kj };
        const pg = proveAffG(this.tr('affg', this.self, b, j), c, Pj, { ...st, D: g.D, Y: g.F, X: e.Gamma }, e.gamma, g.y, g.s, g.r, this.rand);
        const ph = proveAffG(this.tr('affg-x', this.self, b, j), c, Pj, { ...st, D: h.D, Y: h.F, X: this.X.get(this.self)! }, this.x, h.y, h.s, h.r, this.rand);
        const pl = proveLogStar(this.tr('logG', this.self, b, j), c, this.me, Pj, e.G.get(this.self)!, e.Gamma, c.G, e.gamma, e.nuG, this.rand);
        dws.get(j)!.bytes(encodeAffGProof(pg)).bytes(encodeAffGProof(ph)).bytes(encodeLogStarProof(pl));
      }
    }
    return { kind: 'send', messages: [this.next(0, bw.finish()), ...this.others.map((j) => this.next(j, dws.get(j)!.finish()))] };
  }

  // Receives Γ_j, the MtA ciphertexts and their proofs; sends δ_i, Δ_i and Π^log*.
  private round2(bm: ReadonlyMap<number, ProtocolMessage>, dm: ReadonlyMap<number, ProtocolMessage>): Step<CmpPresignature[]> {
    const c = this.c;
    const myPed = ownPedersen(this.share);
    const sk = this.share.paillier;
    for (const j of this.others) {
      const Nj = peerPaillier(this.share, j);
      asSender(j, 'presign round 2', () => {
        const r = bodyReader(bm.get(j)!.body, TAG.presign2b);
        this.readCount(r);
        const rd = bodyReader(dm.get(j)!.body, TAG.presign2d);
        this.readCount(rd);
        for (let b = 0; b < this.count; b++) {
          const e = this.entries[b]!;
          const Gamma = readPoint(r, c);
          e.Gam.set(j, Gamma);
          for (const l of this.parties) {
            if (l === j) continue;
            const Nl = peerPaillier(this.share, l);
            const [D, F, Dh, Fh] = [readCipher(r), readCipher(r), readCipher(r), readCipher(r)];
            check(new UnitBatch().n2(D, Nl).n2(Dh, Nl).n2(F, Nj).n2(Fh, Nj).check(), 'ERR_MPC_PARSE', j, 'invalid ciphertext');
            e.D.set(key(l, j), D);
            e.F.set(key(l, j), F);
            e.Dh.set(key(l, j), Dh);
            e.Fh.set(key(l, j), Fh);
          }
          const pg = decodeAffGProof(rd.bytes());
          const ph = decodeAffGProof(rd.bytes());
          const pl = decodeLogStarProof(rd.bytes());
          const st = { N0: this.me, N1: Nj, C: e.K.get(this.self)! };
          const ik = key(this.self, j);
          check(verifyAffG(this.tr('affg', j, b, this.self), c, myPed, { ...st, D: e.D.get(ik)!, Y: e.F.get(ik)!, X: Gamma }, pg), 'ERR_MPC_PROOF', j, 'Π^aff-g (γ) failed');
          check(verifyAffG(this.tr('affg-x', j, b, this.self), c, myPed, { ...st, D: e.Dh.get(ik)!, Y: e.Fh.get(ik)!, X: this.X.get(j)! }, ph), 'ERR_MPC_PROOF', j, 'Π^aff-g (x) failed');
          check(verifyLogStar(this.tr('logG', j, b, this.self), c, Nj, myPed, e.G.get(j)!, Gamma, c.G, pl), 'ERR_MPC_PROOF', j, 'Π^log* for Γ failed');
        }
        r.end();
        rd.end();
      });
    }
    const bw = bodyWriter(TAG.presign3b).u16(this.count);
    const dws = new Map(this.others.map((j) => [j, bodyWriter(TAG.presign3d).u16(this.count)]));
    for (let b = 0; b < this.count; b++) {
      const e = this.entries[b]!;
      let Gamma = c.ZERO;
      for (const j of this.parties) Gamma = Gamma.add(e.Gam.get(j)!);
      // δ_i = k_i·γ_i + Σ (α_ij − β_ij), χ_i = k_i·x_i + Σ (α̂_ij − β̂_ij) mod q: secret, so
      // summed in constant time (ctSumProducts, OpenSSL BN with BN_FLG_CONSTTIME).
      const delta: bigint[] = [e.k, e.gamma];
      const chi: bigint[] = [e.k, this.x];
      for (const j of this.others) {
        delta.push(sk.decrypt(e.D.get(key(this.self, j))!), 1n, -e.beta.get(j)!, 1n);
        chi.push(sk.decrypt(e.Dh.get(key(this.self, j))!), 1n, -e.betaHat.get(j)!, 1n);
      }
      e.delta = ctSumProducts(c.n, delta);
      e.chi = ctSumProducts(c.n, chi);
      e.Delta = mul(c, Gamma, e.k);
      e.Gam.set(0, Gamma);
      writeScalar(bw, c, e.delta);
      writePoint(bw, c, e.Delta);
      for (const j of this.others) {
        const pf = proveLogStar(this.tr('logD', this.self, b, j), c, this.me, peerPedersen(this.share, j), e.K.get(this.self)!, e.Delta, Gamma, e.k, e.rhoK, this.rand);
        dws.get(j)!.bytes(encodeLogStarProof(pf));
      }
    }
    return { kind: 'send', messages: [this.next(0, bw.finish()), ...this.others.map((j) => this.next(j, dws.get(j)!.finish()))] };
  }

  // Receives δ_j, Δ_j; outputs the presignatures or starts identification.
  private round3(bm: ReadonlyMap<number, ProtocolMessage>, dm: ReadonlyMap<number, ProtocolMessage>): Step<CmpPresignature[]> {
    const c = this.c;
    const myPed = ownPedersen(this.share);
    for (const j of this.others) {
      const Nj = peerPaillier(this.share, j);
      asSender(j, 'presign round 3', () => {
        const r = bodyReader(bm.get(j)!.body, TAG.presign3b);
        this.readCount(r);
        const rd = bodyReader(dm.get(j)!.body, TAG.presign3d);
        this.readCount(rd);
        for (let b = 0; b < this.count; b++) {
          const e = this.entries[b]!;
          const dj = readScalar(r, c);
          const Dj = readPoint(r, c);
          const pf = decodeLogStarProof(rd.bytes());
          check(verifyLogStar(this.tr('logD', j, b, this.self), c, Nj, myPed, e.K.get(j)!, Dj, e.Gam.get(0)!, pf), 'ERR_MPC_PROOF', j, 'Π^log* for Δ failed');
          e.deltas.set(j, dj);
          e.Deltas.set(j, Dj);
        }
        r.end();
        rd.end();
      });
    }
    let failed = false;
    const out: CmpPresignature[] = [];
    for (let b = 0; b < this.count; b++) {
      const e = this.entries[b]!;
      e.deltas.set(this.self, e.delta);
      e.Deltas.set(this.self, e.Delta);
      let delta = 0n;
      let sumD = c.ZERO;
      for (const j of this.parties) {
        delta = c.mod(delta + e.deltas.get(j)!);
        sumD = sumD.add(e.Deltas.get(j)!);
      }
      if (delta === 0n || !mul(c, c.G, delta).equals(sumD)) {
        failed = true;
        continue;
      }
      const R = mul(c, e.Gam.get(0)!, c.inv(delta));
      const Dhat = new Map<string, bigint>();
      const Fhat = new Map<string, bigint>();
      for (const [kk, v] of e.Dh) Dhat.set(kk, v);
      for (const [kk, v] of e.Fh) Fhat.set(kk, v);
      out.push({
        curve: c, session: this.session, index: b, self: this.self, signers: this.parties, keyFingerprint: this.fp,
        R, k: e.k, chi: e.chi, K: new Map(e.K), Dhat, Fhat, binding: undefined,
      });
    }
    if (!failed) return { kind: 'done', output: out, messages: [] };
    return this.startIdentification();
  }

  /**
   * Verifiable complaint (issue 13 item 3; `Party.checkComplaint`): re-runs, as party
   * `complainer` did, the checks on sender k's round-r messages to it (k's broadcast and its
   * direct message, both shown with k's signature), with public data only: k's broadcast from
   * the complaint (the echo makes it the one everybody got), earlier rounds from this party's
   * state (everyone has finished round r-1 before anyone can complain about round r), the
   * complainer's public Paillier / ring-Pedersen parameters. Rounds 1-3 and the identification
   * round 4 (Π^mul, and Π^dec against U_k rebuilt from this party's echoed ciphertexts and δ_k).
   */
  checkComplaint(complainer: number, messages: readonly ProtocolMessage[]): number | undefined {
    const k = messages[0]?.from;
    const round = messages[0]?.round;
    if (k === undefined || round === undefined || k === complainer || !this.parties.includes(k) || !this.parties.includes(complainer)) return undefined;
    if (messages.some((m) => m.from !== k || m.round !== round || (m.to !== 0 && m.to !== complainer))) return undefined;
    if (round < 1 || round > 4 || this.round < round) return undefined;
    const bm = messages.find((m) => m.to === 0);
    const dm = messages.find((m) => m.to === complainer);
    // The complainer processed the round, so it held both; a complaint without them is its own.
    if (!bm || !dm) return complainer;
    try {
      this.recheck(round, k, complainer, bm.body, dm.body);
      return complainer;
    } catch (e) {
      if (e instanceof MpcAbort && e.culprits.includes(k)) return k;
      throw e;
    }
  }

  /** The checks verifier `v` runs on sender j's round-`round` bodies; throws an MpcAbort naming j. */
  private recheck(round: number, j: number, v: number, bBody: Uint8Array, dBody: Uint8Array): void {
    const c = this.c;
    const Nj = peerPaillier(this.share, j);
    const Pv = v === this.self ? ownPedersen(this.share) : peerPedersen(this.share, v);
    const Nv = v === this.self ? this.me : peerPaillier(this.share, v);
    const tags = [[TAG.presign1b, TAG.presign1d], [TAG.presign2b, TAG.presign2d], [TAG.presign3b, TAG.presign3d], [TAG.presign4b, TAG.presign4d]][round - 1]!;
    asSender(j, `presign round ${round} (complaint by ${v})`, () => {
      const r = bodyReader(bBody, tags[0]!);
      this.readCount(r);
      const rd = bodyReader(dBody, tags[1]!);
      this.readCount(rd);
      for (let b = 0; b < this.count; b++) {
        const e = this.entries[b]!;
        if (round === 1) {
          const K = readCipher(r);
          const G = readCipher(r);
          check(new UnitBatch().n2(K, Nj).n2(G, Nj).check(), 'ERR_MPC_PARSE', j, 'invalid ciphertext');
          check(verifyEnc(this.tr('enc', j, b, v), c.n, Nj, Pv, K, decodeEncProof(rd.bytes())), 'ERR_MPC_PROOF', j, `Π^enc for K_${j} failed`);
        } else if (round === 2) {
          const Gamma = readPoint(r, c);
          let D = 0n;
          let F = 0n;
          let Dh = 0n;
          let Fh = 0n;
          for (const l of this.parties) {
            if (l === j) continue;
            const Nl = peerPaillier(this.share, l);
            const x = [readCipher(r), readCipher(r), readCipher(r), readCipher(r)] as const;
            check(new UnitBatch().n2(x[0], Nl).n2(x[2], Nl).n2(x[1], Nj).n2(x[3], Nj).check(), 'ERR_MPC_PARSE', j, 'invalid ciphertext');
            if (l === v) [D, F, Dh, Fh] = x;
          }
          const pg = decodeAffGProof(rd.bytes());
          const ph = decodeAffGProof(rd.bytes());
          const pl = decodeLogStarProof(rd.bytes());
          const st = { N0: Nv, N1: Nj, C: e.K.get(v)! };
          check(verifyAffG(this.tr('affg', j, b, v), c, Pv, { ...st, D, Y: F, X: Gamma }, pg), 'ERR_MPC_PROOF', j, 'Π^aff-g (γ) failed');
          check(verifyAffG(this.tr('affg-x', j, b, v), c, Pv, { ...st, D: Dh, Y: Fh, X: this.X.get(j)! }, ph), 'ERR_MPC_PROOF', j, 'Π^aff-g (x) failed');
          check(verifyLogStar(this.tr('logG', j, b, v), c, Nj, Pv, e.G.get(j)!, Gamma, c.G, pl), 'ERR_MPC_PROOF', j, 'Π^log* for Γ failed');
        } else if (round === 4) {
          const H = r.bigint(MAX_CIPHERTEXT_BYTES);
          const pm = decodeMulProof(r.bytes());
          const pd = decodeDecProof(rd.bytes());
          check(verifyMul(this.tr('mul', j, b, 0), c.n, Nj, e.K.get(j)!, e.G.get(j)!, H, pm), 'ERR_MPC_PROOF', j, 'Π^mul failed');
          check(verifyDec(this.tr('dec', j, b, v), c.n, Nj, Pv, [{ C: this.U(e, j, H), a: 1n }], e.deltas.get(j)!, pd), 'ERR_MPC_PROOF', j, 'Π^dec: δ_j is not what its ciphertexts say');
        } else {
          readScalar(r, c);
          const Dj = readPoint(r, c);
          const Gamma = e.Gam.get(0);
          if (!Gamma) throw new MpcError('ERR_MPC_USAGE', 'round 2 not processed here');
          check(verifyLogStar(this.tr('logD', j, b, v), c, Nj, Pv, e.K.get(j)!, Dj, Gamma, decodeLogStarProof(rd.bytes())), 'ERR_MPC_PROOF', j, 'Π^log* for Δ failed');
        }
      }
      r.end();
      rd.end();
    });
  }

  /** U_j = H_j · Π_l D_{j,l} · F_{l,j}^{-1} under N_j: encrypts δ_j's integer value. */
  private U(e: Entry, j: number, H: bigint): bigint {
    const Nj = j === this.self ? this.me : peerPaillier(this.share, j);
    let U = H;
    for (const l of this.parties) {
      if (l === j) continue;
      U = mod(U * e.D.get(key(j, l))!, Nj.N2);
      U = mod(U * modInv(e.F.get(key(l, j))!, Nj.N2), Nj.N2);
    }
    return U;
  }

  // CMP Fig. 7 "Output" step 2: prove δ_i with Π^mul and Π^dec.
  private startIdentification(): Step<CmpPresignature[]> {
    const sk = this.share.paillier;
    const bw = bodyWriter(TAG.presign4b).u16(this.count);
    const dws = new Map(this.others.map((j) => [j, bodyWriter(TAG.presign4d).u16(this.count)]));
    for (let b = 0; b < this.count; b++) {
      const e = this.entries[b]!;
      const rho = randomUnit(this.me.N, this.rand);
      const H = mod(powN2(this.me, e.G.get(this.self)!, e.k) * powN2(this.me, rho, this.me.N), this.me.N2);
      const pm = proveMul(this.tr('mul', this.self, b, 0), this.c.n, this.me, e.K.get(this.self)!, e.G.get(this.self)!, H, e.k, e.rhoK, rho, this.rand);
      bw.bigint(H).bytes(encodeMulProof(pm));
      const U = this.U(e, this.self, H);
      const { m, rho: rU } = sk.decryptWithNonce(U);
      for (const j of this.others) {
        const pd = proveDec(this.tr('dec', this.self, b, j), this.c.n, this.me, peerPedersen(this.share, j), [{ C: U, a: 1n }], e.delta, [{ y: m, rho: rU }], this.rand);
        dws.get(j)!.bytes(encodeDecProof(pd));
      }
    }
    return { kind: 'send', messages: [this.next(0, bw.finish()), ...this.others.map((j) => this.next(j, dws.get(j)!.finish()))] };
  }

  private identify(bm: ReadonlyMap<number, ProtocolMessage>, dm: ReadonlyMap<number, ProtocolMessage>): Step<CmpPresignature[]> {
    const myPed = ownPedersen(this.share);
    const culprits: number[] = [];
    for (const j of this.others) {
      const Nj = peerPaillier(this.share, j);
      try {
        asSender(j, 'presign identification', () => {
          const r = bodyReader(bm.get(j)!.body, TAG.presign4b);
          this.readCount(r);
          const rd = bodyReader(dm.get(j)!.body, TAG.presign4d);
          this.readCount(rd);
          for (let b = 0; b < this.count; b++) {
            const e = this.entries[b]!;
            const H = r.bigint(MAX_CIPHERTEXT_BYTES);
            const pm = decodeMulProof(r.bytes());
            const pd = decodeDecProof(rd.bytes());
            check(verifyMul(this.tr('mul', j, b, 0), this.c.n, Nj, e.K.get(j)!, e.G.get(j)!, H, pm), 'ERR_MPC_PROOF', j, 'Π^mul failed');
            check(verifyDec(this.tr('dec', j, b, this.self), this.c.n, Nj, myPed, [{ C: this.U(e, j, H), a: 1n }], e.deltas.get(j)!, pd), 'ERR_MPC_PROOF', j, 'Π^dec: δ_j is not what its ciphertexts say');
          }
          r.end();
          rd.end();
        });
      } catch (err) {
        if (err instanceof MpcAbort) culprits.push(j);
        else throw err;
      }
    }
    if (culprits.length > 0) throw new MpcAbort('ERR_MPC_PROOF', culprits, 'presigning: δ check failed; identified by Π^mul/Π^dec');
    // Every other party proved its δ_j, yet δ·G != ΣΔ: the fault is not attributable to any of
    // them (with sound proofs, it is this party's own state). Name nobody rather than the honest.
    throw new MpcError('ERR_MPC_UNIDENTIFIED', 'presigning: δ check failed, but every other party proved its δ_j (Π^mul, Π^dec); nobody is blamed');
  }
}

export function encodePresignature(p: CmpPresignature): Uint8Array {
  const c = p.curve;
  const w = new Writer().u8(PRESIGNATURE_VERSION).string(c.name).fixed(p.session).u16(p.index).u8(p.self).u8(p.signers.length);
  for (const j of p.signers) w.u8(j);
  w.fixed(p.keyFingerprint);
  writePoint(w, c, p.R);
  writeScalar(w, c, p.k);
  writeScalar(w, c, p.chi);
  for (const j of p.signers) w.bigint(p.K.get(j)!);
  for (const j of p.signers)
    for (const l of p.signers) if (l !== j) w.bigint(p.Dhat.get(key(j, l))!).bigint(p.Fhat.get(key(l, j))!);
  if (p.binding) {
    w.u8(1).fixed(p.binding.digest);
    writeScalar(w, c, p.binding.tweak);
    writeScalar(w, c, p.binding.sigma);
  } else w.u8(0);
  return w.finish();
}

export function decodePresignature(bytes: Uint8Array): CmpPresignature {
  const r = new Reader(bytes);
  const version = r.u8();
  if (version !== PRESIGNATURE_VERSION && version !== 1) throw new MpcParseError('presignature: unknown version');
  const name = r.string(32);
  if (name !== 'secp256k1' && name !== 'secp256r1') throw new MpcParseError('presignature: unknown curve');
  const c = curveByName(name);
  const session = r.fixed(32);
  const index = r.u16();
  const self = r.u8();
  const n = r.u8();
  const signers: number[] = [];
  for (let i = 0; i < n; i++) {
    const j = r.u8();
    if (j === 0 || (signers.length > 0 && j <= signers[signers.length - 1]!)) throw new MpcParseError('presignature: signers not ascending');
    signers.push(j);
  }
  if (!signers.includes(self) || n < 2) throw new MpcParseError('presignature: bad signer set');
  const keyFingerprint = r.fixed(32);
  const R = readPoint(r, c);
  const k = readScalar(r, c, true);
  const chi = readScalar(r, c);
  const K = new Map<number, bigint>();
  for (const j of signers) K.set(j, readCipher(r));
  const Dhat = new Map<string, bigint>();
  const Fhat = new Map<string, bigint>();
  for (const j of signers)
    for (const l of signers)
      if (l !== j) {
        Dhat.set(key(j, l), readCipher(r));
        Fhat.set(key(l, j), readCipher(r));
      }
  const flag = r.u8();
  let binding: PresignatureBinding | undefined;
  if (flag === 1 && version === 1) throw new MpcParseError('presignature: bound before re-randomization (version 1); it is spent');
  if (flag === 1) binding = { digest: r.fixed(32), tweak: readScalar(r, c), sigma: readScalar(r, c) };
  else if (flag !== 0) throw new MpcParseError('presignature: bad binding flag');
  r.end();
  return { curve: c, session, index, self, signers, keyFingerprint, R, k, chi, K, Dhat, Fhat, binding };
}

/** Digest as the ECDSA integer e (32-byte digests on 256-bit curves: no truncation), mod q. */
export function digestScalar(c: Curve, digest: Uint8Array): bigint {
  if (digest.length !== 32) throw new MpcError('ERR_MPC_USAGE', 'digest must be 32 bytes');
  return c.mod(BigInt('0x' + Buffer.from(digest).toString('hex')));
}

/** Domain of the re-randomizer hash (version it with any change to its inputs). */
const RERANDOMIZE_DOMAIN = 'cosigner/cmp/rerandomize/v1';

/** A presignature re-randomized for one request: ρ, and r' = x(R') mod n for R' = ρ·R. */
export interface Rerandomized {
  readonly rho: bigint;
  readonly r: bigint;
  /** R' itself (a variable-time multiplication; signing takes it from the verification instead). */
  point(): Point;
}

/** OpenSSL's names of the curves, for ECDH. */
const OPENSSL_CURVE: Record<string, string> = { secp256k1: 'secp256k1', secp256r1: 'prime256v1' };

/** x(ρ·R) mod n through OpenSSL's ECDH (constant time, and much faster than JS for P-256). */
function xOfMultiple(c: Curve, R: Point, rho: bigint): bigint {
  const e = createECDH(OPENSSL_CURVE[c.name]!);
  e.setPrivateKey(c.encodeScalar(rho));
  return c.mod(BigInt('0x' + e.computeSecret(c.encodePoint(R)).toString('hex')));
}

/**
 * Groth-Shoup re-randomization of a presignature (eprint 2021/1330, §1.3 / "re-randomized
 * presignatures"), multiplicative because CMP's presignature is R = k^{-1}·G (Fig. 7 output):
 * R' = ρ·R = (k·ρ^{-1})^{-1}·G, so the nonce becomes k' = k·ρ^{-1} and every signer's share
 * stays linear in what it holds: σ_i' = ρ^{-1}·(k_i·(m + r'·t) + r'·χ_i), with r' = x(R') mod n.
 *
 * ρ = SHA-512(domain ‖ curve ‖ key fingerprint (master key, chain code, shares, Paillier keys,
 * epoch) ‖ presignature id (session, index) ‖ signers ‖ R ‖ digest ‖ tweak ‖ counter) mod n,
 * the first value over the counter with ρ ≠ 0 and r' ≠ 0. The derived public key is P + t·G, fixed by the
 * fingerprint and t. ρ is a random-oracle output of the whole request: no party can choose it,
 * and nobody learns R' (or r') before the digest and the path are fixed. README "Re-randomized
 * presignatures" gives the argument.
 */
export function rerandomize(p: CmpPresignature, digest: Uint8Array, tweak: bigint): Rerandomized {
  const c = p.curve;
  digestScalar(c, digest);
  const w = new Writer().string(RERANDOMIZE_DOMAIN).string(c.name).fixed(p.keyFingerprint).fixed(p.session).u16(p.index).u8(p.signers.length);
  for (const j of p.signers) w.u8(j);
  writePoint(w, c, p.R);
  w.fixed(digest);
  writeScalar(w, c, c.mod(tweak));
  const base = w.finish();
  for (let ctr = 0; ; ctr++) {
    const h = createHash('sha512').update(base).update(Uint8Array.of(ctr)).digest();
    // 512 bits reduced mod n: bias below 2^-250.
    const rho = c.mod(BigInt('0x' + h.toString('hex')));
    if (rho === 0n) continue;
    const r = xOfMultiple(c, p.R, rho);
    // ρ and R are public (R' is the signature's nonce point): variable time is fine for point().
    if (r !== 0n) return { rho, r, point: () => mulPub(c, p.R, rho) };
  }
}

/**
 * This party's signature share over the re-randomized presignature (CMP Fig. 8 with the HD
 * tweak t folded in and Groth-Shoup re-randomization, see `rerandomize`):
 * σ_i = ρ^{-1}·(k_i·(m + r'·t) + r'·χ_i). Every party multiplies its k_i by (m + r'·t); since
 * Σ k_i = k the tweak's contribution k·r'·t is counted exactly once without naming a special
 * party, and Σ σ_i = k·ρ^{-1}·(m + r'(x + t)) is a signature under the derived key x + t with
 * nonce point R' = ρ·R.
 *
 * Binds the presignature to (digest, tweak) on first use; the same request returns the same
 * share, any other throws `MpcUsageError('ERR_MPC_PRESIGNATURE_USED')`.
 */
export function signShare(p: CmpPresignature, digest: Uint8Array, tweak: bigint): bigint {
  const c = p.curve;
  const m = digestScalar(c, digest);
  const t = c.mod(tweak);
  if (p.binding) {
    if (equalBytes(p.binding.digest, digest) && p.binding.tweak === t) return p.binding.sigma;
    throw new MpcUsageError('ERR_MPC_PRESIGNATURE_USED', 'presignature already used for another message');
  }
  const { rho, r } = rerandomize(p, digest, t);
  // σ = k·(ρ^{-1}(m + r·t)) + χ·(ρ^{-1}·r): public coefficients, secret k and χ (constant time).
  const rhoInv = c.inv(rho);
  const sigma = ctSumProducts(c.n, [p.k, c.mod(rhoInv * (m + r * t)), p.chi, c.mod(rhoInv * r)]);
  p.binding = { digest: Uint8Array.from(digest), tweak: t, sigma };
  return sigma;
}
