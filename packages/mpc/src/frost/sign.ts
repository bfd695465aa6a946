/**
 * FROST(Ed25519, SHA-512) two-round signing (RFC 9591 §5) among any set S of at least t holders
 * of a key, under an HD-derived key (hd.ts), with every signer acting as its own coordinator.
 * The output is a plain RFC 8032 Ed25519 signature R || z, checked by OpenSSL before it is
 * returned.
 *
 * Rounds:
 *  1. broadcast: the commitments (D_i, E_i) of a fresh single-use nonce pair (RFC 9591 §5.1),
 *     a digest of what is being signed (derived key, signer set, H4(message), aggregator) and
 *     the digest of the key state signed with (`keyStateDigest`: commitments and verifying
 *     shares, so it differs between epochs), so parties given different inputs stop before
 *     releasing any share. Another message, key, path or set names the sender; another key
 *     state names nobody (ERR_MPC_KEY_STATE): parties either side of a refresh are both honest.
 *  2. broadcast: the signature share z_i (§5.2) and the echo vector of round 1 (echo.ts), so a
 *     signer that sent different commitments to different peers is caught instead of making an
 *     honest signer's share look bad.
 * Then each signer aggregates (§5.3) and verifies. If the signature does not verify, every
 * share is checked (§5.4 cheater detection, with full subgroup checks on the commitments) and
 * the abort names the signers whose share fails.
 *
 * Single aggregator (option `aggregator`, RFC 9591 §5's Coordinator role taken by one signer):
 * round 2 goes point-to-point to that signer only, which alone checks the echoes, aggregates
 * and verifies; every other signer ends after sending its share, with output `null`. Its
 * purpose is that no party but the aggregator ever holds every share of an attempt: if the
 * aggregator dies before it publishes, nobody can assemble that attempt's signature (the
 * aggregator's own share never left it), so a retry with fresh nonces cannot leave two
 * different valid signatures of one message. The aggregator is part of the signing context,
 * so signers that disagree on it stop in round 1.
 *
 * The HD tweak t is folded in once for the group: the group key is PK' = PK + t·G, each share
 * is s_i + t and each verifying share Y_i + t·G; since Σ_{i∈S} λ_i = 1 for every S,
 * Σ λ_i (s_i + t) = s + t, so the protocol is unchanged and needs no extra round.
 *
 * Element checks (RFC 9591 §3.1): every peer commitment D_j, E_j must be a canonical encoding
 * (RFC 8032, no "negative zero") of an element of the prime-order subgroup other than the
 * identity; D_j is checked on arrival, E_j inside libsodium's multiplication; either failing
 * names the sender. A group commitment R equal to the identity names every other signer. Group
 * operations run on libsodium (fast.ts); the cheater-detection slow path uses noble.
 *
 * Nonces: a party makes its nonce pair in `start()` (or takes a `FrostNonce` made earlier) and
 * consumes it when it computes its share; `FrostNonce.take()` throws the second time. Nonces
 * made in `start()` are hedged (RFC 9591 §4.1 with more input): fresh randomness, the share,
 * the session id, the signing context and the key state.
 */
import { Reader, Writer } from '../codec.ts';
import { MpcAbort, MpcError } from '../errors.ts';
import { BROADCAST, equalBytes, type ProtocolMessage, type Step } from '../round.ts';
import { checkEchoes, readEcho, viewOf } from './echo.ts';
import { deriveEd25519, parsePath } from './hd.ts';
import { FrostParty, defaultRand, usage, type Rand } from './party.ts';
import { FrostNonce, decodeFrostShare, keyStateDigest, type FrostKeyShare } from './share.ts';
import * as fast from './fast.ts';
import {
  G,
  H4,
  IDENTITY,
  L,
  challenge,
  concat,
  decodePoint,
  decodeScalar,
  encodeScalar,
  bindingFactors,
  isCanonicalEncoding,
  lagrange,
  mod,
  nonceGenerate,
  sha256,
  verifyEd25519,
  type EdPoint,
  type SignerCommitment,
} from './suite.ts';

