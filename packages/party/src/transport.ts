/**
 * Party transport on NATS (transport.proto): every protocol message travels in a PartyEnvelope
 * signed by the sender's Ed25519 identity key; point-to-point messages are encrypted end to end
 * to the receiver's X25519 key, so the NATS server sees no key material. Inside (under the
 * encryption for direct messages) the payload is a `SignedBody` (evidence.ts): the message, the
 * sender's identity signature over its digest, and the echo of the previous round's broadcasts,
 * so what a party received can be shown to, and checked by, every other party.
 *
 * Subjects:
 *   cosigner.mpc.<party>.inbox   protocol messages for <party> (broadcast copies and direct ones)
 *   cosigner.mpc.<party>.start   SessionStart (request/reply: the party answers with a SessionOutcome
 *                                saying it joined or why it refused)
 *   cosigner.mpc.outcome         SessionOutcome of every party at the end of every session (blame)
 *
 * Peers' keys come from the KV bucket `cosigner-parties` (key = party id, value = PartyInfo). A
 * PartyInfo's encryption key counts only when its attestation binds it to the identity key (the
 * statement names SHA-256(party id || identity key || encryption key) and is signed by the
 * identity key). Identity keys are either configured (`COSIGNER_PARTY_PINS`, what a production
 * install does after checking each party's key out of band: `cosigner parties list`), and then
 * every peer must be configured and match, or pinned on first sight (TOFU): a later, different
 * PartyInfo for a pinned party is ignored and logged, so whoever can write the bucket cannot swap
 * a party's keys. Pins are sealed (`pins`). Re-pinning (a party rebuilt without its backup) is an
 * operator action: configure the new key, or delete the `pins` record.
 */
import { createHash, type KeyObject } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { decodeMessage, encodeMessage, BROADCAST, type ProtocolMessage } from '@cosigner/mpc';
import { BUCKETS, MPC_SUBJECTS } from '@cosigner/platform';
import { PartyEnvelope, PartyInfo, SessionOutcome, SessionStart } from '@cosigner/proto';
import { publicFromRaw, sealTo, verifyEd25519Key } from './crypto.ts';
import { bodyDigest, bodyStatement, decodeBody, encodeBody, verifySignedDigest, type SignedDigest } from './evidence.ts';
import type { Enclave, PartyRef } from './enclave.ts';
import { PartyError } from './errors.ts';
import { PINS_RECORD } from './records.ts';
import type { SealedStore } from './sealed.ts';

export const PARTIES_BUCKET = BUCKETS.parties.bucket;
/** 2: the payload is a SignedBody (body signature inside the encryption, echo). */
export const ENVELOPE_VERSION = 2;
/** The party subjects, as the platform's topology declares them (and the bus authorization grants). */
export const subjects = MPC_SUBJECTS;

export interface Peer {
  id: string;
  index: number;
  verifyKey: KeyObject;
  encPublic: Uint8Array;
}

export type Log = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

/** Peer identities with trust on first use. */
export class PartyRegistry {
  #kv: KV;
  #store: SealedStore;
  #pins = new Map<string, { sign: string; enc: string; index: number }>();
  #peers = new Map<string, Peer>();
  #log: Log;

  /** Configured identity keys (raw Ed25519, 32 bytes) by party id; empty: trust on first use. */
  #expected: ReadonlyMap<string, Uint8Array>;

  constructor(kv: KV, store: SealedStore, log: Log, expected: ReadonlyMap<string, Uint8Array> = new Map()) {
    this.#kv = kv;
    this.#store = store;
    this.#log = log;
    this.#expected = expected;
  }

  async load(): Promise<void> {
    const b = await this.#store.getOrLost(PINS_RECORD);
    if (b) for (const [k, v] of Object.entries(JSON.parse(new TextDecoder().decode(b)) as Record<string, { sign: string; enc: string; index: number }>)) this.#pins.set(k, v);
  }

