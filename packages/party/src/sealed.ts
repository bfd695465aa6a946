/**
 * Sealed storage of one party: every record is encrypted and authenticated by the enclave
 * provider (AES-256-GCM under a sealing key that never leaves the provider), with associated
 * data binding it to the party, the record name (which embeds the key id) and a version number.
 *
 * The version counter lives outside the blob, in a JetStream KV bucket written with
 * compare-and-set (the party's own bucket `cosigner-sealed-versions-<party>`, key `<party>.<name>`). Reading a record opens the
 * file of the version the KV names: an older blob copied over it fails authentication (its AD
 * names another version) and is refused with ERR_SEALED_ROLLBACK, so a rolled-back presignature
 * or share can never be used again. Writes go file first (new version, fsync), then the counter
 * (CAS): a crash in between leaves an unreferenced file that the next write of that name removes.
 *
 * Record names are dot-separated tokens of [A-Za-z0-9_=-] (they are also KV key suffixes).
 */
import { createCipheriv, createDecipheriv, createHash, createSecretKey, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KV } from '@nats-io/kv';
import { PartyError } from './errors.ts';
import { LEGACY_SEALED_VERSIONS_BUCKET, sealedVersionsBucket } from '@cosigner/platform';

/** What an enclave provider offers the rest of the party: sealing and attestation. */
export interface EnclaveProvider {
  /** `software`, or a hardware provider (`sgx`, `nitro`, `confidential-space`) behind the same interface. */
  readonly kind: string;
  /** AEAD-encrypt `plain` bound to `ad`. */
  seal(plain: Uint8Array, ad: Uint8Array): Uint8Array;
  /** Open a sealed blob; throws ERR_SEALED_CORRUPT when it does not authenticate with `ad`. */
  open(blob: Uint8Array, ad: Uint8Array): Uint8Array;
  /**
   * An attestation document over `userData` (the party's public keys). Hardware providers return
   * the platform's signed quote; the software provider a plain statement (it attests nothing
   * beyond "software", and says so).
   */
  attestation(userData: Uint8Array): Uint8Array;
}

const SEAL_VERSION = 1;

/**
 * The default provider: the sealing key is 32 random bytes from a file (hex or base64; a mounted
 * secret in deployments). A missing or malformed file is a clear startup error.
 */
export class SoftwareEnclaveProvider implements EnclaveProvider {
  readonly kind = 'software';
  // A KeyObject, not bytes: OpenSSL gets the key once instead of on every seal and open.
  #key: KeyObject;

  constructor(sealingKey: Uint8Array) {
    if (sealingKey.length !== 32) throw new PartyError('ERR_SEALING_KEY_MISSING', 'sealing key must be 32 bytes');
    this.#key = createSecretKey(Buffer.from(hkdfSync('sha256', sealingKey, Buffer.alloc(0), 'cosigner-sealing/v1', 32)));
  }

  static fromFile(path: string | undefined): SoftwareEnclaveProvider {
    if (!path) throw new PartyError('ERR_SEALING_KEY_MISSING', 'COSIGNER_SEALING_KEY_FILE is not set: the software enclave needs a 32-byte sealing key (hex or base64) in a file');
    if (!existsSync(path)) throw new PartyError('ERR_SEALING_KEY_MISSING', `sealing key file ${path} does not exist`);
    return new SoftwareEnclaveProvider(parseKey(readFileSync(path, 'utf8').trim()));
  }

  seal(plain: Uint8Array, ad: Uint8Array): Uint8Array {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.#key, iv);
    c.setAAD(ad);
    const body = Buffer.concat([c.update(plain), c.final()]);
    return Buffer.concat([Buffer.from([SEAL_VERSION]), iv, c.getAuthTag(), body]);
  }

  open(blob: Uint8Array, ad: Uint8Array): Uint8Array {
    if (blob.length < 29 || blob[0] !== SEAL_VERSION) throw new PartyError('ERR_SEALED_CORRUPT', 'sealed blob: bad header');
    const b = Buffer.from(blob);
    const d = createDecipheriv('aes-256-gcm', this.#key, b.subarray(1, 13));
    d.setAAD(ad);
    d.setAuthTag(b.subarray(13, 29));
    try {
      return new Uint8Array(Buffer.concat([d.update(b.subarray(29)), d.final()]));
    } catch (e) {
      throw new PartyError('ERR_SEALED_CORRUPT', 'sealed blob does not authenticate', { cause: e });
    }
  }

  attestation(userData: Uint8Array): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({
      provider: 'software',
      note: 'no hardware attestation: the software provider vouches only for itself',
      userDataSha256: createHash('sha256').update(userData).digest('hex'),
    }));
  }
}

