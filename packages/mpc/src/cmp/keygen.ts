/**
 * CMP key generation (eprint 2021/060 Fig. 5 "ECDSA key generation", extended to t-of-n with
 * Feldman VSS) merged with the auxiliary-info / key-refresh protocol (Fig. 6), and the
 * proactive refresh itself (Fig. 6 on an existing share). One state machine, three rounds:
 *
 * 1. broadcast V_i = H(sid, i, decommitment) (hash commitment to everything of round 2).
 * 2. broadcast the decommitment: Feldman commitments F_i to the polynomial f_i (degree T-1;
 *    keygen: f_i(0) = x_i random, with a Schnorr commitment A_i for it; refresh: f_i(0) = 0, so
 *    the key does not change), rid_i, the chain-code contribution c_i (keygen), the new
 *    Paillier-Blum / ring-Pedersen modulus (N_i, s_i, t_i) with Π^prm, the salt u_i; and an echo
 *    H(V_1..V_n) of round 1, so a party that sent different V to different peers is caught
 *    (echo-broadcast consistency).
 * 3. with ρ = ⊕ rid_j: broadcast Π^mod for N_i and the Schnorr response (keygen); send to each j
 *    the share f_i(j) and Π^fac for N_i under j's ring-Pedersen parameters.
 * Output: check every proof and every share against the Feldman commitments (blaming the
 * sender), then s_i = Σ_j f_j(i) (+ old share on refresh), public shares and key.
 *
 * Shares travel point-to-point in the clear inside this layer; the transport encrypts
 * party-to-party messages end to end (DESIGN "Threshold signing"), which is the paper's
 * "secure channel" assumption. Prime generation is outside: the caller passes the party's two
 * primes (from a `PrimePool`), so no round blocks on it.
 */
import { randomBytes } from 'node:crypto';
import { Reader, Writer } from '../codec.ts';
import type { Curve, Point } from '../curve.ts';
import { MpcAbort, MpcError } from '../errors.ts';
import { RoundParty, equalBytes, type ProtocolMessage, type Step } from '../round.ts';
import { PaillierSecretKey } from '../arith/paillier.ts';
import { PedersenParams, generatePedersen } from '../arith/pedersen.ts';
import type { RandomSource } from '../arith/bigint.ts';
import { Transcript } from './proofs/transcript.ts';
import { proveMod, verifyMod, encodeModProof, decodeModProof } from './proofs/mod.ts';
import { provePrm, verifyPrm, encodePrmProof, decodePrmProof } from './proofs/prm.ts';
import { proveFac, verifyFac, encodeFacProof, decodeFacProof } from './proofs/fac.ts';
import { schCommit, schProve, schVerify, type SchCommitment } from './proofs/sch.ts';
import {
  TAG, asSender, bodyReader, bodyWriter, check, evalPoly, evalPolyPoints, hashParts, mul, readPoint, readScalar, u8,
  writePoint, writeScalar,
} from './messages.ts';
import { checkShare, shareFingerprint, type AuxInfo, type CmpKeyShare } from './keyshare.ts';

export interface CmpKeygenOptions {
  readonly curve: Curve;
  /** 32-byte session id, fresh per run, agreed by all parties. */
  readonly session: Uint8Array;
  readonly self: number;
  readonly parties: readonly number[];
  /** T: parties needed to sign (2..n; default n). */
  readonly threshold?: number;
  /** This party's two Blum (safe) primes for its Paillier / ring-Pedersen modulus. */
  readonly primes: readonly [bigint, bigint];
  readonly rand?: RandomSource;
}

export interface CmpRefreshOptions {
  readonly session: Uint8Array;
  readonly share: CmpKeyShare;
  /** Fresh primes: refresh replaces the Paillier / ring-Pedersen keys too. */
  readonly primes: readonly [bigint, bigint];
  readonly rand?: RandomSource;
}

