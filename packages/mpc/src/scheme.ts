/**
 * One signing interface over both threshold schemes, so the signer service drives ECDSA
 * (MPC-CMP) and EdDSA (FROST, RFC 9591) without knowing which.
 *
 * Every protocol is a round-based `Party` (round.ts) with the same message encoding, session
 * ids, strict parsing and typed aborts naming culprits (errors.ts `MpcAbort`). Shares and
 * presignatures cross this interface as opaque, versioned byte strings (what the service seals
 * in its enclave); their public description comes from `shareInfo`.
 *
 * Flow per algorithm:
 *  - keygen → share bytes + public info (public key, chain code, threshold, parties);
 *  - refresh(share) → new share bytes, same public key and chain code;
 *  - ECDSA only: presign(share) → presignature bytes, used once by sign;
 *  - sign(share, presignature?, message, path) → signature under the key derived along `path`;
 *  - derivePublicKey / verify run locally, no MPC.
 *
 * What `message` is differs by algorithm and is stated by `messageKind`: ECDSA signs a 32-byte
 * digest (the service hashes, e.g. keccak256 of an EIP-1559 transaction); EdDSA signs the
 * message itself (Ed25519 hashes internally, RFC 8032 §5.1.6).
 */
import { MpcError } from './errors.ts';
import type { Party, Step } from './round.ts';

export type Algorithm = 'ECDSA_SECP256K1' | 'ECDSA_SECP256R1' | 'EDDSA_ED25519';

export const ALGORITHMS: readonly Algorithm[] = ['ECDSA_SECP256K1', 'ECDSA_SECP256R1', 'EDDSA_ED25519'];

/** Randomness source, injectable for tests. */
export type RandomSource = (n: number) => Uint8Array;

/** Public description of a key share (nothing secret). */
export interface KeyShareInfo {
  readonly algorithm: Algorithm;
  /** The holder's party index (its share's x-coordinate). */
  readonly self: number;
  /** Every holder of the key, ascending. */
  readonly parties: readonly number[];
  /** How many parties must sign. */
  readonly threshold: number;
  /** Master public key: 33-byte SEC1 compressed (ECDSA) or 32-byte RFC 8032 (EdDSA). */
  readonly publicKey: Uint8Array;
  /** 32-byte chain code for non-hardened HD derivation. */
  readonly chainCode: Uint8Array;
}

/** Output of keygen and refresh: the public description plus the encoded (secret) share. */
export interface KeyShareOutput extends KeyShareInfo {
  /** Opaque, versioned encoding of the secret share: seal it, never log it. */
  readonly share: Uint8Array;
}

export interface SchemeSignature {
  readonly algorithm: Algorithm;
  /**
   * EdDSA: R || S (64 bytes, RFC 8032). ECDSA: r || s (64 bytes big-endian, s low as the
   * ECDSA adapter documents).
   */
  readonly signature: Uint8Array;
  /** The derived public key the signature verifies under. */
  readonly publicKey: Uint8Array;
  /** ECDSA only: recovery id (bit 0: parity of R.y after low-s; bit 1: R.x >= n), for Ethereum's v. */
  readonly recoveryId?: number;
  /** ECDSA only: the DER encoding (X.509 / OpenSSL form). */
  readonly der?: Uint8Array;
}

export interface KeygenOptions {
  /** 32 random bytes naming this run, the same at every party. */
  readonly session: Uint8Array;
  readonly self: number;
  readonly parties: readonly number[];
  /** Parties needed to sign; default all of them (n-of-n; the co-signer's default is 3-of-3). */
  readonly threshold?: number;
  /**
   * ECDSA (CMP) only: this party's two safe primes for its Paillier / ring-Pedersen modulus,
   * generated ahead of time (minutes of work, so from a pool). Ignored by EdDSA.
   */
  readonly primes?: readonly [bigint, bigint];
  readonly rand?: RandomSource;
}

export interface RefreshOptions {
  readonly session: Uint8Array;
  readonly self: number;
  /** Encoded share from keygen or a previous refresh. */
  readonly share: Uint8Array;
  /** ECDSA (CMP) only: fresh safe primes (refresh replaces the Paillier keys too). */
  readonly primes?: readonly [bigint, bigint];
  readonly rand?: RandomSource;
}

export interface PresignOptions {
  readonly session: Uint8Array;
  readonly self: number;
  readonly signers: readonly number[];
  readonly share: Uint8Array;
  readonly rand?: RandomSource;
}

export interface BatchPresignOptions extends PresignOptions {
  /** How many presignatures one run makes (CMP: 1..MAX_BATCH). */
  readonly count: number;
}