  async publish(info: PartyInfo): Promise<void> {
    const want = this.#expected.get(info.partyId);
    if (this.#expected.size > 0 && (!want || !Buffer.from(want).equals(Buffer.from(info.identityPublicKey)))) {
      // The peers will refuse this party: say so at start, not at the first session.
      this.#log('error', 'this party\'s identity key is not the one COSIGNER_PARTY_PINS names for it; its peers will refuse it', { party: info.partyId });
    }
    await this.#kv.put(info.partyId, PartyInfo.encode(info).finish());
    // Our own pin follows our own identity (a restore may have brought back the original one).
    await this.pin(info.partyId, { sign: Buffer.from(info.identityPublicKey).toString('base64'), enc: Buffer.from(info.encryptionPublicKey).toString('base64'), index: info.index });
    this.#peers.delete(info.partyId);
  }

  private async pin(id: string, p: { sign: string; enc: string; index: number }): Promise<void> {
    const cur = this.#pins.get(id);
    if (cur && cur.sign === p.sign && cur.enc === p.enc && cur.index === p.index) return;
    this.#pins.set(id, p);
    await this.#store.put(PINS_RECORD, new TextEncoder().encode(JSON.stringify(Object.fromEntries(this.#pins))));
  }

  /** The identity-bound keys a PartyInfo publishes, after checking the binding. */
  private async published(id: string): Promise<{ sign: string; enc: string; index: number }> {
    const e = await this.#kv.get(id);
    if (!e || e.operation !== 'PUT') throw new PartyError('ERR_UNKNOWN_PARTY', `party ${id} has not published its identity`);
    const info = PartyInfo.decode(e.value);
    if (info.partyId !== id) throw new PartyError('ERR_UNKNOWN_PARTY', `party info under ${id} names ${info.partyId}`);
    if (!attestationBinds(info)) throw new PartyError('ERR_UNKNOWN_PARTY', `party ${id}: its attestation does not bind its encryption key to its identity key`);
    return { sign: Buffer.from(info.identityPublicKey).toString('base64'), enc: Buffer.from(info.encryptionPublicKey).toString('base64'), index: info.index };
  }

  async resolve(id: string): Promise<Peer> {
    const hit = this.#peers.get(id);
    if (hit) return hit;
    let pin = this.#pins.get(id);
    if (this.#expected.size > 0) {
      // Configured identities: the configuration decides, whatever was pinned before.
      const want = this.#expected.get(id);
      if (!want) throw new PartyError('ERR_UNKNOWN_PARTY', `party ${id} is not among the configured parties (COSIGNER_PARTY_PINS)`);
      const wantB64 = Buffer.from(want).toString('base64');
      if (!pin || pin.sign !== wantB64) {
        const p = await this.published(id);
        if (p.sign !== wantB64) throw new PartyError('ERR_UNKNOWN_PARTY', `party ${id} published an identity key other than the configured one`);
        this.#log('info', 'pinned party identity (configured)', { party: id, index: p.index });
        await this.pin(id, p);
        pin = p;
      }
    } else if (!pin) {
      pin = await this.published(id);
      this.#log('info', 'pinned party identity (trust on first use)', { party: id, index: pin.index });
      await this.pin(id, pin);
    } else {
      const e = await this.#kv.get(id).catch(() => null);
      if (e && e.operation === 'PUT') {
        const info = PartyInfo.decode(e.value);
        if (Buffer.from(info.identityPublicKey).toString('base64') !== pin.sign) this.#log('warn', 'published identity differs from the pinned one; using the pin', { party: id });
      }
    }
    const peer: Peer = { id, index: pin.index, verifyKey: publicFromRaw(Buffer.from(pin.sign, 'base64'), 'Ed25519'), encPublic: new Uint8Array(Buffer.from(pin.enc, 'base64')) };
    this.#peers.set(id, peer);
    return peer;
  }

  /** Forget the cached key objects (not the pins). */
  refresh(id: string): void {
    this.#peers.delete(id);
  }
}