interface Decommit {
  readonly F: Point[];
  readonly A?: Point;
  readonly rid: Uint8Array;
  readonly chain?: Uint8Array;
  readonly aux: PedersenParams;
  readonly prm: Uint8Array;
  readonly u: Uint8Array;
}

/** CMP key generation with auxiliary setup; output: this party's `CmpKeyShare`. */
export function cmpKeygen(o: CmpKeygenOptions): CmpKeygenParty {
  return new CmpKeygenParty('cmp/keygen', o.curve, o.session, o.self, o.parties, o.threshold ?? o.parties.length, o.primes, o.rand, undefined);
}

/** CMP proactive refresh: new shares of the same key, new Paillier / ring-Pedersen keys. */
export function cmpRefresh(o: CmpRefreshOptions): CmpKeygenParty {
  const s = o.share;
  return new CmpKeygenParty('cmp/refresh', s.curve, o.session, s.self, s.parties, s.threshold, o.primes, o.rand, s);
}

export class CmpKeygenParty extends RoundParty<CmpKeyShare> {
  private readonly c: Curve;
  private readonly T: number;
  private readonly rand: RandomSource;
  private readonly old: CmpKeyShare | undefined;
  private readonly sk: PaillierSecretKey;
  private readonly ped: PedersenParams;
  private readonly lambda: bigint;
  private readonly poly: bigint[];
  private readonly sch: SchCommitment | undefined;
  private readonly mine: Decommit;
  private readonly mineBytes: Uint8Array;
  private readonly ctx: Uint8Array;
  private commits = new Map<number, Uint8Array>();
  private echo: Uint8Array = new Uint8Array(0);
  private decs = new Map<number, Decommit>();
  private rid: Uint8Array = new Uint8Array(32);

  constructor(
    protocol: 'cmp/keygen' | 'cmp/refresh', curve: Curve, session: Uint8Array, self: number, parties: readonly number[],
    threshold: number, primes: readonly [bigint, bigint], rand: RandomSource | undefined, old: CmpKeyShare | undefined,
  ) {
    super(protocol, session, self, parties);
    // T = 1 would hand every party the whole key.
    if (!Number.isInteger(threshold) || threshold < 2 || threshold > parties.length)
      throw new MpcError('ERR_MPC_USAGE', `threshold must be in 2..${parties.length}`);
    if (old && old.parties.length !== this.parties.length) throw new MpcError('ERR_MPC_USAGE', 'refresh runs among all holders of the key');
    this.c = curve;
    this.T = threshold;
    this.rand = rand ?? ((k) => randomBytes(k));
    this.old = old;
    this.ctx = old ? shareFingerprint(old) : new Uint8Array(32);
    try {
      this.sk = PaillierSecretKey.fromPrimes(primes[0], primes[1]);
    } catch (e) {
      throw new MpcError('ERR_MPC_USAGE', `bad primes: ${(e as Error).message}`, { cause: e });
    }
    if (old && old.aux.get(self)!.N === this.sk.pub.N) throw new MpcError('ERR_MPC_USAGE', 'refresh needs fresh primes');
    const g = generatePedersen(primes[0], primes[1], this.rand);
    this.ped = g.params;
    this.lambda = g.lambda;
    const c = curve;
    this.poly = [];
    for (let k = 0; k < threshold; k++) this.poly.push(k === 0 && old ? 0n : c.randomScalar(this.rand));
    const F = this.poly.slice(old ? 1 : 0).map((a) => c.G.multiply(a));
    this.sch = old ? undefined : schCommit(c, this.rand);
    const prm = provePrm(this.ped, this.lambda, this.sk.phi, this.tr('cmp/prm', self), this.rand);
    this.mine = {
      F,
      ...(this.sch ? { A: this.sch.A } : {}),
      rid: this.rand(32),
      ...(old ? {} : { chain: this.rand(32) }),
      aux: this.ped,
      prm: encodePrmProof(prm),
      u: this.rand(32),
    };
    this.mineBytes = this.encodeDecommit(this.mine);
  }