export interface SignOptions {
  readonly session: Uint8Array;
  readonly self: number;
  /** The signing set (at least `threshold` holders, including self). */
  readonly signers: readonly number[];
  readonly share: Uint8Array;
  /** ECDSA: the presignature (used once, then destroyed by the caller). EdDSA: none. */
  readonly presignature?: Uint8Array;
  /** See `messageKind`. */
  readonly message: Uint8Array;
  /** Non-hardened derivation path, e.g. `m/44/60/0/0/0` or `44/501/0/0/0`; `` = master key. */
  readonly path: string;
  readonly rand?: RandomSource;
  /**
   * EdDSA only: the one signer that receives the signature shares and outputs the signature
   * (RFC 9591 §5 coordinator); the other signers output `null`. Default: every signer outputs
   * it. ECDSA ignores it: a CMP presignature already yields exactly one signature per message.
   */
  readonly aggregator?: number;
}

export interface DerivedPublicKey {
  readonly publicKey: Uint8Array;
  readonly chainCode: Uint8Array;
  /** The parsed path (non-hardened indices). */
  readonly path: readonly number[];
}

export interface ThresholdScheme {
  readonly algorithm: Algorithm;
  /** `digest32`: sign takes a 32-byte digest. `message`: sign takes the message itself. */
  readonly messageKind: 'digest32' | 'message';
  /** True when `sign` needs a presignature from `presign` (ECDSA/CMP). */
  readonly needsPresignature: boolean;
  keygen(o: KeygenOptions): Party<KeyShareOutput>;
  refresh(o: RefreshOptions): Party<KeyShareOutput>;
  /** ECDSA only: produce one presignature (encoded) for a later one-round `sign`. */
  presign?(o: PresignOptions): Party<Uint8Array>;
  /** ECDSA only: `count` presignatures in one run (the same rounds as one; what the enclave's pool uses). */
  presignBatch?(o: BatchPresignOptions): Party<Uint8Array[]>;
  /** The signature, or `null` at a signer that is not the `aggregator`. */
  sign(o: SignOptions): Party<SchemeSignature | null>;
  derivePublicKey(publicKey: Uint8Array, chainCode: Uint8Array, path: string): DerivedPublicKey;
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  /**
   * ECDSA only: verifies a compact (r || s) signature over a 32-byte digest under the key derived
   * from the master key and chain code along `path`, together with its recovery id (SEC 1 v2
   * §4.1.4 and §4.1.6): r and s in [1, n-1], s low, and R = ((e + r·t)/s)·G + (r/s)·X (X the
   * master key, t the path's tweak, so X + t·G is the derived key) has x ≡ r and the y parity and
   * x overflow the recovery id states. Equivalent to recovering the derived key from (r, s, v, e),
   * at the cost of two table-driven multiplications.
   */
  verifyRecoverable?(masterPublicKey: Uint8Array, chainCode: Uint8Array, path: string, digest: Uint8Array, signature: Uint8Array, recoveryId: number): boolean;
  /** Strictly decode an encoded share and return its public description (MpcParseError if bad). */
  shareInfo(share: Uint8Array): KeyShareInfo;
}

/**
 * Registry the service builds once: `schemeRegistry(THRESHOLD_SCHEMES)`
 * then `scheme('EDDSA_ED25519')`. Unknown algorithms are a usage error.
 */
export function schemeRegistry(list: readonly ThresholdScheme[]): (algorithm: Algorithm) => ThresholdScheme {
  const m = new Map<Algorithm, ThresholdScheme>();
  for (const s of list) {
    if (m.has(s.algorithm)) throw new MpcError('ERR_MPC_USAGE', `two schemes for ${s.algorithm}`);
    m.set(s.algorithm, s);
  }
  return (algorithm) => {
    const s = m.get(algorithm);
    if (!s) throw new MpcError('ERR_MPC_USAGE', `no threshold scheme for ${algorithm}`);
    return s;
  };
}

export function isAlgorithm(x: unknown): x is Algorithm {
  return typeof x === 'string' && (ALGORITHMS as readonly string[]).includes(x);
}

/**
 * View a party through a function of its output (e.g. a protocol's native share object →
 * `KeyShareOutput`). Everything else (rounds, messages, errors) passes through unchanged, so
 * adapters for either scheme stay thin.
 */
export function mapParty<A, B>(party: Party<A>, f: (a: A) => B): Party<B> {
  const map = (s: Step<A>): Step<B> => (s.kind === 'done' ? { kind: 'done', output: f(s.output), messages: s.messages } : s);
  return {
    get protocol() {
      return party.protocol;
    },
    get session() {
      return party.session;
    },
    get self() {
      return party.self;
    },
    get parties() {
      return party.parties;
    },
    get round() {
      return party.round;
    },
    start: () => map(party.start()),
    receive: (m) => map(party.receive(m)),
    ...(party.checkComplaint ? { checkComplaint: party.checkComplaint.bind(party) } : {}),
  };
}
