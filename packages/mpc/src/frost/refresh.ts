/**
 * Proactive refresh of a FROST(Ed25519) key (Herzberg, Jarecki, Krawczyk, Yung, "Proactive
 * Secret Sharing", CRYPTO 1995, §3): same group public key and chain code, new shares; shares
 * from before the refresh no longer combine with shares from after it.
 *
 * Every holder i of the key deals a fresh sharing of zero, g_i(x) = Σ_{k=1}^{t-1} a_ik x^k
 * (no constant term), with Feldman commitments A_ik = a_ik·G.
 *  1. broadcast: a digest of the public key state being refreshed (so all refresh the same
 *     version) and A_i1..A_i(t-1).
 *  2. broadcast: the echo vector of round 1 (echo.ts); direct to each j: g_i(j).
 *  3. broadcast: key confirmation, the digest of the new public key state (`keyStateDigest`);
 *     a party outputs its new share only once every party has confirmed the same state. The
 *     caller must still keep the old share until the new one is sealed everywhere (a party can
 *     crash after sending its confirmation): refresh is all-or-nothing only together with the
 *     service's two-phase switch-over.
 * Output: s_j' = s_j + Σ_i g_i(j); commitments C_0' = C_0, C_k' = C_k + Σ_i A_ik (k >= 1);
 * verifying shares Y_m' = Σ_k m^k C_k'. Since every g_i(0) = 0 the secret s = f(0) is unchanged,
 * while f' = f + Σ g_i is a new random polynomial of degree t-1: t-1 or fewer old shares and
 * new shares together are independent of s, and mixing old and new shares interpolates to a
 * wrong value.
 *
 * Blame: malformed body → sender; key-state digest differing from ours → sender
 * (ERR_MPC_INCONSISTENT_BROADCAST: it holds another version of the key); echo mismatch →
 * echo.ts; zero-share not matching its commitments → sender (ERR_MPC_SHARE), checked in one
 * batch and per sender only when the batch fails; a confirmation of another state → sender.
 */
import { Reader, Writer } from '../codec.ts';
import { MpcAbort, MpcError } from '../errors.ts';
import { BROADCAST, equalBytes, type ProtocolMessage, type Step } from '../round.ts';
import { checkEchoes, readEcho, viewOf } from './echo.ts';
import { FrostParty, defaultRand, type Rand } from './party.ts';
import { confirmBody, decodeFrostShare, keyStateDigest, readConfirm, type FrostKeyShare } from './share.ts';
import { G, IDENTITY, L, decodePoint, decodeScalar, encodeScalar, mod, randomScalar, vssEval, type EdPoint } from './suite.ts';
import { mulAddUnsafe } from '@noble/curves/abstract/curve.js';
import { ed25519 } from '@noble/curves/ed25519.js';

export interface FrostRefreshOptions {
  readonly session: Uint8Array;
  readonly self: number;
  /** The party's current share; every holder of the key takes part. */
  readonly share: FrostKeyShare | Uint8Array;
  readonly rand?: Rand;
}

/** Σ_{k=1}^{m} x^k A_k for commitments A_1..A_m (public, variable time). */
function zeroVssEval(A: readonly EdPoint[], x: number): EdPoint {
  const xb = BigInt(x);
  const sc: bigint[] = [];
  let p = xb;
  for (let k = 0; k < A.length; k++) {
    sc.push(p);
    p = (p * xb) % L;
  }
  return mulAddUnsafe(ed25519.Point, [...A], sc);
}

export class FrostRefreshParty extends FrostParty<FrostKeyShare> {
  private readonly share: FrostKeyShare;
  private readonly rand: Rand;
  private readonly digest: Uint8Array;
  /** a_1..a_{t-1}. */
  private coeffs: bigint[] = [];
  private myA: EdPoint[] = [];
  private body1: Uint8Array = new Uint8Array(0);
  private A = new Map<number, EdPoint[]>();
  private view: Uint8Array[] = [];
  private result: FrostKeyShare | undefined;