  /** A transcript bound to protocol, session, prover, (refresh: old key state) and, after round 2, ρ. */
  private tr(label: string, prover: number): Transcript {
    const t = Transcript.bound(`${this.protocol}/${label}`, this.session, prover).append('ctx', this.ctx);
    if (this.round >= 3) t.append('rid', this.rid);
    return t;
  }

  protected expects(round: number): { broadcast: boolean; direct: boolean } {
    return { broadcast: true, direct: round === 3 };
  }

  private encodeDecommit(d: Decommit): Uint8Array {
    const w = new Writer().u8(d.F.length);
    for (const P of d.F) writePoint(w, this.c, P);
    if (!this.old) writePoint(w, this.c, d.A!);
    w.fixed(d.rid);
    if (!this.old) w.fixed(d.chain!);
    return w.bytes(d.aux.publicOnly().encode()).bytes(d.prm).fixed(d.u).finish();
  }

  private decodeDecommit(b: Uint8Array): Decommit & { echo: Uint8Array } {
    const r = bodyReader(b, TAG.keygen2);
    const raw = r.bytes();
    const echo = r.fixed(32);
    r.end();
    const R = new Reader(raw);
    const n = R.u8();
    if (n !== this.T - (this.old ? 1 : 0)) throw new MpcError('ERR_MPC_PARSE', `${n} polynomial commitments, expected ${this.T - (this.old ? 1 : 0)}`);
    const F: Point[] = [];
    for (let k = 0; k < n; k++) F.push(readPoint(R, this.c));
    const A = this.old ? undefined : readPoint(R, this.c);
    const rid = R.fixed(32);
    const chain = this.old ? undefined : R.fixed(32);
    const aux = PedersenParams.decode(R.bytes(2048));
    const prm = R.bytes();
    const u = R.fixed(32);
    R.end();
    return { F, ...(A ? { A } : {}), rid, ...(chain ? { chain } : {}), aux, prm, u, echo };
  }

  /** A message of the next round (onRound runs while `round` is still the current one). */
  private next(to: number, body: Uint8Array): ProtocolMessage {
    return { ...this.msg(to, body), round: this.round + 1 };
  }

  private commitment(i: number, raw: Uint8Array): Uint8Array {
    return hashParts(`${this.protocol}/commit`, this.session, u8(i), this.ctx, raw);
  }

  protected onStart(): Step<CmpKeyShare> {
    const V = this.commitment(this.self, this.mineBytes);
    this.commits.set(this.self, V);
    return { kind: 'send', messages: [this.msg(0, bodyWriter(TAG.keygen1).fixed(V).finish())] };
  }

  protected onRound(round: number, b: ReadonlyMap<number, ProtocolMessage>, d: ReadonlyMap<number, ProtocolMessage>): Step<CmpKeyShare> {
    if (round === 1) return this.round1(b);
    if (round === 2) return this.round2(b);
    return this.round3(b, d);
  }

  private round1(b: ReadonlyMap<number, ProtocolMessage>): Step<CmpKeyShare> {
    for (const [j, m] of b) {
      const V = asSender(j, 'keygen round 1', () => {
        const r = bodyReader(m.body, TAG.keygen1);
        const v = r.fixed(32);
        r.end();
        return v;
      });
      this.commits.set(j, V);
    }
    this.echo = hashParts(`${this.protocol}/echo`, ...this.parties.map((j) => this.commits.get(j)!));
    const body = bodyWriter(TAG.keygen2).bytes(this.mineBytes).fixed(this.echo).finish();
    return { kind: 'send', messages: [this.next(0, body)] };
  }

