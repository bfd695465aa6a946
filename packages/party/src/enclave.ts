/**
 * The enclave boundary of a party (DESIGN.md "The enclave and the keys"). Shares, Paillier
 * secrets (inside CMP shares), presignatures and the identity key live only in here and in the
 * sealed store; the rest of the process sees public keys, protocol messages and signatures.
 * Operations: identity (public info, envelope signing and decryption), generate key, refresh,
 * presign, sign (after verifying the approval proof itself), backup to a recovery key, restore.
 * Nothing returns a share in the clear.
 */
import {
  createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync,
  hkdfSync, publicEncrypt, privateDecrypt, randomBytes, constants, type KeyObject,
} from 'node:crypto';
import type { Party, ProtocolMessage, Step, ThresholdScheme, Algorithm as MpcAlgorithm } from '@cosigner/mpc';
import { decodeMessage, encodeMessage, isRoutingError, mapParty as mapOut } from '@cosigner/mpc';
import type { PartyInfo, SessionStart } from '@cosigner/proto';
import type { Trust } from '@cosigner/trust';
import { checkEntry, verifyApproval, verifyOrigin } from './approval.ts';
import { decodeIdentity, encodeIdentity, generateIdentity, openFrom, rawPublic, signEd25519, type IdentityKeys } from './crypto.ts';
import { PartyError } from './errors.ts';
import { NO_FAULTS, corrupt, tampers, type PartyFaults } from './faults.ts';
import { IDENTITY_RECORD, PRESIGNATURE_PREFIX, bindingRecord, parsePresignatureRecord, parseShareRecord, presignatureRecord, sharePrefix, shareRecord } from './records.ts';
import { token, type EnclaveProvider, type SealedStore } from './sealed.ts';
import { parseAlgorithm } from './schemes.ts';
import { ProtocolWorker, type WorkerStep } from './worker.ts';

export type Algorithm = MpcAlgorithm;

export interface PartyRef {
  id: string;
  index: number;
}

/** Public description of a key held by this party (no secret). */
export interface KeyMeta {
  keyId: string;
  workspaceId: string;
  algorithm: Algorithm;
  threshold: number;
  parties: PartyRef[];
  publicKey: Uint8Array;
  chainCode: Uint8Array;
  epoch: number;
  createdAtMs: number;
}