export interface FrostSignOptions {
  readonly session: Uint8Array;
  readonly self: number;
  /** The signing set S (indices of share holders, at least t of them, including self). */
  readonly signers: readonly number[];
  /** This party's key share (decoded, or its encoding). */
  readonly share: FrostKeyShare | Uint8Array;
  /** The message itself (any length): Ed25519 hashes it inside the signature (RFC 8032 §5.1.6). */
  readonly message: Uint8Array;
  /** HD path, e.g. `44/501/0/0/0` (non-hardened); empty signs with the master key. */
  readonly path?: string | readonly number[];
  readonly rand?: Rand;
  /**
   * A nonce made beforehand (e.g. by `frostCommit`); consumed by this signing, so it can never
   * sign twice. By default the party makes a fresh one in round 1.
   */
  readonly nonce?: FrostNonce;
  /**
   * One signer (a member of `signers`) that alone receives the signature shares and outputs the
   * signature; the others output `null`. Default: every signer aggregates (round 2 broadcast).
   */
  readonly aggregator?: number;
}

/** The signature and what it is a signature of. */
export interface FrostSignature {
  /** R || z, 64 bytes: an RFC 8032 Ed25519 signature. */
  readonly signature: Uint8Array;
  /** The (derived) public key it verifies under. */
  readonly publicKey: Uint8Array;
}

/**
 * RFC 9591 §5.1 commit(): a fresh nonce pair, hedged with the share and with `context` (the
 * session id and signing context when a signing party makes it, see `nonceGenerate`).
 */
export function frostCommit(share: FrostKeyShare, rand: Rand = defaultRand, ...context: Uint8Array[]): FrostNonce {
  const d = nonceGenerate(share.secret, rand, TAG_HIDING, ...context);
  const e = nonceGenerate(share.secret, rand, TAG_BINDING, ...context);
  return new FrostNonce(d, e);
}

const IDENTITY_BYTES = IDENTITY.toBytes();
const TAG_HIDING = new TextEncoder().encode('cosigner/frost/nonce/hiding');
const TAG_BINDING = new TextEncoder().encode('cosigner/frost/nonce/binding');
const TAG_CONTEXT = new TextEncoder().encode('cosigner/frost/sign-context/v2');
const TAG_CONTEXT_AGGREGATED = new TextEncoder().encode('cosigner/frost/sign-context/v2/aggregator');

/**
 * What every signer must agree it signs: derived key, signer set, message (via H4) and who
 * aggregates. The key state (`keyStateDigest`) travels beside it, so that a mismatch there (the
 * parties hold different epochs of the key) can be told apart from one here (a party signs
 * something else, and is named).
 */
function signingContext(pk: Uint8Array, signers: readonly number[], msgDigest: Uint8Array, aggregator: number | undefined): Uint8Array {
  const set = Uint8Array.of(signers.length, ...signers);
  return aggregator === undefined ? sha256(TAG_CONTEXT, pk, set, msgDigest) : sha256(TAG_CONTEXT_AGGREGATED, pk, set, msgDigest, Uint8Array.of(aggregator));
}

/**
 * The party's output: the signature, or `null` for a signer that is not the aggregator (it
 * only contributed its share).
 */
export type FrostSignOutput = FrostSignature | null;

export class FrostSignParty extends FrostParty<FrostSignOutput> {
  private readonly share: FrostKeyShare;
  private readonly message: Uint8Array;
  private readonly path: readonly number[];
  private readonly rand: Rand;
  private nonce: FrostNonce | undefined;
  private pk: Uint8Array = new Uint8Array(0);
  private tweak = 0n;
  private body1: Uint8Array = new Uint8Array(0);
  private msgDigest: Uint8Array = new Uint8Array(0);
  private context: Uint8Array = new Uint8Array(0);
  private readonly keyState: Uint8Array;
  private list: SignerCommitment[] = [];
  private view: Uint8Array[] = [];
  private Rbytes: Uint8Array = new Uint8Array(0);
  private rho = new Map<number, bigint>();
  private c = 0n;
  private zSelf = 0n;
  private readonly aggregator: number | undefined;

  constructor(o: FrostSignOptions) {
    super('frost/sign', o.session, o.self, o.signers);
    this.share = o.share instanceof Uint8Array ? decodeFrostShare(o.share) : o.share;
    this.keyState = keyStateDigest(this.share);
    usage(this.share.self === o.self, `share belongs to party ${this.share.self}, not ${o.self}`);
    usage(o.signers.every((p) => this.share.parties.includes(p)), 'a signer holds no share of this key');
    usage(o.signers.length >= this.share.threshold, `${o.signers.length} signers, key needs ${this.share.threshold}`);
    this.message = Uint8Array.from(o.message);
    // Parsed up front so a bad path is a usage error before any message is sent.
    this.path = typeof o.path === 'string' || o.path === undefined ? parsePath(o.path ?? '') : [...o.path];
    this.rand = o.rand ?? defaultRand;
    this.nonce = o.nonce;
    if (this.nonce) usage(!this.nonce.consumed, 'nonce already used');
    this.aggregator = o.aggregator;
    if (o.aggregator !== undefined) usage(o.signers.includes(o.aggregator), `aggregator ${o.aggregator} is not a signer`);
  }