  private round2(b: ReadonlyMap<number, ProtocolMessage>): Step<CmpKeyShare> {
    const moduli = new Set<bigint>([this.sk.pub.N]);
    for (const [j, m] of b) {
      const dec = asSender(j, 'keygen round 2', () => this.decodeDecommit(m.body));
      const echo = dec.echo;
      check(equalBytes(echo, this.echo), 'ERR_MPC_INCONSISTENT_BROADCAST', j, 'round-1 commitments seen differently (echo mismatch)');
      check(equalBytes(this.commitment(j, this.encodeDecommit(dec)), this.commits.get(j)!), 'ERR_MPC_COMMITMENT', j, 'decommitment does not open the round-1 commitment');
      check(!moduli.has(dec.aux.N), 'ERR_MPC_PROOF', j, 'reused Paillier modulus');
      moduli.add(dec.aux.N);
      const ok = asSender(j, 'Π^prm', () => verifyPrm(dec.aux, decodePrmProof(dec.prm), this.tr('cmp/prm', j)));
      check(ok, 'ERR_MPC_PROOF', j, 'Π^prm (ring-Pedersen parameters) failed');
      this.decs.set(j, dec);
    }
    this.decs.set(this.self, this.mine);
    const rid = new Uint8Array(32);
    for (const j of this.parties) this.decs.get(j)!.rid.forEach((x, k) => (rid[k]! ^= x));
    this.rid = rid;
    // Round 3 proper starts now: this.round is still 2 inside onRound, so bind ρ explicitly.
    const withRid = (label: string, prover: number): Transcript => this.tr(label, prover).append('rid', this.rid);
    const sk = { N: this.sk.pub.N, p: this.sk.p, q: this.sk.q };
    const w = bodyWriter(TAG.keygen3b).bytes(encodeModProof(proveMod(sk, withRid('cmp/mod', this.self), this.rand)));
    if (this.sch) writeScalar(w, this.c, schProve(this.c, withRid('cmp/sch', this.self), this.mine.F[0]!, this.sch, this.poly[0]!));
    const out: ProtocolMessage[] = [this.next(0, w.finish())];
    for (const j of this.others) {
      const fac = proveFac(sk, this.decs.get(j)!.aux, withRid('cmp/fac', this.self).append('verifier', j), this.c.n, this.rand);
      const dw = bodyWriter(TAG.keygen3d);
      writeScalar(dw, this.c, evalPoly(this.c, this.poly, j));
      out.push(this.next(j, dw.bytes(encodeFacProof(fac)).finish()));
    }
    return { kind: 'send', messages: out };
  }

  /**
   * Verifiable complaint (issue 13 item 3, `Party.checkComplaint`): party `complainer` aborted
   * naming sender k over k's round-3 messages to it, shown with k's signature. As in the paper's
   * complaint step for a bad share (and Feldman VSS generally), the disputed share is revealed to
   * everyone: the run aborts either way, so nothing of a key that will be used leaks. Every party
   * re-runs the complainer's checks with public data: the share against k's Feldman commitments
   * at the complainer's index, Π^fac under the complainer's ring-Pedersen parameters, Π^mod and
   * Π^sch. Returns k if they fail, the complainer if they hold (a false complaint).
   */
  checkComplaint(complainer: number, messages: readonly ProtocolMessage[]): number | undefined {
    const k = messages[0]?.from;
    if (k === undefined || k === complainer || !this.parties.includes(k) || !this.parties.includes(complainer)) return undefined;
    if (messages.some((m) => m.from !== k || m.round !== 3 || (m.to !== 0 && m.to !== complainer)) || this.round < 3) return undefined;
    const bm = messages.find((m) => m.to === 0);
    const dm = messages.find((m) => m.to === complainer);
    if (!bm || !dm) return complainer;
    try {
      const Pv = complainer === this.self ? this.ped : this.decs.get(complainer)!.aux;
      this.checkRound3(k, complainer, Pv, bm.body, dm.body);
      return complainer;
    } catch (e) {
      if (e instanceof MpcAbort && e.culprits.includes(k)) return k;
      throw e;
    }
  }