/**
 * Whether a PartyInfo's attestation binds its keys: the statement (everything but the last 64
 * bytes, a JSON document) is signed by the identity key (those 64 bytes) and names
 * SHA-256(party id || identity key || encryption key) as `userDataSha256`. A hardware provider's
 * statement adds its quote over the same user data (checked by that provider's verifier).
 */
export function attestationBinds(info: PartyInfo): boolean {
  const a = info.attestation;
  if (a.length <= 64 || info.identityPublicKey.length !== 32 || info.encryptionPublicKey.length !== 32) return false;
  const statement = a.subarray(0, a.length - 64);
  let key: KeyObject;
  try {
    key = publicFromRaw(info.identityPublicKey, 'Ed25519');
  } catch {
    return false;
  }
  if (!verifyEd25519Key(key, statement, a.subarray(a.length - 64))) return false;
  let doc: { provider?: unknown; userDataSha256?: unknown };
  try {
    doc = JSON.parse(Buffer.from(statement).toString('utf8')) as typeof doc;
  } catch {
    return false;
  }
  const user = Buffer.concat([Buffer.from(info.partyId, 'utf8'), info.identityPublicKey, info.encryptionPublicKey]);
  return doc.userDataSha256 === createHash('sha256').update(user).digest('hex');
}

/** `customer=<hex>,cloud-1=<hex>`: party id to raw Ed25519 identity key (64 hex digits). */
export function parsePartyPins(raw: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const part of raw.split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = /^([a-z0-9-]{1,32})=([0-9a-fA-F]{64})$/.exec(part);
    if (!m) throw new PartyError('ERR_CONFIG', 'COSIGNER_PARTY_PINS: expected party=<64 hex digits of its Ed25519 identity key>, comma separated');
    out.set(m[1]!, new Uint8Array(Buffer.from(m[2]!, 'hex')));
  }
  return out;
}

/** Header bytes an encrypted payload is bound to. */
function headerAd(e: PartyEnvelope): Uint8Array {
  return PartyEnvelope.encode({ ...e, payload: Buffer.alloc(0), signature: Buffer.alloc(0), ephemeralPublicKey: Buffer.alloc(0), nonce: Buffer.alloc(0), encrypted: true, sentAtMs: 0 }).finish();
}

export interface IncomingProtocol {
  kind: 'message';
  from: string;
  message: ProtocolMessage;
  /** The message as encoded by its sender (what `signed` covers). */
  wire: Uint8Array;
  /** The sender's signature over the message's digest (verified). */
  signed: SignedDigest;
  /** The sender's echo of the previous round's broadcasts (unchecked: the session checks it). */
  echo: readonly SignedDigest[];
}
export interface IncomingOutcome {
  kind: 'outcome';
  outcome: SessionOutcome;
}
export type SessionEvent = IncomingProtocol | IncomingOutcome;

export interface SessionHeader {
  sessionId: Uint8Array;
  kind: SessionStart['kind'];
  keyId: string;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Buffered messages of sessions this party has not (yet) registered. */
const PENDING_TTL_MS = 60_000;
const PENDING_MAX = 20_000;

export class PartyTransport {
  readonly self: string;
  #nc: NatsConnection;
  #enclave: Enclave;
  #registry: PartyRegistry;
  #log: Log;
  #subs: Subscription[] = [];
  #sessions = new Map<string, (e: SessionEvent) => void>();
  #pending = new Map<string, { at: number; events: SessionEvent[] }>();
  #pendingCount = 0;
  onStart: ((start: SessionStart, from: string) => Promise<SessionOutcome>) | undefined;

  constructor(nc: NatsConnection, enclave: Enclave, registry: PartyRegistry, log: Log) {
    this.#nc = nc;
    this.#enclave = enclave;
    this.#registry = registry;
    this.#log = log;
    this.self = enclave.partyId;
  }

  get registry(): PartyRegistry {
    return this.#registry;
  }