function parseKey(s: string): Uint8Array {
  if (/^[0-9a-fA-F]{64}$/.test(s)) return Buffer.from(s, 'hex');
  const b = Buffer.from(s, 'base64');
  if (b.length === 32) return b;
  throw new PartyError('ERR_SEALING_KEY_MISSING', 'sealing key file must hold 32 bytes as 64 hex digits or base64');
}

/** Where the version counters live. The KV implementation is the real one; tests may pass their own. */
export interface VersionCounter {
  get(key: string): Promise<{ value: string; revision: number } | undefined>;
  /** Create (expectedRevision 0) or compare-and-set; throws on conflict. Returns the new revision. */
  cas(key: string, value: string, expectedRevision: number): Promise<number>;
  /**
   * Every counter under `prefix` (one read at start-up). With it, the store knows each record's
   * version without a round trip per first access; without it, the store asks per name.
   */
  all?(prefix: string): Promise<Map<string, { value: string; revision: number }>>;
  /** Removes a counter altogether (a record collected for good: absent means never written). */
  purge?(key: string): Promise<void>;
}

export function kvVersionCounter(kv: KV): VersionCounter {
  return {
    async get(key) {
      const e = await kv.get(key);
      if (!e || e.operation !== 'PUT') return undefined;
      return { value: e.string(), revision: e.revision };
    },
    async all(prefix) {
      const out = new Map<string, { value: string; revision: number }>();
      // The bucket keeps one value per key, so its history is the current state; it ends once read.
      const it = await kv.history({ key: `${prefix}>` });
      for await (const e of it) {
        if (e.operation === 'PUT') out.set(e.key, { value: e.string(), revision: e.revision });
        else out.delete(e.key);
      }
      return out;
    },
    async purge(key) {
      await kv.purge(key);
    },
    async cas(key, value, expectedRevision) {
      try {
        return expectedRevision === 0 ? await kv.create(key, value) : await kv.update(key, value, expectedRevision);
      } catch (e) {
        throw new PartyError('ERR_SEALED_CONFLICT', `version counter ${key}: compare-and-set failed`, { cause: e });
      }
    },
  };
}

/**
 * KV bucket of a party's version counters: its own (the platform's topology), so that the bus
 * authorization lets no other service or party write, and so roll back, its counters.
 */
export function sealedVersionsBucketOf(party: string): string {
  return sealedVersionsBucket(party).bucket;
}
/** The bucket every party shared before (read once at start to carry a party's counters over). */
export const SEALED_VERSIONS_BUCKET = LEGACY_SEALED_VERSIONS_BUCKET;

const NAME_RE = /^[A-Za-z0-9_=-]+(\.[A-Za-z0-9_=-]+)*$/;

export class SealedStore {
  readonly dir: string;
  readonly party: string;
  #provider: EnclaveProvider;
  #counter: VersionCounter;
  /** name -> (version, KV revision, deleted); this party is the only writer of its counters. */
  #known = new Map<string, { version: number; revision: number; deleted: boolean }>();
  #locks = new Map<string, Promise<unknown>>();

  constructor(o: { dir: string; party: string; provider: EnclaveProvider; counter: VersionCounter }) {
    this.dir = o.dir;
    this.party = o.party;
    this.#provider = o.provider;
    this.#counter = o.counter;
  }

  /** True when the directory held no sealed record at `init` (a new or lost volume). */
  fresh = false;

  /** Whether every counter of this party was read at start (then an unknown name has none). */
  #preloaded = false;

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    this.fresh = !(await readdir(this.dir)).some((f) => f.endsWith('.sealed'));
    if (this.#counter.all) {
      // Only this party's process writes its counters (a second one would lose every
      // compare-and-set), so after this read the cache is the truth and lookups of records that
      // do not exist (a presignature's first binding, a request's first plan) cost no round trip.
      const prefix = `${this.party}.`;
      for (const [k, e] of await this.#counter.all(prefix)) {
        const name = k.slice(prefix.length);
        if (!this.#known.has(name)) this.#known.set(name, { version: Number.parseInt(e.value, 10), revision: e.revision, deleted: e.value.endsWith('d') });
      }
      this.#preloaded = true;
    }
  }

  /**
   * Like `get`, but on a fresh volume a record the counter knows and the disk does not is
   * treated as absent (the volume was lost; `keys restore` brings shares back). Only for records
   * a party can safely re-create (its identity before a restore, its pins).
   */
  async getOrLost(name: string): Promise<Uint8Array | undefined> {
    try {
      return await this.get(name);
    } catch (e) {
      if (this.fresh && e instanceof PartyError && e.code === 'ERR_SEALED_ROLLBACK') return undefined;
      throw e;
    }
  }