  protected expects(round: number): { broadcast: boolean; direct: boolean } {
    // Only the aggregator ever reaches round 2 in aggregator mode: the shares come to it directly.
    if (this.aggregator === undefined) return { broadcast: round === 1 || round === 2, direct: false };
    if (round === 1) return { broadcast: true, direct: false };
    return { broadcast: false, direct: round === 2 && this.aggregator === this.self };
  }

  protected onStart(): Step<FrostSignOutput> {
    const der = deriveEd25519(this.share.publicKey, this.share.chainCode, this.path, true);
    this.pk = der.publicKey;
    this.tweak = der.tweak;
    this.msgDigest = H4(this.message);
    this.context = signingContext(this.pk, this.parties, this.msgDigest, this.aggregator);
    this.nonce ??= frostCommit(this.share, this.rand, this.session, this.context, this.keyState);
    this.body1 = concat(this.nonce.hidingCommitment, this.nonce.bindingCommitment, this.context, this.keyState);
    return { kind: 'send', messages: [this.out(1, BROADCAST, this.body1)] };
  }

  protected onRound(round: number, b: ReadonlyMap<number, ProtocolMessage>, d: ReadonlyMap<number, ProtocolMessage>): Step<FrostSignOutput> {
    return round === 1 ? this.round1(b) : this.round2(this.aggregator === undefined ? b : d);
  }

  private round1(b: ReadonlyMap<number, ProtocolMessage>): Step<FrostSignOutput> {
    const nonce = this.nonce!;
    const bodies = new Map<number, Uint8Array>([[this.self, this.body1]]);
    const list: SignerCommitment[] = [];
    for (const j of this.parties) {
      if (j === this.self) {
        list.push({ id: j, hidingBytes: nonce.hidingCommitment, bindingBytes: nonce.bindingCommitment });
        continue;
      }
      const body = b.get(j)!.body;
      bodies.set(j, body);
      list.push(
        this.parse(j, 'signing commitments', () => {
          if (body.length !== 128) throw new Error(`${body.length} bytes, want 128`);
          const hidingBytes = body.slice(0, 32);
          const bindingBytes = body.slice(32, 64);
          if (!equalBytes(body.subarray(64, 96), this.context))
            throw new MpcAbort('ERR_MPC_INCONSISTENT_BROADCAST', [j], `party ${j} signs another message, key, path or signer set`);
          // Another key state: not a fault anyone can be named for (an honest party may hold
          // the other epoch of a refresh); stop before our share is computed or released.
          if (!equalBytes(body.subarray(96, 128), this.keyState))
            throw new MpcError('ERR_MPC_KEY_STATE', `party ${j} signs with another state (epoch) of the key; nobody is blamed`);
          // RFC 9591 §3.1 DeserializeElement for both: canonical (the bytes enter the binding
          // factors), not the identity, in the prime-order subgroup. D_j gets the full check
          // here, E_j inside libsodium's multiplication below (crypto_scalarmult_ed25519 refuses
          // non-canonical, small-order and non-subgroup points). Checking D_j only through R
          // is not enough: two signers can put torsion into their D_j that cancels in R.
          if (!isCanonicalEncoding(hidingBytes) || !isCanonicalEncoding(bindingBytes)) throw new Error('non-canonical element encoding');
          if (!fast.isValidElement(hidingBytes)) throw new Error('hiding commitment is not a prime-order element');
          return { id: j, hidingBytes, bindingBytes };
        }),
      );
    }
    this.list = list;
    this.view = viewOf(this.parties, bodies, this.protocol, this.session, 1);
    const rho = bindingFactors(this.pk, list, this.message, this.msgDigest);
    const { d, e } = nonce.take();
    // RFC 9591 §4.5: R = Σ D_i + ρ_i·E_i; our own term is (d + e·ρ_self)·G.
    let R = fast.baseMul(encodeScalar(mod(d + e * rho.get(this.self)!)));
    for (const c of list) {
      if (c.id === this.self) continue;
      R = this.parse(c.id, 'signing commitments', () => fast.add(R, fast.add(c.hidingBytes, fast.mul(encodeScalar(rho.get(c.id)!), c.bindingBytes))));
    }
    // Every term is in the prime-order subgroup (each D_j and E_j was checked), so R is; it
    // must still not be the identity (RFC 9591 §3.1 refuses it; noble's aggregate does too).
    if (equalBytes(R, IDENTITY_BYTES)) throw this.blameCommitments();
    this.Rbytes = R;
    this.rho = rho;
    this.c = challenge(this.Rbytes, this.pk, this.message);
    const lambda = lagrange(this.parties, this.self);
    // RFC 9591 §5.2: z_i = d_i + e_i·ρ_i + λ_i·s_i·c, with s_i the tweaked share s_i + t.
    this.zSelf = mod(d + e * rho.get(this.self)! + lambda * mod(this.share.secret + this.tweak) * this.c);
    // The aggregator keeps its own share: it never leaves this party.
    if (this.aggregator === this.self) return { kind: 'send', messages: [] };
    const w = new Writer().fixed(encodeScalar(this.zSelf));
    for (const v of this.view) w.fixed(v);
    if (this.aggregator !== undefined) {
      this.zSelf = 0n;
      return { kind: 'done', output: null, messages: [this.out(2, this.aggregator, w.finish())] };
    }
    return { kind: 'send', messages: [this.out(2, BROADCAST, w.finish())] };
  }