  async listen(): Promise<void> {
    this.#subs.push(this.#nc.subscribe(subjects.inbox(this.self), {
      callback: (err, msg) => {
        if (err) return;
        this.onInbox(msg.data).catch((e: unknown) => this.#log('warn', 'dropped an envelope', { code: (e as PartyError).code, err: (e as Error).message }));
      },
    }));
    this.#subs.push(this.#nc.subscribe(subjects.start(this.self), {
      callback: (err, msg) => {
        if (err) return;
        void this.onStartMsg(msg.data).then(
          (out) => msg.respond(this.envelopeOf({ sessionId: out.sessionId, kind: 'SESSION_KIND_UNSPECIFIED', keyId: '' }, '', SessionOutcome.encode(out).finish())),
          (e: unknown) => this.#log('warn', 'dropped a session start', { err: (e as Error).message }),
        );
      },
    }));
    this.#subs.push(this.#nc.subscribe(subjects.outcome, {
      callback: (err, msg) => {
        if (err) return;
        this.onOutcome(msg.data).catch(() => undefined);
      },
    }));
    await this.#nc.flush();
  }

  async close(): Promise<void> {
    for (const s of this.#subs) s.unsubscribe();
    this.#subs = [];
  }

  /** An envelope signed by us (unencrypted payload). */
  envelopeOf(h: SessionHeader, to: string, payload: Uint8Array, round = 0): Uint8Array {
    const env: PartyEnvelope = {
      version: ENVELOPE_VERSION, sessionId: Buffer.from(h.sessionId), kind: h.kind, keyId: h.keyId, fromParty: this.self, toParty: to,
      round, payload: Buffer.from(payload), encrypted: false, ephemeralPublicKey: Buffer.alloc(0), nonce: Buffer.alloc(0), sentAtMs: Date.now(), signature: Buffer.alloc(0),
    };
    env.signature = Buffer.from(this.#enclave.identitySign(PartyEnvelope.encode(env).finish()));
    return PartyEnvelope.encode(env).finish();
  }

  /** Verify an envelope's signature against the sender's pinned key; returns it decoded. */
  async verify(bytes: Uint8Array): Promise<{ env: PartyEnvelope; peer: Peer }> {
    let env: PartyEnvelope;
    try {
      env = PartyEnvelope.decode(bytes);
    } catch (e) {
      throw new PartyError('ERR_ENVELOPE', 'envelope does not decode', { cause: e });
    }
    if (env.version !== ENVELOPE_VERSION) throw new PartyError('ERR_ENVELOPE', `envelope version ${env.version}`);
    const peer = await this.#registry.resolve(env.fromParty);
    const sig = env.signature;
    const unsigned = PartyEnvelope.encode({ ...env, signature: Buffer.alloc(0) }).finish();
    if (!verifyEd25519Key(peer.verifyKey, unsigned, sig)) throw new PartyError('ERR_ENVELOPE', `envelope from ${env.fromParty} has a bad signature`);
    return { env, peer };
  }

  /**
   * Send one protocol message: to one party (encrypted) or a signed copy to each other party,
   * with its body signature and `echo` (evidence.ts). Returns the body's signed digest.
   */
  async send(h: SessionHeader, m: ProtocolMessage, parties: readonly PartyRef[], echo: readonly SignedDigest[] = []): Promise<SignedDigest> {
    const wire = encodeMessage(m);
    const digest = bodyDigest(wire);
    const signed: SignedDigest = { from: m.from, round: m.round, digest, sig: this.#enclave.identitySign(bodyStatement(digest, { session: m.session, from: m.from, round: m.round, to: m.to })) };
    const body = encodeBody({ wire, sig: signed.sig, echo });
    if (m.to === BROADCAST) {
      const env = this.envelopeOf(h, '', body, m.round);
      for (const p of parties) if (p.id !== this.self) this.#nc.publish(subjects.inbox(p.id), env);
      return signed;
    }
    const target = parties.find((p) => p.index === m.to);
    if (!target) throw new PartyError('ERR_UNKNOWN_PARTY', `no party with index ${m.to} in the session`);
    const peer = await this.#registry.resolve(target.id);
    const env: PartyEnvelope = {
      version: ENVELOPE_VERSION, sessionId: Buffer.from(h.sessionId), kind: h.kind, keyId: h.keyId, fromParty: this.self, toParty: target.id,
      round: m.round, payload: Buffer.alloc(0), encrypted: true, ephemeralPublicKey: Buffer.alloc(0), nonce: Buffer.alloc(0), sentAtMs: Date.now(), signature: Buffer.alloc(0),
    };
    const sealed = sealTo(peer.encPublic, body, headerAd(env));
    env.payload = Buffer.from(sealed.ciphertext);
    env.ephemeralPublicKey = Buffer.from(sealed.ephemeral);
    env.nonce = Buffer.from(sealed.nonce);
    env.signature = Buffer.from(this.#enclave.identitySign(PartyEnvelope.encode(env).finish()));
    this.#nc.publish(subjects.inbox(target.id), PartyEnvelope.encode(env).finish());
    return signed;
  }

  private async onInbox(bytes: Uint8Array): Promise<void> {
    const { env, peer } = await this.verify(bytes);
    if (env.toParty !== '' && env.toParty !== this.self) throw new PartyError('ERR_ENVELOPE', 'envelope for another party');
    let plain: Uint8Array = env.payload;
    if (env.encrypted) {
      if (env.toParty !== this.self) throw new PartyError('ERR_ENVELOPE', 'encrypted envelope without receiver');
      plain = this.#enclave.decrypt(env.ephemeralPublicKey, env.nonce, env.payload, headerAd(env));
    }
    const body = decodeBody(plain);
    const wire = body.wire;
    const m = decodeMessage(wire);
    const signed: SignedDigest = { from: m.from, round: m.round, digest: bodyDigest(wire), sig: body.sig };
    // The body signature is what makes the message evidence; without it the message is not taken.
    if (!verifySignedDigest(peer.verifyKey, signed, m.session, m.to)) throw new PartyError('ERR_ENVELOPE', `body from ${env.fromParty} has a bad signature`);
    if (!Buffer.from(m.session).equals(Buffer.from(env.sessionId)) || m.from !== peer.index || m.round !== env.round)
      throw new PartyError('ERR_ENVELOPE', 'envelope header does not match its message');
    if ((m.to === BROADCAST) === env.encrypted) throw new PartyError('ERR_ENVELOPE', 'direct messages must be encrypted, broadcasts not');
    this.deliver(hex(env.sessionId), { kind: 'message', from: peer.id, message: m, wire, signed, echo: body.echo });
  }

  private async onOutcome(bytes: Uint8Array): Promise<void> {
    // Only outcomes of our own live sessions matter; check that before paying for a signature check.
    const k0 = hex(PartyEnvelope.decode(bytes).sessionId);
    if (!this.#sessions.has(k0) && !this.#outcomeWaiters.has(k0)) return;
    const { env } = await this.verify(bytes);
    const out = SessionOutcome.decode(env.payload);
    if (out.partyId !== env.fromParty) return;
    const key = hex(out.sessionId);
    this.#outcomeWaiters.get(key)?.(out);
    if (this.#sessions.has(key)) this.deliver(key, { kind: 'outcome', outcome: out });
  }

  #outcomeWaiters = new Map<string, (o: SessionOutcome) => void>();

  /**
   * Collects the outcomes of `parties` for a session (register before the session starts). The
   * coordinator of a KEYGEN / REFRESH / PRESIGN waits for every party to have sealed its output
   * before it treats the result as usable.
   */
  collectOutcomes(sessionId: Uint8Array, parties: readonly string[]): { wait(timeoutMs: number): Promise<SessionOutcome[]>; cancel(): void } {
    const key = hex(sessionId);
    const got = new Map<string, SessionOutcome>();
    let wake: (() => void) | undefined;
    this.#outcomeWaiters.set(key, (o) => {
      if (parties.includes(o.partyId) && !got.has(o.partyId)) got.set(o.partyId, o);
      wake?.();
    });
    const cancel = () => { this.#outcomeWaiters.delete(key); };
    return {
      cancel,
      wait: async (timeoutMs) => {
        const end = Date.now() + timeoutMs;
        try {
          while (got.size < parties.length && ![...got.values()].some((o) => !o.ok)) {
            const left = end - Date.now();
            if (left <= 0) {
              const missing = parties.filter((p) => !got.has(p));
              throw new PartyError('ERR_SESSION_TIMEOUT', `no outcome from ${missing.join(', ')}`, { culprits: missing });
            }
            await new Promise<void>((r) => { const t = setTimeout(r, left); wake = () => { clearTimeout(t); r(); }; });
          }
          return [...got.values()];
        } finally {
          cancel();
        }
      },
    };
  }

  private async onStartMsg(bytes: Uint8Array): Promise<SessionOutcome> {
    const { env } = await this.verify(bytes);
    const start = SessionStart.decode(env.payload);
    const refuse = (code: string, reason: string): SessionOutcome => ({ sessionId: start.sessionId, partyId: this.self, ok: false, code, reason, culprits: [], result: Buffer.alloc(0), evidence: Buffer.alloc(0) });
    if (env.toParty !== this.self) return refuse('ERR_ENVELOPE', 'start for another party');
    if (start.initiator !== env.fromParty) return refuse('ERR_ENVELOPE', 'initiator is not the sender');
    if (!this.onStart) return refuse('ERR_SESSION_REFUSED', 'not accepting sessions');
    return this.onStart(start, env.fromParty);
  }

  private deliver(key: string, e: SessionEvent): void {
    const h = this.#sessions.get(key);
    if (h) return h(e);
    // Outcomes are kept too (onOutcome lets through only those of sessions this party is in or
    // coordinates): a coordinator registers its session only once every party has joined, and a
    // complaint published before that must still be judged by its session runner, in order.
    const now = Date.now();
    if (this.#pendingCount >= PENDING_MAX) {
      for (const [k, v] of this.#pending) if (now - v.at > PENDING_TTL_MS) { this.#pendingCount -= v.events.length; this.#pending.delete(k); }
      if (this.#pendingCount >= PENDING_MAX) return;
    }
    const p = this.#pending.get(key) ?? { at: now, events: [] };
    p.events.push(e);
    this.#pendingCount++;
    this.#pending.set(key, p);
  }

  /** Route a session's events to `handler`, replaying what arrived before. */
  register(sessionId: Uint8Array, handler: (e: SessionEvent) => void): () => void {
    const key = hex(sessionId);
    this.#sessions.set(key, handler);
    const p = this.#pending.get(key);
    if (p) {
      this.#pending.delete(key);
      this.#pendingCount -= p.events.length;
      for (const e of p.events) handler(e);
    }
    return () => {
      if (this.#sessions.get(key) === handler) this.#sessions.delete(key);
    };
  }

  /** Ask a party to join a session; resolves with its answer. */
  async requestStart(partyId: string, start: SessionStart, timeoutMs: number): Promise<SessionOutcome> {
    const env = this.envelopeOf({ sessionId: start.sessionId, kind: start.kind, keyId: start.keyId }, partyId, SessionStart.encode(start).finish());
    let reply;
    try {
      reply = await this.#nc.request(subjects.start(partyId), env, { timeout: timeoutMs });
    } catch (e) {
      throw new PartyError('ERR_SESSION_TIMEOUT', `party ${partyId} did not answer the session start`, { cause: e, culprits: [partyId] });
    }
    const { env: r } = await this.verify(reply.data);
    if (r.fromParty !== partyId) throw new PartyError('ERR_ENVELOPE', 'answer from another party');
    return SessionOutcome.decode(r.payload);
  }

  publishOutcome(o: SessionOutcome, kind: SessionStart['kind'], keyId: string): void {
    this.#nc.publish(subjects.outcome, this.envelopeOf({ sessionId: o.sessionId, kind, keyId }, '', SessionOutcome.encode(o).finish()));
  }
}
