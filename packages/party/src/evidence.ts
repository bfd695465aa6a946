/**
 * Signed message bodies and echo broadcast across parties (issue 13 items 2 and 3).
 *
 * Every protocol message travels as a `SignedBody`: the MPC package's encoded message (`wire`),
 * the sender's Ed25519 identity signature over `"cosigner/mpc/body/v1" ‖ SHA-256(wire)`, and an
 * echo. The body signature is inside the encryption for direct messages, so a receiver can show
 * anyone exactly what it received (a verifiable complaint), and for a broadcast anyone holding
 * two different bodies signed by the same sender for the same (session, round) holds proof that
 * the sender equivocated. The wire encoding names protocol, session, round, sender and receiver,
 * so a signed digest cannot be replayed into another context.
 *
 * Echo (Goldwasser-Lindell echo broadcast, as CMP assumes a broadcast channel, eprint 2021/060
 * §2 "Communication model"): each message of round r+1 carries (sender, round, digest, signature)
 * of every broadcast of round r its sender received. A receiver checks each entry: a signature
 * that does not verify is the forwarder's fault (it signed the echo inside its own message); a
 * valid entry whose digest differs from what the receiver got from that sender is an
 * equivocation, and the two signed digests are the evidence. The check happens before the
 * message reaches the protocol, and a protocol processes round r+1 only when every party's round
 * r+1 message is in, so identification runs only over values whose echo matched. The echo of a
 * session's last round rides on the party's final outcome (`SessionOutcome.evidence`).
 */
import { createHash, type KeyObject } from 'node:crypto';
import { verifyEd25519Key } from './crypto.ts';
import { PartyError } from './errors.ts';

const BODY_DOMAIN = new TextEncoder().encode('cosigner/mpc/body/v2');
const DIGEST = 32;
const SIG = 64;
/** Most echo entries one body may carry (one per party of a session; indices are 1..255). */
const MAX_ECHO = 255;

/** A sender's signature over one message digest: what an echo forwards and what evidence shows. */
export interface SignedDigest {
  readonly from: number;
  readonly round: number;
  readonly digest: Uint8Array;
  readonly sig: Uint8Array;
}

export interface SignedBody {
  readonly wire: Uint8Array;
  readonly sig: Uint8Array;
  readonly echo: readonly SignedDigest[];
}

export function bodyDigest(wire: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(wire).digest());
}

/** What a body signature says besides the digest: the context an echo entry or evidence claims. */
export interface BodyContext {
  readonly session: Uint8Array;
  readonly from: number;
  readonly round: number;
  /** The receiver's index, or 0 (`BROADCAST`) for a broadcast. */
  readonly to: number;
}

/**
 * The bytes a body signature covers: domain ‖ session ‖ from ‖ round ‖ to ‖ SHA-256(wire).
 * Echo entries and equivocation evidence carry only the digest, so the signature itself must bind
 * what they claim about it; over the digest alone, a forwarder could show a body the sender signed
 * for it (a direct message), for another round or another session as the sender's broadcast of
 * this round, and honest receivers would see two different digests "signed by the sender".
 */
export function bodyStatement(digest: Uint8Array, ctx: BodyContext): Uint8Array {
  if (ctx.session.length > 255 || ![ctx.from, ctx.round, ctx.to].every((n) => Number.isInteger(n) && n >= 0 && n <= 255))
    throw new PartyError('ERR_ENVELOPE', 'body context out of range');
  return Buffer.concat([BODY_DOMAIN, Uint8Array.of(ctx.session.length), ctx.session, Uint8Array.of(ctx.from, ctx.round, ctx.to), digest]);
}

/** Checks `d` as a body `d.from` signed in `session` for round `d.round` to `to` (default: a broadcast). */
export function verifySignedDigest(key: KeyObject, d: SignedDigest, session: Uint8Array, to = 0): boolean {
  if (d.digest.length !== DIGEST || d.sig.length !== SIG || session.length > 255 || d.from > 255 || d.round > 255 || to > 255) return false;
  return verifyEd25519Key(key, bodyStatement(d.digest, { session, from: d.from, round: d.round, to }), d.sig);
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

export function encodeEcho(echo: readonly SignedDigest[]): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.of(echo.length)];
  for (const e of echo) parts.push(Uint8Array.of(e.from, e.round), e.digest, e.sig);
  return Buffer.concat(parts);
}

