/**
 * FROST(Ed25519, SHA-512) distributed key generation, t-of-n (threshold t parties sign): the
 * Pedersen DKG with proofs of knowledge of Komlo & Goldberg, "FROST" (SAC 2020) §5.1 Figure 1,
 * in the packaging of noble's `ed25519_FROST.DKG` (and frost-rs), plus an echo round for
 * broadcast consistency and a commit-then-reveal HD chain code (see HD.md).
 *
 * Rounds (all messages of a round from every other party):
 *  1. broadcast: the Feldman commitments C_j0..C_j(t-1) to party j's random polynomial f_j, the
 *     proof of knowledge (R, μ) of f_j(0) (c = H_dkg(binding || id || C_j0 || R)), and
 *     SHA-256 commitment to j's 32-byte chain-code contribution cc_j.
 *  2. broadcast: the echo vector of round 1 (echo.ts) and cc_j revealed; direct to each k: the
 *     share f_j(k).
 *  3. broadcast: key confirmation, the digest of the resulting public key state
 *     (`keyStateDigest`: parties, t, public key, chain code, commitments, verifying shares). A
 *     party outputs its share only when every party has confirmed the same state, so an abort
 *     anywhere in round 2 (e.g. a bad share seen by one party only) stops everyone.
 * Output: s_k = Σ_j f_j(k), group commitments C_m = Σ_j C_jm (public key C_0), verifying shares
 * Y_i = Σ_m i^m C_m for every party, chain code SHA-256(tag || cc_1 || … || cc_n).
 *
 * The proof of knowledge is bound to the session, the party list and t (`dkgBinding`, hashed
 * into the challenge in front of noble's / frost-rs's H_dkg(id || C_j0 || R)): a package from
 * another session, party list or threshold fails the proof and names its sender. This departs
 * from frost-rs's context-free challenge, so our packages no longer verify in noble's round2.
 *
 * The echo rides on round 2 rather than a round of its own: the shares sent alongside it go
 * point-to-point to the one party entitled to them whatever the sender broadcast, the chain-code
 * reveals open commitments that the same echo fixes, and nothing is output before every echo
 * has been checked (and, in round 3, every party has confirmed the result).
 *
 * Checks and whom they blame: malformed body → sender (ERR_MPC_PARSE); bad proof of knowledge
 * → sender (ERR_MPC_PROOF); echo mismatch → see echo.ts (ERR_MPC_INCONSISTENT_BROADCAST);
 * revealed chain code not matching its commitment → sender (ERR_MPC_COMMITMENT); share not
 * matching the sender's commitments (RFC 9591 Appendix C.2 vss_verify) → sender (ERR_MPC_SHARE);
 * a confirmation of another key state → sender (ERR_MPC_INCONSISTENT_BROADCAST).
 * The share check is batched (Σ_j f_j(k)·G against Σ_j vss(C_j, k)); only when the batch fails
 * is each share checked alone to name the culprit.
 *
 * noble's `DKG.round1` samples the polynomial and makes the proof; its `round2`/`round3` are
 * not used because they re-decode every element with two subgroup checks each (about 100 ms per
 * party here, over the 60 ms budget) and throw without naming a culprit. Our packages are the
 * same bytes noble's round2 accepts (test/frost-keygen.test.ts checks it).
 */
import { ed25519_FROST } from '@noble/curves/ed25519.js';
import { Reader, Writer } from '../codec.ts';
import { MpcAbort, MpcError } from '../errors.ts';
import { BROADCAST, equalBytes, type ProtocolMessage, type Step } from '../round.ts';
import { checkEchoes, readEcho, viewOf } from './echo.ts';
import { FrostParty, defaultRand, usage, type Rand } from './party.ts';
import { confirmBody, keyStateDigest, readConfirm, type FrostKeyShare } from './share.ts';
import {
  CONTEXT,
  G,
  concat,
  IDENTITY,
  decodePoint,
  decodeScalar,
  encodeScalar,
  leToBigint,
  mod,
  nonceGenerate,
  polyEval,
  sha256,
  vssEval,
  type EdPoint,
} from './suite.ts';
import { createHash } from 'node:crypto';

export interface FrostKeygenOptions {
  readonly session: Uint8Array;
  readonly self: number;
  /** Every party of the key (their indices are the share x-coordinates). */
  readonly parties: readonly number[];
  /** t, the number of parties needed to sign (2 <= t <= n; noble's FROST refuses t = 1). */
  readonly threshold: number;
  readonly rand?: Rand;
}