  private ad(name: string, version: number): Uint8Array {
    return new TextEncoder().encode(`cosigner-sealed/v1\0${this.party}\0${name}\0${version}`);
  }

  private file(name: string, version: number): string {
    return join(this.dir, `${name}.v${version}.sealed`);
  }

  private async state(name: string): Promise<{ version: number; revision: number; deleted: boolean }> {
    const k = this.#known.get(name);
    if (k) return k;
    if (this.#preloaded) return { version: 0, revision: 0, deleted: true };
    const e = await this.#counter.get(`${this.party}.${name}`);
    const s = e ? { version: Number.parseInt(e.value, 10), revision: e.revision, deleted: e.value.endsWith('d') } : { version: 0, revision: 0, deleted: true };
    this.#known.set(name, s);
    return s;
  }

  private serial<T>(name: string, f: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(name) ?? Promise.resolve();
    const next = prev.then(f, f);
    const tail = next.catch(() => undefined);
    this.#locks.set(name, tail);
    void tail.then(() => { if (this.#locks.get(name) === tail) this.#locks.delete(name); });
    return next;
  }

  /** Seal and store `plain` as the next version of `name`. */
  put(name: string, plain: Uint8Array): Promise<void> {
    if (!NAME_RE.test(name)) throw new PartyError('ERR_INVALID_ARGUMENT', `bad sealed record name ${name}`);
    return this.serial(name, async () => {
      const s = await this.state(name);
      const v = s.version + 1;
      const path = this.file(name, v);
      const tmp = `${path}.tmp`;
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(this.#provider.seal(plain, this.ad(name, v)));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
      const rev = await this.#counter.cas(`${this.party}.${name}`, String(v), s.revision);
      this.#known.set(name, { version: v, revision: rev, deleted: false });
      if (s.version > 0) await rm(this.file(name, s.version), { force: true });
    });
  }

  /** The record, or undefined when it was never written or deleted. Refuses rolled-back or altered blobs. */
  get(name: string): Promise<Uint8Array | undefined> {
    return this.serial(name, async () => {
      const s = await this.state(name);
      if (s.deleted) return undefined;
      let blob: Uint8Array;
      try {
        blob = await readFile(this.file(name, s.version));
      } catch (e) {
        throw new PartyError('ERR_SEALED_ROLLBACK', `sealed record ${name} v${s.version} is missing (rolled back or lost)`, { cause: e });
      }
      try {
        return this.#provider.open(blob, this.ad(name, s.version));
      } catch (e) {
        throw new PartyError('ERR_SEALED_ROLLBACK', `sealed record ${name} is not version ${s.version} (rolled back or altered); refused`, { cause: e });
      }
    });
  }

  /** Delete: the counter moves on (tombstone), so an old copy of the file can never be read again. */
  /** Milliseconds since the record's current version was written (undefined if there is none). */
  async age(name: string, now = Date.now()): Promise<number | undefined> {
    const s = await this.state(name);
    if (s.deleted) return undefined;
    try {
      return now - (await stat(this.file(name, s.version))).mtimeMs;
    } catch {
      return undefined;
    }
  }

  /**
   * Deletes a record and then its version counter (garbage collection of records that can never
   * be read again). Safe against rollback: a name without a counter reads as absent, whatever
   * file an attacker puts back, exactly like a deleted one.
   */
  async forget(name: string): Promise<void> {
    await this.delete(name);
    if (!this.#counter.purge) return;
    await this.serial(name, async () => {
      await this.#counter.purge!(`${this.party}.${name}`);
      this.#known.delete(name);
      if (!this.#preloaded) this.#known.set(name, { version: 0, revision: 0, deleted: true });
    });
  }

  delete(name: string): Promise<void> {
    return this.serial(name, async () => {
      const s = await this.state(name);
      if (s.deleted) return;
      const v = s.version + 1;
      const rev = await this.#counter.cas(`${this.party}.${name}`, `${v}d`, s.revision);
      this.#known.set(name, { version: v, revision: rev, deleted: true });
      await rm(this.file(name, s.version), { force: true });
    });
  }

  /** Names of records present on disk under a dotted prefix (not checked: `get` checks). */
  async list(prefix: string): Promise<string[]> {
    const out = new Set<string>();
    for (const f of await readdir(this.dir).catch(() => [] as string[])) {
      const m = /^(.+)\.v\d+\.sealed$/.exec(f);
      if (m && m[1]!.startsWith(prefix)) out.add(m[1]!);
    }
    return [...out].sort();
  }
}

/** A name token from arbitrary text (request ids, key ids): hex of its SHA-256, shortened. */
export function token(s: string): string {
  return /^[A-Za-z0-9_-]{1,64}$/.test(s) ? s : createHash('sha256').update(s).digest('hex').slice(0, 40);
}