function readEcho(b: Uint8Array, at: number): { echo: SignedDigest[]; end: number } {
  if (at >= b.length) throw new PartyError('ERR_ENVELOPE', 'echo: truncated');
  const n = b[at]!;
  let p = at + 1;
  const echo: SignedDigest[] = [];
  for (let i = 0; i < n; i++) {
    if (p + 2 + DIGEST + SIG > b.length) throw new PartyError('ERR_ENVELOPE', 'echo: truncated');
    echo.push({ from: b[p]!, round: b[p + 1]!, digest: b.slice(p + 2, p + 2 + DIGEST), sig: b.slice(p + 2 + DIGEST, p + 2 + DIGEST + SIG) });
    p += 2 + DIGEST + SIG;
  }
  if (n > MAX_ECHO) throw new PartyError('ERR_ENVELOPE', 'echo: too many entries');
  return { echo, end: p };
}

export function decodeEcho(b: Uint8Array): SignedDigest[] {
  if (b.length === 0) return [];
  const { echo, end } = readEcho(b, 0);
  if (end !== b.length) throw new PartyError('ERR_ENVELOPE', 'echo: trailing bytes');
  return echo;
}

/** wire length (u32) ‖ wire ‖ signature (64) ‖ echo. */
export function encodeBody(b: SignedBody): Uint8Array {
  return Buffer.concat([u32(b.wire.length), b.wire, b.sig, encodeEcho(b.echo)]);
}

export function decodeBody(b: Uint8Array): SignedBody {
  if (b.length < 4) throw new PartyError('ERR_ENVELOPE', 'body: truncated');
  const n = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0);
  if (4 + n + SIG > b.length) throw new PartyError('ERR_ENVELOPE', 'body: truncated');
  const wire = b.slice(4, 4 + n);
  const sig = b.slice(4 + n, 4 + n + SIG);
  const { echo, end } = readEcho(b, 4 + n + SIG);
  if (end !== b.length) throw new PartyError('ERR_ENVELOPE', 'body: trailing bytes');
  return { wire, sig, echo };
}

/** What an echo check found: the party to blame, why, and the signed digests that show it. */
export interface EchoFinding {
  readonly culprit: number;
  readonly reason: string;
  readonly evidence: readonly SignedDigest[];
}

const eq = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.from(a).equals(Buffer.from(b));

/**
 * One party's view of the broadcasts of a session, and the echo checks against it. Pure: the
 * caller feeds what arrived (after the transport checked each body's signature) and turns a
 * finding into an abort naming the culprit.
 */
export class EchoLedger {
  readonly #self: number;
  readonly #keyOf: (index: number) => KeyObject | undefined;
  /** The session every entry must have been signed in (as a broadcast). */
  readonly #session: Uint8Array;
  /** round -> sender -> what this party received (or sent, for itself). */
  readonly #seen = new Map<number, Map<number, SignedDigest>>();
  /** Echo entries whose sender's broadcast has not reached this party yet: round -> sender -> (forwarder, entry). */
  readonly #pending = new Map<number, Map<number, Array<{ by: number; entry: SignedDigest }>>>();
  #last = 0;

  constructor(self: number, keyOf: (index: number) => KeyObject | undefined, session: Uint8Array) {
    this.#self = self;
    this.#keyOf = keyOf;
    this.#session = session;
  }

  /** The last round whose broadcasts this party has seen. */
  get lastRound(): number {
    return this.#last;
  }