  constructor(o: FrostRefreshOptions) {
    const share = o.share instanceof Uint8Array ? decodeFrostShare(o.share) : o.share;
    super('frost/refresh', o.session, o.self, share.parties);
    if (share.self !== o.self) throw new MpcError('ERR_MPC_USAGE', `share belongs to party ${share.self}, not ${o.self}`);
    this.share = share;
    this.rand = o.rand ?? defaultRand;
    this.digest = keyStateDigest(share);
  }

  protected expects(round: number): { broadcast: boolean; direct: boolean } {
    return { broadcast: round >= 1 && round <= 3, direct: round === 2 };
  }

  private g(x: number): bigint {
    // g(x) = Σ_{k>=1} a_k x^k = x·(a_1 + a_2 x + …), by Horner.
    let acc = 0n;
    const xb = BigInt(x);
    for (let k = this.coeffs.length - 1; k >= 0; k--) acc = mod(acc * xb + this.coeffs[k]!);
    return mod(acc * xb);
  }

  protected onStart(): Step<FrostKeyShare> {
    const t = this.share.threshold;
    for (let k = 1; k < t; k++) this.coeffs.push(randomScalar(this.rand));
    this.myA = this.coeffs.map((a) => G.multiply(a));
    const w = new Writer().fixed(this.digest);
    for (const a of this.myA) w.fixed(a.toBytes());
    this.body1 = w.finish();
    return { kind: 'send', messages: [this.out(1, BROADCAST, this.body1)] };
  }

  protected onRound(round: number, b: ReadonlyMap<number, ProtocolMessage>, d: ReadonlyMap<number, ProtocolMessage>): Step<FrostKeyShare> {
    if (round === 1) return this.round1(b);
    if (round === 2) return this.round2(b, d);
    readConfirm(this, b, this.result!);
    return { kind: 'done', output: this.result!, messages: [] };
  }

  /** Party j's round-1 broadcast: its key-state digest must be ours; returns its commitments A_j (aborts name j). */
  private checkRound1(j: number, body: Uint8Array): EdPoint[] {
    const t = this.share.threshold;
    const { digest, A } = this.parse(j, 'refresh round-1 broadcast', () => {
      const r = new Reader(body);
      const digest = r.fixed(32);
      const A: EdPoint[] = [];
      for (let k = 1; k < t; k++) A.push(decodePoint(r.fixed(32)));
      r.end();
      return { digest, A };
    });
    if (!equalBytes(digest, this.digest)) throw new MpcAbort('ERR_MPC_INCONSISTENT_BROADCAST', [j], `party ${j} refreshes a different key state`);
    return A;
  }

  private round1(b: ReadonlyMap<number, ProtocolMessage>): Step<FrostKeyShare> {
    const bodies = new Map<number, Uint8Array>([[this.self, this.body1]]);
    for (const j of this.others) {
      const body = b.get(j)!.body;
      bodies.set(j, body);
      this.A.set(j, this.checkRound1(j, body));
    }
    this.view = viewOf(this.parties, bodies, this.protocol, this.session, 1);
    const w = new Writer();
    for (const v of this.view) w.fixed(v);
    const msgs: ProtocolMessage[] = [this.out(2, BROADCAST, w.finish())];
    for (const j of this.others) msgs.push(this.out(2, j, encodeScalar(this.g(j))));
    return { kind: 'send', messages: msgs };
  }

  private readEchoOf(j: number, body: Uint8Array): Uint8Array[] {
    return this.parse(j, 'refresh echo', () => {
      const r = new Reader(body);
      const echo = readEcho(r, this.parties.length);
      r.end();
      return echo;
    });
  }