  private round2(b: ReadonlyMap<number, ProtocolMessage>): Step<FrostSignOutput> {
    const k = this.parties.length;
    const z = new Map<number, bigint>([[this.self, this.zSelf]]);
    const echoes = new Map<number, Uint8Array[]>();
    for (const j of this.others) {
      const body = b.get(j)!.body;
      this.parse(j, 'signature share', () => {
        const r = new Reader(body);
        z.set(j, decodeScalar(r.fixed(32)));
        echoes.set(j, readEcho(r, k));
        r.end();
      });
    }
    checkEchoes(this.self, this.parties, this.view, echoes);
    let sum = 0n;
    for (const v of z.values()) sum += v;
    const signature = concat(this.Rbytes, encodeScalar(sum % L));
    if (verifyEd25519(this.pk, this.message, signature)) return { kind: 'done', output: { signature, publicKey: this.pk }, messages: [] };
    throw this.blame(z);
  }

  /** R is not a valid element: name the signers whose commitments are not (full §3.1 check). */
  private blameCommitments(): MpcError {
    const bad = this.list.filter((c) => c.id !== this.self && !(fast.isValidElement(c.hidingBytes) && fast.isValidElement(c.bindingBytes))).map((c) => c.id);
    if (bad.length === 0) return new MpcAbort('ERR_MPC_COMMITMENT', this.others, 'group commitment is the identity');
    return new MpcAbort('ERR_MPC_PARSE', bad, 'nonce commitment is not a valid prime-order element');
  }

  /** RFC 9591 §5.4: find the signers whose share does not verify (slow path, public data only). */
  private blame(z: ReadonlyMap<number, bigint>): MpcError {
    const tG = this.tweak === 0n ? IDENTITY : G.multiplyUnsafe(this.tweak);
    const bad: number[] = [];
    for (const sc of this.list) {
      const j = sc.id;
      let D: EdPoint;
      let E: EdPoint;
      try {
        D = decodePoint(sc.hidingBytes, true);
        E = decodePoint(sc.bindingBytes, true);
      } catch {
        bad.push(j);
        continue;
      }
      const Y = decodePoint(this.share.verifyingShares[this.share.parties.indexOf(j)]!).add(tG);
      const lhs = G.multiplyUnsafe(z.get(j)!);
      const comm = D.add(E.multiplyUnsafe(this.rho.get(j)!));
      const rhs = comm.add(Y.multiplyUnsafe(mod(this.c * lagrange(this.parties, j))));
      if (!lhs.equals(rhs)) bad.push(j);
    }
    if (bad.includes(this.self)) return new MpcError('ERR_MPC_SHARE', 'own signature share does not verify: the key share is corrupt or stale');
    if (bad.length === 0) return new MpcError('ERR_MPC_SIGNATURE', 'signature does not verify although every share does');
    return new MpcAbort('ERR_MPC_SIGNATURE', bad, 'invalid signature share');
  }
}

export function frostSign(o: FrostSignOptions): FrostSignParty {
  return new FrostSignParty(o);
}