interface KeyRecord extends KeyMeta {
  share: Uint8Array;
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const utf8 = (s: string) => new TextEncoder().encode(s);
const fromUtf8 = (b: Uint8Array) => new TextDecoder().decode(b);

function encodeRecord(r: KeyRecord): Uint8Array {
  return utf8(JSON.stringify({ ...r, publicKey: b64(r.publicKey), chainCode: b64(r.chainCode), share: b64(r.share) }));
}

function decodeRecord(b: Uint8Array): KeyRecord {
  const j = JSON.parse(fromUtf8(b)) as KeyRecord & { publicKey: string; chainCode: string; share: string };
  return { ...j, publicKey: unb64(j.publicKey), chainCode: unb64(j.chainCode), share: unb64(j.share) };
}

function meta(r: KeyRecord): KeyMeta {
  const { share: _s, ...m } = r;
  return m;
}

/** What a session step hands the runner: messages to send (already persisted if they must be), and the end. */
export interface EnclaveStep {
  messages: ProtocolMessage[];
  done: boolean;
  /** Public result when done (JSON): public key, presignature id, signature. Never a secret. */
  result?: Uint8Array;
}

/** A protocol run inside the enclave, driven by the session runner. */
export interface EnclaveSession {
  readonly self: number;
  readonly parties: readonly number[];
  readonly round: number;
  start(): Promise<EnclaveStep>;
  receive(m: ProtocolMessage): Promise<EnclaveStep>;
  /**
   * Re-checks a complaint (the protocol's `checkComplaint`): whom sender's `messages` to
   * `complainer` blame, or undefined when this session cannot tell.
   */
  checkComplaint?(complainer: number, messages: readonly ProtocolMessage[]): Promise<number | undefined>;
}

export interface SignResult {
  algorithm: Algorithm;
  signature: Uint8Array;
  publicKey: Uint8Array;
  recovery?: number;
}

export function encodeSignResult(s: SignResult): Uint8Array {
  return utf8(JSON.stringify({ algorithm: s.algorithm, signature: b64(s.signature), publicKey: b64(s.publicKey), ...(s.recovery !== undefined ? { recovery: s.recovery } : {}) }));
}

export function decodeSignResult(b: Uint8Array): SignResult {
  const j = JSON.parse(fromUtf8(b)) as { algorithm: Algorithm; signature: string; publicKey: string; recovery?: number };
  return { algorithm: j.algorithm, signature: unb64(j.signature), publicKey: unb64(j.publicKey), ...(j.recovery !== undefined ? { recovery: j.recovery } : {}) };
}

export function pathString(path: readonly number[]): string {
  return ['m', ...path.map(String)].join('/');
}

/** Presignature id agreed by every party: derived from the session id. */
export function presignatureId(session: Uint8Array, index = 0): string {
  return createHash('sha256').update('cosigner-presig').update(session).update(Uint8Array.of(index)).digest('hex').slice(0, 32);
}

/** Re-keygen of an uncommitted key id is allowed this long (a coordinator crash mid-keygen retries). */
export const KEYGEN_RETRY_WINDOW_MS = 10 * 60_000;

export interface EnclaveOptions {
  provider: EnclaveProvider;
  store: SealedStore;
  partyId: string;
  index: number;
  /** The dispatcher's approval public key (Ed25519). */
  approvalKey: KeyObject;
  /** The workspaces this party trusts: every request's origination is verified against them. */
  trust: Trust;
  scheme: (a: Algorithm) => ThresholdScheme;
  now?: () => number;
  /** Extra inputs a scheme's keygen needs (CMP: primes), from the service. */
  keygenExtras?: (algorithm: Algorithm, kind: 'keygen' | 'refresh', self: number) => Promise<Record<string, unknown>>;
  /** TEST ONLY: fault injection (faults.ts); none by default. */
  faults?: PartyFaults;
}

/** Signing set rule: the customer's party is in every signing set (cloud parties never sign alone). */
export const CUSTOMER_PARTY = 'customer';

export class Enclave {
  readonly partyId: string;
  readonly index: number;
  readonly provider: EnclaveProvider;
  #store: SealedStore;
  #id: IdentityKeys;
  #approvalKey: KeyObject;
  #trust: Trust;
  #scheme: (a: Algorithm) => ThresholdScheme;
  #now: () => number;
  #keygenExtras: EnclaveOptions['keygenExtras'];
  #faults: PartyFaults;
  #cache = new Map<string, KeyRecord>();
  #dropped = new Map<string, number>();
  /** presignature id -> what it signs, for sessions of this process (see `sign`). */
  #claims = new Map<string, string>();

  private constructor(o: EnclaveOptions, id: IdentityKeys) {
    this.partyId = o.partyId;
    this.index = o.index;
    this.provider = o.provider;
    this.#store = o.store;
    this.#id = id;
    this.#approvalKey = o.approvalKey;
    this.#trust = o.trust;
    this.#scheme = o.scheme;
    this.#now = o.now ?? Date.now;
    this.#keygenExtras = o.keygenExtras;
    this.#faults = o.faults ?? NO_FAULTS;
  }

  /** Opens the enclave: loads the sealed identity, or generates and seals one on first start. */
  static async open(o: EnclaveOptions): Promise<Enclave> {
    await o.store.init();
    let raw = await o.store.getOrLost(IDENTITY_RECORD);
    if (!raw) {
      raw = encodeIdentity(generateIdentity());
      await o.store.put(IDENTITY_RECORD, raw);
    }
    return new Enclave(o, decodeIdentity(raw));
  }