const te = new TextEncoder();
const TAG_CC_COMMIT = te.encode('cosigner/frost/chaincode-commit/v1');
const TAG_CC = te.encode('cosigner/frost/chaincode/v1');
const TAG_DKG = te.encode(CONTEXT + 'dkg');
const TAG_POK_BINDING = te.encode('cosigner/frost/dkg-pok-binding/v1');
const TAG_POK_NONCE = te.encode('cosigner/frost/dkg-pok-nonce/v1');

/** H_dkg of noble / frost-rs: SHA-512(contextString || "dkg" || m) as a little-endian scalar. */
function hdkg(...m: Uint8Array[]): bigint {
  const h = createHash('sha512').update(TAG_DKG);
  for (const p of m) h.update(p);
  return mod(leToBigint(new Uint8Array(h.digest())));
}

/**
 * What a DKG proof of knowledge is bound to: the session id, the party list and t. A proof
 * made for another session (or another set of parties, or threshold) does not verify here, so
 * a package replayed from elsewhere is refused at the proof (ERR_MPC_PROOF) instead of passing
 * it and failing later.
 */
export function dkgBinding(session: Uint8Array, parties: readonly number[], threshold: number): Uint8Array {
  return sha256(TAG_POK_BINDING, session, Uint8Array.of(parties.length, ...parties, threshold));
}

/**
 * Schnorr proof of knowledge of a_j0 (Komlo & Goldberg 2020, Figure 1, round 1 step 2) with the
 * challenge c = H_dkg(binding || j || C_j0 || R): frost-rs's / noble's H_dkg(j || C_j0 || R)
 * with the session binding in front. The nonce k is hedged: fresh randomness, the secret and the
 * binding.
 */
function proveKnowledge(binding: Uint8Array, j: number, a0: bigint, C0bytes: Uint8Array, rand: Rand): Uint8Array {
  const k = nonceGenerate(a0, rand, TAG_POK_NONCE, binding);
  const Rb = G.multiply(k).toBytes();
  const c = hdkg(binding, encodeScalar(BigInt(j)), C0bytes, Rb);
  return concat(Rb, encodeScalar(mod(k + a0 * c)));
}

/** Verify the proof of knowledge of f_j(0): R = μ·G − c·C_j0 with c = H_dkg(binding || j || C_j0 || R). */
export function verifyKnowledgeProof(binding: Uint8Array, j: number, C0: EdPoint, C0bytes: Uint8Array, proof: Uint8Array): boolean {
  const Rb = proof.subarray(0, 32);
  const R = decodePoint(Rb);
  const mu = decodeScalar(proof.subarray(32, 64));
  const c = hdkg(binding, encodeScalar(BigInt(j)), C0bytes, Rb);
  return G.multiplyUnsafe(mu).subtract(C0.multiplyUnsafe(c)).equals(R);
}

function ccCommitment(session: Uint8Array, j: number, cc: Uint8Array): Uint8Array {
  return sha256(TAG_CC_COMMIT, session, Uint8Array.of(j), cc);
}

interface Round1 {
  readonly C: EdPoint[];
  readonly Cbytes: Uint8Array[];
  readonly ccCommit: Uint8Array;
}

/** One party of FROST key generation; outputs its `FrostKeyShare`. */
export class FrostKeygenParty extends FrostParty<FrostKeyShare> {
  readonly threshold: number;
  private readonly rand: Rand;
  private readonly binding: Uint8Array;
  private coefficients: bigint[] = [];
  private nobleSecret: ReturnType<typeof ed25519_FROST.DKG.round1>['secret'] | undefined;
  private myCommitments: EdPoint[] = [];
  private myBody1: Uint8Array = new Uint8Array(0);
  private cc: Uint8Array = new Uint8Array(0);
  private myCcCommit: Uint8Array = new Uint8Array(0);
  private r1 = new Map<number, Round1>();
  private view: Uint8Array[] = [];
  private result: FrostKeyShare | undefined;

  constructor(o: FrostKeygenOptions) {
    super('frost/keygen', o.session, o.self, o.parties);
    usage(Number.isInteger(o.threshold) && o.threshold >= 2 && o.threshold <= o.parties.length, `threshold ${o.threshold} of ${o.parties.length}: need 2 <= t <= n`);
    this.threshold = o.threshold;
    this.rand = o.rand ?? defaultRand;
    this.binding = dkgBinding(this.session, this.parties, this.threshold);
  }

  protected expects(round: number): { broadcast: boolean; direct: boolean } {
    return { broadcast: round >= 1 && round <= 3, direct: round === 2 };
  }