  /** A broadcast this party sent or received (its body signature already verified). */
  broadcast(d: SignedDigest): EchoFinding | undefined {
    let r = this.#seen.get(d.round);
    if (!r) this.#seen.set(d.round, (r = new Map()));
    const had = r.get(d.from);
    if (had && !eq(had.digest, d.digest)) return this.equivocation(d.from, had, d);
    r.set(d.from, d);
    if (d.from !== this.#self) this.#last = Math.max(this.#last, d.round);
    const waiting = this.#pending.get(d.round)?.get(d.from);
    if (waiting) {
      this.#pending.get(d.round)!.delete(d.from);
      for (const w of waiting) if (!eq(w.entry.digest, d.digest)) return this.equivocation(d.from, d, w.entry, w.by);
    }
    return undefined;
  }

  /** The echo for this party's messages of round `round + 1`: the broadcasts it received in `round`. */
  echoFor(round: number): SignedDigest[] {
    const r = this.#seen.get(round);
    if (!r) return [];
    return [...r.values()].filter((d) => d.from !== this.#self).sort((a, b) => a.from - b.from);
  }

  /**
   * Checks the echo party `by` sent (in a message, or with its final outcome). An entry whose
   * signature does not verify blames `by`; a validly signed digest that differs from the one this
   * party holds blames the entry's sender (equivocation). Entries about `by` itself are ignored.
   */
  check(by: number, echo: readonly SignedDigest[]): EchoFinding | undefined {
    const seenHere = new Set<string>();
    for (const e of echo) {
      const k = `${e.round}:${e.from}`;
      if (seenHere.has(k)) return { culprit: by, reason: `party ${by}'s echo names the round-${e.round} broadcast of party ${e.from} twice`, evidence: [] };
      seenHere.add(k);
      if (e.from === by) continue;
      const key = this.#keyOf(e.from);
      // A sender whose key this party cannot have could not have reached it either: not checked.
      if (!key) continue;
      if (!verifySignedDigest(key, e, this.#session))
        return { culprit: by, reason: `party ${by}'s echo carries a round-${e.round} digest that party ${e.from} did not sign`, evidence: [] };
      const had = this.#seen.get(e.round)?.get(e.from);
      if (had) {
        if (!eq(had.digest, e.digest)) return this.equivocation(e.from, had, e, by);
        continue;
      }
      let r = this.#pending.get(e.round);
      if (!r) this.#pending.set(e.round, (r = new Map()));
      const list = r.get(e.from) ?? [];
      list.push({ by, entry: e });
      r.set(e.from, list);
    }
    return undefined;
  }

  private equivocation(culprit: number, a: SignedDigest, b: SignedDigest, via?: number): EchoFinding {
    return {
      culprit,
      reason: `party ${culprit} sent two different signed round-${a.round} broadcasts${via !== undefined ? ` (the other one seen through party ${via}'s echo)` : ''}: digests ${Buffer.from(a.digest).toString('hex').slice(0, 16)}… and ${Buffer.from(b.digest).toString('hex').slice(0, 16)}…`,
      evidence: [a, b],
    };
  }
}

/**
 * What a `SessionOutcome.evidence` holds. `echo`: a successful party's echo of the last round.
 * `equivocation`: two different digests one sender signed for the same broadcast. `complaint`:
 * the culprits' signed bodies of the round the complainer aborted in (direct ones included: their
 * signature is inside the encryption, so the complainer can show them), for every other party to
 * re-check (`EnclaveSession.checkComplaint`).
 */
export type Evidence =
  | { readonly kind: 'echo'; readonly digests: readonly SignedDigest[] }
  | { readonly kind: 'equivocation'; readonly digests: readonly SignedDigest[] }
  | { readonly kind: 'complaint'; readonly bodies: readonly SignedBody[] };

const EVIDENCE_TAG = { echo: 1, equivocation: 2, complaint: 3 } as const;

export function encodeEvidence(e: Evidence): Uint8Array {
  if (e.kind !== 'complaint') return Buffer.concat([Uint8Array.of(EVIDENCE_TAG[e.kind]), encodeEcho(e.digests)]);
  const parts: Uint8Array[] = [Uint8Array.of(EVIDENCE_TAG.complaint, e.bodies.length)];
  for (const b of e.bodies) {
    const enc = encodeBody({ ...b, echo: [] });
    parts.push(u32(enc.length), enc);
  }
  return Buffer.concat(parts);
}

/** Strict; empty bytes are no evidence (undefined). */
export function decodeEvidence(b: Uint8Array): Evidence | undefined {
  if (b.length === 0) return undefined;
  const tag = b[0]!;
  if (tag === EVIDENCE_TAG.echo || tag === EVIDENCE_TAG.equivocation) {
    const digests = decodeEcho(b.subarray(1));
    return tag === EVIDENCE_TAG.echo ? { kind: 'echo', digests } : { kind: 'equivocation', digests };
  }
  if (tag !== EVIDENCE_TAG.complaint || b.length < 2) throw new PartyError('ERR_ENVELOPE', 'evidence: unknown kind');
  const n = b[1]!;
  let p = 2;
  const bodies: SignedBody[] = [];
  for (let i = 0; i < n; i++) {
    if (p + 4 > b.length) throw new PartyError('ERR_ENVELOPE', 'evidence: truncated');
    const len = new DataView(b.buffer, b.byteOffset + p, 4).getUint32(0);
    if (p + 4 + len > b.length) throw new PartyError('ERR_ENVELOPE', 'evidence: truncated');
    bodies.push(decodeBody(b.subarray(p + 4, p + 4 + len)));
    p += 4 + len;
  }
  if (p !== b.length) throw new PartyError('ERR_ENVELOPE', 'evidence: trailing bytes');
  return { kind: 'complaint', bodies };
}