  /**
   * Verifiable complaint (`Party.checkComplaint`; see FrostKeygenParty.checkComplaint, the same
   * re-check): round 1: k's layout, elements and key-state digest; round 2: k's echo against
   * this party's view and k's zero-share for the complainer against k's commitments A_k
   * (g_k(complainer)·G = Σ_m complainer^m A_km); round 3: k's confirmation against this party's
   * result. Returns k, the complainer (a false complaint), or undefined (cannot tell).
   */
  checkComplaint(complainer: number, messages: readonly ProtocolMessage[]): number | undefined {
    const k = messages[0]?.from;
    const round = messages[0]?.round;
    if (k === undefined || round === undefined || k === complainer || !this.parties.includes(k) || !this.parties.includes(complainer)) return undefined;
    if (messages.some((m) => m.from !== k || m.round !== round || (m.to !== BROADCAST && m.to !== complainer))) return undefined;
    const bm = messages.find((m) => m.to === BROADCAST);
    const dm = messages.find((m) => m.to === complainer);
    const blamesK = (f: () => void): number | undefined => {
      try {
        f();
        return complainer;
      } catch (e) {
        if (e instanceof MpcAbort && e.culprits.includes(k)) return e.culprits.length === 1 ? k : undefined;
        throw e;
      }
    };
    if (round === 1) return bm ? blamesK(() => this.checkRound1(k, bm.body)) : complainer;
    const A = k === this.self ? this.myA : this.A.get(k);
    if (round === 2) {
      if (!A || this.view.length === 0) return undefined;
      return blamesK(() => {
        if (bm) checkEchoes(this.self, this.parties, this.view, new Map([[k, this.readEchoOf(k, bm.body)]]));
        if (dm) {
          const delta = this.parse(k, 'refresh share', () => decodeScalar(dm.body));
          if (!G.multiply(delta).equals(zeroVssEval(A, complainer))) throw new MpcAbort('ERR_MPC_SHARE', [k], `zero-share of ${k} for ${complainer} does not match its commitments`);
        }
      });
    }
    if (round === 3 && bm && this.result) return bm.body.length === 32 && equalBytes(bm.body, keyStateDigest(this.result)) ? complainer : k;
    return undefined;
  }

  private round2(b: ReadonlyMap<number, ProtocolMessage>, d: ReadonlyMap<number, ProtocolMessage>): Step<FrostKeyShare> {
    const echoes = new Map<number, Uint8Array[]>();
    for (const j of this.others) echoes.set(j, this.readEchoOf(j, b.get(j)!.body));
    checkEchoes(this.self, this.parties, this.view, echoes);
    const deltas = new Map<number, bigint>();
    for (const j of this.others) deltas.set(j, this.parse(j, 'refresh share', () => decodeScalar(d.get(j)!.body)));

    const t = this.share.threshold;
    const C = this.share.commitments.map((c) => decodePoint(c));
    for (let k = 1; k < t; k++) {
      let acc = C[k]!.add(this.myA[k - 1]!);
      for (const j of this.others) acc = acc.add(this.A.get(j)![k - 1]!);
      C[k] = acc;
    }
    let s = mod(this.share.secret + this.g(this.self));
    for (const v of deltas.values()) s = mod(s + v);
    const Y = this.parties.map((m) => vssEval(C, m));
    if (!G.multiply(s).equals(Y[this.parties.indexOf(this.self)]!)) {
      const bad = this.others.filter((j) => !G.multiply(deltas.get(j)!).equals(zeroVssEval(this.A.get(j)!, this.self)));
      if (bad.length === 0) throw new MpcError('ERR_MPC_SHARE', 'refresh: own share inconsistent with the key state (corrupt share)');
      throw new MpcAbort('ERR_MPC_SHARE', bad, 'refresh share does not match the sender\'s commitments');
    }
    if (C.some((c) => c.equals(IDENTITY))) throw new MpcAbort('ERR_MPC_COMMITMENT', this.others, 'refreshed commitment is the identity');
    const out: FrostKeyShare = {
      self: this.self,
      parties: this.parties,
      threshold: t,
      publicKey: this.share.publicKey,
      chainCode: this.share.chainCode,
      commitments: C.map((c) => c.toBytes()),
      verifyingShares: Y.map((y) => y.toBytes()),
      secret: s,
    };
    this.coeffs.fill(0n);
    this.coeffs = [];
    this.result = out;
    return { kind: 'send', messages: [this.out(3, BROADCAST, confirmBody(out))] };
  }
}

export function frostRefresh(o: FrostRefreshOptions): FrostRefreshParty {
  return new FrostRefreshParty(o);
}