  protected onStart(): Step<FrostKeyShare> {
    const id = ed25519_FROST.Identifier.fromNumber(this.self);
    const r = ed25519_FROST.DKG.round1(id, { min: this.threshold, max: this.parties.length }, undefined, (n?: number) => this.rand(n ?? 32));
    this.nobleSecret = r.secret;
    this.coefficients = [...r.secret.coefficients!];
    this.myCommitments = r.public.commitment.map((c) => decodePoint(c, false));
    this.cc = this.rand(32);
    const w = new Writer();
    for (const c of r.public.commitment) w.fixed(c);
    // Our own proof, bound to the session (noble's is context-free; it is not sent).
    const proof = proveKnowledge(this.binding, this.self, this.coefficients[0]!, r.public.commitment[0]!, this.rand);
    this.myCcCommit = ccCommitment(this.session, this.self, this.cc);
    w.fixed(proof).fixed(this.myCcCommit);
    this.myBody1 = w.finish();
    return { kind: 'send', messages: [this.out(1, BROADCAST, this.myBody1)] };
  }

  protected onRound(round: number, b: ReadonlyMap<number, ProtocolMessage>, d: ReadonlyMap<number, ProtocolMessage>): Step<FrostKeyShare> {
    if (round === 1) return this.round1(b);
    if (round === 2) return this.round2(b, d);
    readConfirm(this, b, this.result!);
    return { kind: 'done', output: this.result!, messages: [] };
  }

  /** Party j's round-1 broadcast: parsed, elements checked, proof of knowledge verified (aborts name j). */
  private checkRound1(j: number, body: Uint8Array): Round1 {
    const t = this.threshold;
    const { Cbytes, proof, ccCommit } = this.parse(j, 'keygen round-1 broadcast', () => {
      const r = new Reader(body);
      const Cbytes: Uint8Array[] = [];
      for (let k = 0; k < t; k++) Cbytes.push(r.fixed(32));
      const proof = r.fixed(64);
      const ccCommit = r.fixed(32);
      r.end();
      return { Cbytes, proof, ccCommit };
    });
    const C = this.parse(j, 'keygen commitment', () => Cbytes.map((c) => decodePoint(c)));
    const ok = this.parse(j, 'keygen proof of knowledge', () => verifyKnowledgeProof(this.binding, j, C[0]!, Cbytes[0]!, proof));
    if (!ok) throw new MpcAbort('ERR_MPC_PROOF', [j], `invalid proof of knowledge of the secret from ${j}`);
    return { C, Cbytes, ccCommit };
  }

  private round1(b: ReadonlyMap<number, ProtocolMessage>): Step<FrostKeyShare> {
    const bodies = new Map<number, Uint8Array>([[this.self, this.myBody1]]);
    for (const j of this.others) {
      const m = b.get(j)!;
      bodies.set(j, m.body);
      this.r1.set(j, this.checkRound1(j, m.body));
    }
    this.view = viewOf(this.parties, bodies, this.protocol, this.session, 1);
    const w = new Writer();
    for (const v of this.view) w.fixed(v);
    w.fixed(this.cc);
    const msgs: ProtocolMessage[] = [this.out(2, BROADCAST, w.finish())];
    for (const j of this.others) msgs.push(this.out(2, j, encodeScalar(polyEval(this.coefficients, j))));
    return { kind: 'send', messages: msgs };
  }

  private round2(b: ReadonlyMap<number, ProtocolMessage>, d: ReadonlyMap<number, ProtocolMessage>): Step<FrostKeyShare> {
    const echoes = new Map<number, Uint8Array[]>();
    const reveals = new Map<number, Uint8Array>([[this.self, this.cc]]);
    for (const j of this.others) {
      const { echo, reveal } = this.readRound2(j, b.get(j)!.body);
      echoes.set(j, echo);
      reveals.set(j, reveal);
    }
    checkEchoes(this.self, this.parties, this.view, echoes);
    for (const j of this.others) {
      if (!equalBytes(ccCommitment(this.session, j, reveals.get(j)!), this.r1.get(j)!.ccCommit))
        throw new MpcAbort('ERR_MPC_COMMITMENT', [j], `chain-code contribution of ${j} does not open its commitment`);
    }
    const shares = new Map<number, bigint>();
    for (const j of this.others) shares.set(j, this.parse(j, 'keygen share', () => decodeScalar(d.get(j)!.body)));

    // Group commitments C_m = Σ_j C_jm.
    const t = this.threshold;
    const C: EdPoint[] = [];
    for (let m = 0; m < t; m++) {
      let acc = this.myCommitments[m]!;
      for (const j of this.others) acc = acc.add(this.r1.get(j)!.C[m]!);
      C.push(acc);
    }
    let s = polyEval(this.coefficients, this.self);
    for (const v of shares.values()) s = mod(s + v);
    const Y = this.parties.map((i) => vssEval(C, i));
    const Yself = Y[this.parties.indexOf(this.self)]!;
    if (!G.multiply(s).equals(Yself)) {
      // Some share is wrong: find whose (RFC 9591 Appendix C.2 vss_verify per sender).
      const bad = this.others.filter((j) => !G.multiply(shares.get(j)!).equals(vssEval(this.r1.get(j)!.C, this.self)));
      if (bad.length === 0) throw new MpcError('ERR_MPC_SHARE', 'keygen: own share inconsistent (internal error)');
      throw new MpcAbort('ERR_MPC_SHARE', bad, `share does not match the sender's commitments`);
    }
    if (C[0]!.equals(IDENTITY)) throw new MpcAbort('ERR_MPC_COMMITMENT', this.others, 'group public key is the identity');
    const chainCode = sha256(TAG_CC, ...this.parties.map((p) => reveals.get(p)!));
    const publicKey = C[0]!.toBytes();
    const out: FrostKeyShare = {
      self: this.self,
      parties: this.parties,
      threshold: t,
      publicKey,
      chainCode,
      commitments: C.map((c) => c.toBytes()),
      verifyingShares: Y.map((y) => y.toBytes()),
      secret: s,
    };
    this.wipe();
    this.result = out;
    return { kind: 'send', messages: [this.out(3, BROADCAST, confirmBody(out))] };
  }