  /** The round-3 checks verifier `v` runs on sender j's bodies; returns j's share for `v`, throws an MpcAbort naming j. */
  private checkRound3(j: number, v: number, Pv: PedersenParams, bBody: Uint8Array, dBody: Uint8Array): bigint {
    const c = this.c;
    const coeffs = (i: number): Point[] => (this.old ? [c.ZERO, ...this.decs.get(i)!.F] : this.decs.get(i)!.F);
    const dec = this.decs.get(j)!;
    const { modBytes, z } = asSender(j, 'keygen round 3 broadcast', () => {
      const r = bodyReader(bBody, TAG.keygen3b);
      const modBytes = r.bytes();
      const z = this.old ? 0n : readScalar(r, c);
      r.end();
      return { modBytes, z };
    });
    const { share, facBytes } = asSender(j, 'keygen round 3 direct', () => {
      const r = bodyReader(dBody, TAG.keygen3d);
      const share = readScalar(r, c);
      const facBytes = r.bytes();
      r.end();
      return { share, facBytes };
    });
    check(asSender(j, 'Π^mod', () => verifyMod(dec.aux.N, decodeModProof(modBytes), this.tr('cmp/mod', j))), 'ERR_MPC_PROOF', j, 'Π^mod (Paillier-Blum modulus) failed');
    const facT = this.tr('cmp/fac', j).append('verifier', v);
    check(asSender(j, 'Π^fac', () => verifyFac(dec.aux.N, Pv, decodeFacProof(facBytes), facT, c.n)), 'ERR_MPC_PROOF', j, 'Π^fac (no small factors) failed');
    if (!this.old) check(schVerify(c, this.tr('cmp/sch', j), dec.F[0]!, dec.A!, z), 'ERR_MPC_PROOF', j, 'Π^sch for the secret contribution failed');
    check(mul(c, c.G, share).equals(evalPolyPoints(c, coeffs(j), v)), 'ERR_MPC_SHARE', j, 'share does not match the Feldman commitments');
    return share;
  }

  private round3(b: ReadonlyMap<number, ProtocolMessage>, d: ReadonlyMap<number, ProtocolMessage>): Step<CmpKeyShare> {
    const c = this.c;
    const coeffs = (j: number): Point[] => (this.old ? [c.ZERO, ...this.decs.get(j)!.F] : this.decs.get(j)!.F);
    let secret = evalPoly(c, this.poly, this.self);
    const myPed = this.ped;
    for (const j of this.others) {
      const share = this.checkRound3(j, this.self, myPed, b.get(j)!.body, d.get(j)!.body);
      secret = c.mod(secret + share);
    }
    const publicShares = new Map<number, Point>();
    for (const k of this.parties) {
      let X = this.old ? this.old.publicShares.get(k)! : c.ZERO;
      for (const j of this.parties) X = X.add(evalPolyPoints(c, coeffs(j), k));
      publicShares.set(k, X);
    }
    if (this.old) secret = c.mod(secret + this.old.secret);
    let publicKey = this.old ? this.old.publicKey : c.ZERO;
    if (!this.old) for (const j of this.parties) publicKey = publicKey.add(this.decs.get(j)!.F[0]!);
    let chainCode: Uint8Array;
    if (this.old) chainCode = this.old.chainCode;
    else {
      chainCode = new Uint8Array(32);
      for (const j of this.parties) this.decs.get(j)!.chain!.forEach((x, k) => (chainCode[k]! ^= x));
    }
    const aux = new Map<number, AuxInfo>();
    for (const j of this.parties) {
      const a = this.decs.get(j)!.aux;
      aux.set(j, { N: a.N, s: a.s, t: a.t });
    }
    if (secret === 0n || publicKey.equals(c.ZERO)) throw new MpcError('ERR_MPC_SHARE', 'degenerate key (probability 2^-256); run again');
    const share: CmpKeyShare = {
      curve: c, self: this.self, parties: this.parties, threshold: this.T, secret, publicShares, publicKey, chainCode,
      rid: this.rid, epoch: this.old ? this.old.epoch + 1 : 0, paillier: this.sk, lambda: this.lambda, aux,
    };
    checkShare(share);
    return { kind: 'done', output: share, messages: [] };
  }
}