  info(): PartyInfo {
    const user = Buffer.concat([utf8(this.partyId), this.#id.signPublic, this.#id.encPublic]);
    const statement = this.provider.attestation(user);
    return {
      partyId: this.partyId,
      index: this.index,
      identityPublicKey: Buffer.from(this.#id.signPublic),
      encryptionPublicKey: Buffer.from(this.#id.encPublic),
      // The statement, countersigned by the identity key (the software provider has no quoting key).
      attestation: Buffer.concat([Buffer.from(statement), Buffer.from(signEd25519(this.#id.sign, statement))]),
    };
  }

  identitySign(data: Uint8Array): Uint8Array {
    return signEd25519(this.#id.sign, data);
  }

  decrypt(ephemeral: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array): Uint8Array {
    return openFrom(this.#id.enc, this.#id.encPublic, ephemeral, nonce, ciphertext, ad);
  }

  // ---- keys ----

  private async loadKey(keyId: string, epoch: number): Promise<KeyRecord> {
    const name = shareRecord(keyId, epoch);
    const hit = this.#cache.get(name);
    if (hit) return hit;
    const b = await this.#store.get(name);
    if (!b) throw new PartyError('ERR_KEY_NOT_FOUND', `no share of key ${keyId} epoch ${epoch} on ${this.partyId}`);
    const r = decodeRecord(b);
    this.#cache.set(name, r);
    return r;
  }

  private async saveKey(r: KeyRecord): Promise<void> {
    const name = shareRecord(r.keyId, r.epoch);
    await this.#store.put(name, encodeRecord(r));
    this.#cache.set(name, r);
  }

  /** Public description of the newest share this party holds for a key (optionally a given epoch). */
  async keyMeta(keyId: string, epoch?: number): Promise<KeyMeta | undefined> {
    if (epoch !== undefined) return meta(await this.loadKey(keyId, epoch));
    const names = await this.#store.list(sharePrefix(keyId));
    const epochs = names.map((n) => Number(n.split('.').pop())).filter((e) => Number.isInteger(e)).sort((a, b) => b - a);
    for (const e of epochs) {
      try {
        return meta(await this.loadKey(keyId, e));
      } catch {
        // a deleted or unreadable epoch: try the next
      }
    }
    return undefined;
  }

  /** Drops shares of epochs before `epoch` (called once a later epoch is known to be committed). */
  private async dropOldEpochs(keyId: string, epoch: number): Promise<void> {
    // Once per key and epoch (it lists the store directory).
    if ((this.#dropped.get(keyId) ?? -1) >= epoch) return;
    this.#dropped.set(keyId, epoch);
    for (const n of await this.#store.list(sharePrefix(keyId))) {
      const e = Number(n.split('.').pop());
      if (Number.isInteger(e) && e < epoch) {
        this.#cache.delete(n);
        await this.#store.delete(n);
      }
    }
  }

  private wrap<Out>(kind: string, party: Party<Out>, onDone: (out: Out) => Promise<Uint8Array | undefined>, beforeSend?: (m: ProtocolMessage[]) => Promise<void>): EnclaveSession {
    const tamper = tampers(this.#faults, kind);
    const convert = async (s: Step<Out>): Promise<EnclaveStep> => {
      let messages = s.kind === 'wait' ? [] : [...s.messages];
      if (tamper) messages = corrupt(messages);
      if (beforeSend && messages.length > 0) await beforeSend(messages);
      if (s.kind === 'done') {
        const result = await onDone(s.output);
        return { messages, done: true, ...(result ? { result } : {}) };
      }
      return { messages, done: false };
    };
    // Calls are serialized by the runner; the party object itself never leaves this closure.
    return {
      get self() { return party.self; },
      get parties() { return party.parties; },
      get round() { return party.round; },
      start: () => convert(party.start()),
      receive: (m) => convert(party.receive(m)),
      ...(party.checkComplaint ? { checkComplaint: async (complainer: number, messages: readonly ProtocolMessage[]) => party.checkComplaint?.(complainer, messages) } : {}),
    };
  }

  /** KEYGEN: runs DKG; on success seals the share (epoch 0) and returns the public key and chain code. */
  async keygen(start: SessionStart, parties: PartyRef[]): Promise<EnclaveSession> {
    const algorithm = parseAlgorithm(start.algorithm);
    if (start.initiator !== CUSTOMER_PARTY) throw new PartyError('ERR_SESSION_REFUSED', 'key generation is started by the customer party only');
    const existing = await this.keyMeta(start.keyId).catch(() => undefined);
    if (existing && this.#now() - existing.createdAtMs > KEYGEN_RETRY_WINDOW_MS) throw new PartyError('ERR_KEY_EXISTS', `key ${start.keyId} exists`);
    const scheme = this.#scheme(algorithm);
    const idx = parties.map((p) => p.index);
    const threshold = start.threshold || parties.length;
    const extras = this.#keygenExtras ? await this.#keygenExtras(algorithm, 'keygen', this.index) : {};
    const party = scheme.keygen({ session: start.sessionId, self: this.index, parties: idx, threshold, ...extras });
    return this.wrap('KEYGEN', party, async (out) => {
      const r: KeyRecord = {
        keyId: start.keyId, workspaceId: start.workspaceId, algorithm, threshold, parties,
        publicKey: out.publicKey, chainCode: out.chainCode, epoch: 0, createdAtMs: this.#now(), share: out.share,
      };
      if (existing) await this.dropOldEpochs(start.keyId, 1);
      await this.saveKey(r);
      return utf8(JSON.stringify({ publicKey: b64(out.publicKey), chainCode: b64(out.chainCode) }));
    });
  }

  /**
   * COMMIT (after a refresh): drops every share of `start.keyId` sealed for an epoch before
   * `start.epoch`, and the presignatures made with them. The coordinator sends it only once
   * every party has reported the new epoch sealed and it has recorded the new epoch durably, so
   * the old epoch is never needed again; a proactive refresh is only worth anything once the
   * old shares are gone (one stolen before and one after would combine).
   *
   * Crash safety: refused unless this party holds the share of `start.epoch` itself, so it can
   * never delete its only share (a party restored from an older backup, a commit sent early).
   * Each deletion is one sealed-store delete (counter tombstone, then the file); a crash
   * between two leaves the rest for the next commit, which the coordinator repeats (after
   * its own restart, and on its refresh schedule) and which is idempotent. A crash of the
   * coordinator between recording the new epoch and sending the commit is covered the same
   * way; a crash before it recorded the new epoch sends no commit at all: the parties keep
   * both epochs and the key keeps signing with the old one until the next refresh replaces
   * the uncommitted new one. No protocol runs: the session ends at its first step.
   */
  async commitEpoch(start: SessionStart): Promise<EnclaveSession> {
    if (start.initiator !== CUSTOMER_PARTY) throw new PartyError('ERR_SESSION_REFUSED', 'an epoch commit is started by the customer party only');
    // TEST ONLY (COSIGNER_UNSAFE_TEST_TAMPER=COMMIT): a party that never gets the commit.
    if (this.#faults.tamper.has('COMMIT')) throw new PartyError('ERR_SESSION_REFUSED', 'refusing epoch commits (test hook)');
    const r = await this.loadKey(start.keyId, start.epoch);
    let dropped = 0;
    const key = token(start.keyId);
    for (const n of await this.#store.list(sharePrefix(start.keyId))) {
      const p = parseShareRecord(n);
      if (p && p.key === key && p.epoch < start.epoch) {
        this.#cache.delete(n);
        await this.#store.delete(n);
        dropped++;
      }
    }
    for (const n of await this.#store.list(PRESIGNATURE_PREFIX)) {
      const p = parsePresignatureRecord(n);
      if (p && p.key === key && p.epoch < start.epoch) {
        await this.#store.delete(n);
        dropped++;
      }
    }
    this.#dropped.set(start.keyId, Math.max(this.#dropped.get(start.keyId) ?? -1, start.epoch));
    const result = utf8(JSON.stringify({ epoch: r.epoch, dropped }));
    return {
      self: this.index,
      parties: [],
      round: 1,
      start: async () => ({ messages: [], done: true, result }),
      receive: async () => ({ messages: [], done: true, result }),
    };
  }

  /** REFRESH: new shares for the same public key, sealed as epoch+1 (the old epoch stays until the coordinator's COMMIT, see `commitEpoch`). */
  async refresh(start: SessionStart): Promise<EnclaveSession> {
    if (start.initiator !== CUSTOMER_PARTY) throw new PartyError('ERR_SESSION_REFUSED', 'refresh is started by the customer party only');
    const r = await this.loadKey(start.keyId, start.epoch);
    const scheme = this.#scheme(r.algorithm);
    const extras = this.#keygenExtras ? await this.#keygenExtras(r.algorithm, 'refresh', this.index) : {};
    const party = scheme.refresh({ session: start.sessionId, self: this.index, share: r.share, ...extras });
    return this.wrap('REFRESH', party, async (out) => {
      if (!Buffer.from(out.publicKey).equals(Buffer.from(r.publicKey))) throw new PartyError('ERR_MPC_ABORT', 'refresh changed the public key');
      await this.saveKey({ ...r, epoch: r.epoch + 1, share: out.share });
      return utf8(JSON.stringify({ publicKey: b64(out.publicKey), chainCode: b64(out.chainCode), epoch: r.epoch + 1 }));
    });
  }

  private signers(start: SessionStart, r: KeyRecord): number[] {
    const names = start.parties;
    if (!names.includes(CUSTOMER_PARTY)) throw new PartyError('ERR_SIGNING_SET', 'the customer party must be in every signing set');
    if (!names.includes(this.partyId)) throw new PartyError('ERR_SIGNING_SET', 'this party is not in the signing set');
    if (names.length < r.threshold) throw new PartyError('ERR_SIGNING_SET', `signing set smaller than the threshold ${r.threshold}`);
    return names.map((n) => {
      const p = r.parties.find((x) => x.id === n);
      if (!p) throw new PartyError('ERR_SIGNING_SET', `${n} holds no share of ${r.keyId}`);
      return p.index;
    }).sort((a, b) => a - b);
  }

  /** PRESIGN (ECDSA): one presignature, sealed under an id derived from the session id. */
  async presign(start: SessionStart): Promise<EnclaveSession> {
    if (start.initiator !== CUSTOMER_PARTY) throw new PartyError('ERR_SESSION_REFUSED', 'presigning is started by the customer party only');
    const r = await this.loadKey(start.keyId, start.epoch);
    await this.dropOldEpochs(start.keyId, start.epoch);
    const scheme = this.#scheme(r.algorithm);
    if (!scheme.presign) throw new PartyError('ERR_UNSUPPORTED', `${r.algorithm} has no presignatures`);
    const signers = this.signers(start, r);
    const count = Math.max(1, Math.min(start.count || 1, 64));
    const batch = scheme.presignBatch?.bind(scheme);
    if (batch && this.#useWorker) return this.presignInWorker(start, r, signers, count);
    const party: Party<Uint8Array[]> = batch
      ? batch({ session: start.sessionId, self: this.index, signers, share: r.share, count })
      : mapOut(scheme.presign({ session: start.sessionId, self: this.index, signers, share: r.share }), (p) => [p]);
    return this.wrap('PRESIGN', party, async (out) => {
      const ids: string[] = [];
      for (let i = 0; i < out.length; i++) {
        const id = presignatureId(start.sessionId, i);
        await this.#store.put(presignatureRecord(r.keyId, r.epoch, id), encodeSigners(signers, out[i]!));
        ids.push(id);
      }
      return utf8(JSON.stringify({ presignatureIds: ids, epoch: r.epoch }));
    });
  }

  #worker: ProtocolWorker | undefined;
  #useWorker = process.env.COSIGNER_PRESIGN_WORKER !== '0';

  private async presignInWorker(start: SessionStart, r: KeyRecord, signers: number[], count: number): Promise<EnclaveSession> {
    const w = (this.#worker ??= new ProtocolWorker());
    const key = Buffer.from(start.sessionId).toString('hex');
    await w.createPresign(key, { algorithm: r.algorithm, session: start.sessionId, self: this.index, signers, share: r.share, count });
    const tamper = tampers(this.#faults, 'PRESIGN');
    let round = 0;
    const convert = async (s: WorkerStep): Promise<EnclaveStep> => {
      round = s.round;
      let messages = s.messages;
      if (tamper) messages = corrupt(messages);
      if (s.kind !== 'done') return { messages, done: false };
      const ids: string[] = [];
      const out = s.output ?? [];
      for (let i = 0; i < out.length; i++) {
        const id = presignatureId(start.sessionId, i);
        await this.#store.put(presignatureRecord(r.keyId, r.epoch, id), encodeSigners(signers, out[i]!));
        ids.push(id);
      }
      return { messages, done: true, result: utf8(JSON.stringify({ presignatureIds: ids, epoch: r.epoch })) };
    };
    return {
      self: this.index,
      parties: signers,
      get round() { return round; },
      start: async () => convert(await w.start(key)),
      receive: async (m) => {
        try {
          return await convert(await w.receive(key, m));
        } catch (e) {
          if (!isRoutingError(e)) w.drop(key);
          throw e;
        }
      },
      checkComplaint: (complainer, messages) => w.checkComplaint(key, complainer, messages),
    };
  }

  /** Stops the protocol worker (if one was started). */
  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    if (w) await w.terminate();
  }

  /**
   * SIGN: verifies the approval proof carried in `start.context`, the workspace's signature over
   * the request (origination, against this party's own trust configuration) and that the entry
   * names this key of that workspace; then signs, with the named presignature (bound on first use to request, entry, digest
   * and path; the outgoing share is sealed before it is sent and resent as is after a restart)
   * or with the full protocol.
   */
  async sign(start: SessionStart, o: { coordinator: boolean }): Promise<EnclaveSession> {
    const v = verifyApproval(start.context, this.#approvalKey, this.#now());
    if (v.request.requestId !== start.requestId) throw new PartyError('ERR_APPROVAL_INVALID', 'session names another request');
    const entry = checkEntry(v, start.entryIndex, start.keyId);
    const origin = await verifyOrigin(v, this.#trust, this.#now());
    const r = await this.loadKey(start.keyId, start.epoch);
    // The key must belong to the workspace that signed the request (not merely the one it names).
    if (r.workspaceId !== origin.workspaceId) throw new PartyError('ERR_WRONG_WORKSPACE', `key ${r.keyId} belongs to another workspace`);
    if (entry.algorithm !== 'ALGORITHM_UNSPECIFIED' && entry.algorithm !== r.algorithm) throw new PartyError('ERR_APPROVAL_INVALID', 'entry algorithm does not match the key');
    await this.dropOldEpochs(start.keyId, start.epoch);
    const scheme = this.#scheme(r.algorithm);
    const signers = this.signers(start, r);
    const path = pathString(entry.path);
    const message = new Uint8Array(entry.payload);
    if (scheme.messageKind === 'digest32' && message.length !== 32) throw new PartyError('ERR_APPROVAL_INVALID', 'ECDSA payload must be a 32-byte digest');
    const finish = async (s: { signature: Uint8Array; publicKey: Uint8Array; recovery?: number }) =>
      encodeSignResult({ algorithm: r.algorithm, signature: s.signature, publicKey: s.publicKey, ...(s.recovery !== undefined ? { recovery: s.recovery } : {}) });

    if (!scheme.needsPresignature) {
      if (start.presignatureId.length > 0) throw new PartyError('ERR_UNSUPPORTED', `${r.algorithm} signs without presignatures`);
      // One aggregator, the customer party: the cloud parties send it their shares and never see
      // anyone else's, so an attempt the customer did not finish (a crash) leaves no signature
      // anybody could assemble, and its retry with fresh nonces cannot yield a second one.
      const aggregator = r.parties.find((p) => p.id === CUSTOMER_PARTY)?.index;
      if (aggregator === undefined) throw new PartyError('ERR_SIGNING_SET', `${CUSTOMER_PARTY} holds no share of ${r.keyId}`);
      const party = scheme.sign({ session: start.sessionId, self: this.index, signers, share: r.share, message, path, aggregator });
      return this.wrap('SIGN', party, async (out) => (out ? finish({ signature: out.signature, publicKey: out.publicKey }) : undefined));
    }
    const pid = Buffer.from(start.presignatureId).toString('utf8');
    if (!/^[0-9a-f]{32}$/.test(pid)) throw new PartyError('ERR_PRESIGNATURE_NOT_FOUND', 'ECDSA signing needs a presignature id');
    const bindName = bindingRecord(r.keyId, pid);
    const binding = { requestId: v.request.requestId, entry: start.entryIndex, digest: b64(message), path, session: b64(start.sessionId) };
    const what = JSON.stringify([binding.requestId, binding.entry, binding.digest, binding.path]);
    // Two sessions in this process racing for one presignature: the first claim wins, synchronously.
    const claimed = this.#claims.get(pid);
    if (claimed !== undefined && claimed !== what) throw new PartyError('ERR_PRESIGNATURE_BOUND', `presignature ${pid} is bound to another message; refused`);
    this.#claims.set(pid, what);
    const prior = await this.#store.get(bindName);
    let sent: string[] | undefined;
    if (prior) {
      const p = JSON.parse(fromUtf8(prior)) as typeof binding & { sent?: string[] };
      if (p.requestId !== binding.requestId || p.entry !== binding.entry || p.digest !== binding.digest || p.path !== binding.path)
        throw new PartyError('ERR_PRESIGNATURE_BOUND', `presignature ${pid} is bound to another message; refused`);
      sent = p.sent;
    }
    // Otherwise the binding is sealed together with the share, before the share leaves (beforeSend).
    if (this.#claims.size > 10_000) this.#claims.delete(this.#claims.keys().next().value!);
    const presigBytes = await this.#store.get(presignatureRecord(r.keyId, r.epoch, pid));
    if (!presigBytes) {
      if (sent && !o.coordinator) return replay(sent.map((s) => decodeMessage(unb64(s))), this.index, signers);
      throw new PartyError('ERR_PRESIGNATURE_NOT_FOUND', `presignature ${pid} not found on ${this.partyId}`);
    }
    const presig = decodeSigners(presigBytes);
    if (presig.signers.join(',') !== signers.join(',')) throw new PartyError('ERR_PRESIGNATURE_OTHER_SET', `presignature ${pid} was made for another signing set`);
    const party = scheme.sign({ session: start.sessionId, self: this.index, signers, share: r.share, presignature: presig.body, message, path });
    const store = this.#store;
    let persisted = sent !== undefined;
    return this.wrap('SIGN', party, async (out) => {
      if (!out) throw new PartyError('ERR_MPC_ABORT', 'ECDSA signing ended without a signature');
      if (!o.coordinator) await store.delete(presignatureRecord(r.keyId, r.epoch, pid));
      return finish({ signature: out.signature, publicKey: out.publicKey, ...(out.recoveryId !== undefined ? { recovery: out.recoveryId } : {}) });
    }, async (msgs) => {
      if (persisted) {
        // After a restart: the same share as before, byte for byte.
        if (sent && sent.length === msgs.length) msgs.splice(0, msgs.length, ...sent.map((s) => decodeMessage(unb64(s))));
        return;
      }
      await store.put(bindName, utf8(JSON.stringify({ ...binding, sent: msgs.map((m) => b64(encodeMessage(m))) })));
      persisted = true;
    });
  }

  // ---- backup / restore ----

  /**
   * The newest share of `keyId` and this party's identity key, encrypted to an offline recovery
   * public key (RSA: RSA-OAEP-SHA256 wraps an AES-256-GCM key; X25519: ephemeral ECDH + HKDF).
   */
  async backup(keyId: string, recoveryPublicKeyPem: string): Promise<Uint8Array> {
    const m = await this.keyMeta(keyId);
    if (!m) throw new PartyError('ERR_KEY_NOT_FOUND', `no share of key ${keyId}`);
    const r = await this.loadKey(keyId, m.epoch);
    let pub: KeyObject;
    try {
      pub = createPublicKey(recoveryPublicKeyPem);
    } catch (e) {
      throw new PartyError('ERR_BACKUP', 'recovery public key is not a PEM public key', { cause: e });
    }
    const plain = utf8(JSON.stringify({ record: b64(encodeRecord(r)), identity: b64(encodeIdentity(this.#id)) }));
    const cek = randomBytes(32);
    const head: Record<string, string> = { v: '1', party: this.partyId, keyId };
    if (pub.asymmetricKeyType === 'rsa') {
      head.alg = 'RSA-OAEP-256+A256GCM';
      head.wrapped = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek).toString('base64');
    } else if (pub.asymmetricKeyType === 'x25519') {
      const eph = generateKeyPairSync('x25519');
      const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: pub });
      const ephRaw = rawPublic(eph.publicKey);
      const kek = Buffer.from(hkdfSync('sha256', shared, ephRaw, 'cosigner-backup/v1', 32));
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', kek, iv);
      head.alg = 'X25519+A256GCM';
      head.epk = Buffer.from(ephRaw).toString('base64');
      head.wrapped = Buffer.concat([iv, c.update(cek), c.final(), c.getAuthTag()]).toString('base64');
    } else {
      throw new PartyError('ERR_BACKUP', 'recovery key must be RSA or X25519');
    }
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', cek, iv);
    c.setAAD(utf8(`cosigner-backup/v1\0${head.party}\0${keyId}`));
    const ct = Buffer.concat([c.update(plain), c.final()]);
    return utf8(JSON.stringify({ ...head, iv: iv.toString('base64'), tag: c.getAuthTag().toString('base64'), ct: ct.toString('base64') }));
  }

  /** Opens a backup with the recovery private key (dropped after use) and seals its share (and identity) here. */
  async restore(backup: Uint8Array, recoveryPrivateKeyPem: string): Promise<KeyMeta> {
    let doc: Record<string, string>;
    let priv: KeyObject;
    try {
      doc = JSON.parse(fromUtf8(backup)) as Record<string, string>;
      priv = createPrivateKey(recoveryPrivateKeyPem);
    } catch (e) {
      throw new PartyError('ERR_BACKUP', 'backup or recovery key does not parse', { cause: e });
    }
    if (doc.party !== this.partyId) throw new PartyError('ERR_BACKUP', `backup belongs to party ${doc.party}`);
    let cek: Buffer;
    try {
      if (doc.alg === 'RSA-OAEP-256+A256GCM') {
        cek = privateDecrypt({ key: priv, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(doc.wrapped!, 'base64'));
      } else if (doc.alg === 'X25519+A256GCM') {
        const epk = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(doc.epk!, 'base64').toString('base64url') }, format: 'jwk' });
        const shared = diffieHellman({ privateKey: priv, publicKey: epk });
        const kek = Buffer.from(hkdfSync('sha256', shared, Buffer.from(doc.epk!, 'base64'), 'cosigner-backup/v1', 32));
        const w = Buffer.from(doc.wrapped!, 'base64');
        const d = createDecipheriv('aes-256-gcm', kek, w.subarray(0, 12));
        d.setAuthTag(w.subarray(w.length - 16));
        cek = Buffer.concat([d.update(w.subarray(12, w.length - 16)), d.final()]);
      } else {
        throw new Error(`unknown backup algorithm ${doc.alg}`);
      }
      const d = createDecipheriv('aes-256-gcm', cek, Buffer.from(doc.iv!, 'base64'));
      d.setAAD(utf8(`cosigner-backup/v1\0${doc.party}\0${doc.keyId}`));
      d.setAuthTag(Buffer.from(doc.tag!, 'base64'));
      const plain = Buffer.concat([d.update(Buffer.from(doc.ct!, 'base64')), d.final()]);
      const j = JSON.parse(plain.toString('utf8')) as { record: string; identity: string };
      const rec = decodeRecord(unb64(j.record));
      const identity = unb64(j.identity);
      const restoredId = decodeIdentity(identity);
      await this.saveKey(rec);
      if (!Buffer.from(restoredId.signPublic).equals(Buffer.from(this.#id.signPublic))) {
        // The peers pinned this identity when the key was made: take it back.
        await this.#store.put(IDENTITY_RECORD, identity);
        this.#id = restoredId;
      }
      return meta(rec);
    } catch (e) {
      if (e instanceof PartyError) throw e;
      throw new PartyError('ERR_BACKUP', 'backup does not open with this recovery key', { cause: e });
    }
  }
}

function encodeSigners(signers: number[], body: Uint8Array): Uint8Array {
  return Buffer.concat([Buffer.from([signers.length, ...signers]), body]);
}

function decodeSigners(b: Uint8Array): { signers: number[]; body: Uint8Array } {
  const n = b[0]!;
  return { signers: [...b.subarray(1, 1 + n)], body: b.subarray(1 + n) };
}

/** A party that already sent its share (before a restart) and has nothing to compute: resend and finish. */
function replay(messages: ProtocolMessage[], self: number, parties: number[]): EnclaveSession {
  return {
    self,
    parties,
    round: 1,
    start: async () => ({ messages, done: true }),
    receive: async () => ({ messages: [], done: true }),
  };
}