  private readRound2(j: number, body: Uint8Array): { echo: Uint8Array[]; reveal: Uint8Array } {
    return this.parse(j, 'keygen round-2 broadcast', () => {
      const r = new Reader(body);
      const echo = readEcho(r, this.parties.length);
      const reveal = r.fixed(32);
      r.end();
      return { echo, reveal };
    });
  }

  /**
   * Verifiable complaint (`Party.checkComplaint`, the mechanism of packages/party/src/session.ts):
   * party `complainer` aborted naming k, and shows k's messages of one round to it, signed by k
   * (so they are what k sent). As in Pedersen's DKG complaint phase (and FROST's, Komlo &
   * Goldberg §5.1), the disputed share is revealed: the run aborts either way, so nothing of a
   * key that will be used leaks. Every party re-runs the complainer's checks with public data:
   * round 1: the package's elements and proof of knowledge; round 2: the broadcast's layout, the
   * echo against this party's own view (broadcasts are the same for everyone: the transport's
   * signed echo catches equivocation), the chain-code reveal against its commitment, and the
   * share against k's Feldman commitments at the complainer's index (RFC 9591 Appendix C.2
   * vss_verify); round 3: the confirmation against this party's own result. Returns k if a check
   * fails, the complainer if all hold (a false complaint), undefined if this party cannot tell.
   */
  checkComplaint(complainer: number, messages: readonly ProtocolMessage[]): number | undefined {
    const k = messages[0]?.from;
    const round = messages[0]?.round;
    if (k === undefined || round === undefined || k === complainer || !this.parties.includes(k) || !this.parties.includes(complainer)) return undefined;
    if (messages.some((m) => m.from !== k || m.round !== round || (m.to !== BROADCAST && m.to !== complainer))) return undefined;
    const bm = messages.find((m) => m.to === BROADCAST);
    const dm = messages.find((m) => m.to === complainer);
    // A check naming k alone convicts k; one naming k and another (an echo mismatch about a
    // third party's broadcast) cannot tell which of them lied.
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
    const r1 = k === this.self ? { C: this.myCommitments, ccCommit: this.myCcCommit } : this.r1.get(k);
    if (round === 2) {
      if (!r1 || this.view.length === 0) return undefined;
      return blamesK(() => {
        if (bm) {
          const { echo, reveal } = this.readRound2(k, bm.body);
          checkEchoes(this.self, this.parties, this.view, new Map([[k, echo]]));
          if (!equalBytes(ccCommitment(this.session, k, reveal), r1.ccCommit))
            throw new MpcAbort('ERR_MPC_COMMITMENT', [k], `chain-code contribution of ${k} does not open its commitment`);
        }
        if (dm) {
          const share = this.parse(k, 'keygen share', () => decodeScalar(dm.body));
          if (!G.multiply(share).equals(vssEval(r1.C, complainer))) throw new MpcAbort('ERR_MPC_SHARE', [k], `share of ${k} for ${complainer} does not match its commitments`);
        }
      });
    }
    if (round === 3 && bm && this.result) {
      const mine = keyStateDigest(this.result);
      return bm.body.length === 32 && equalBytes(bm.body, mine) ? complainer : k;
    }
    return undefined;
  }

  private wipe(): void {
    if (this.nobleSecret) ed25519_FROST.DKG.clean(this.nobleSecret);
    this.coefficients.fill(0n);
    this.coefficients = [];
    this.cc.fill(0);
  }
}

/** Convenience constructor matching the scheme interface. */
export function frostKeygen(o: FrostKeygenOptions): FrostKeygenParty {
  return new FrostKeygenParty(o);
}

