/**
 * Typed access to a JetStream KV bucket holding protobuf (or JSON) values, with the
 * compare-and-set primitives registries rely on (create-if-absent, update-at-revision): one
 * place for the JetStream error codes that mean "a concurrent writer won".
 */
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';

export interface Codec<T> {
  encode(v: T): Uint8Array;
  decode(b: Uint8Array): T;
}

export interface Versioned<T> {
  value: T;
  revision: number;
}

/** A CAS write lost against a concurrent writer. */
export function isCasConflict(e: unknown): boolean {
  return e instanceof JetStreamApiError &&
    (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

export function protoCodec<T>(m: { encode(v: T): { finish(): Uint8Array }; decode(b: Uint8Array): T }): Codec<T> {
  return { encode: (v) => m.encode(v).finish(), decode: (b) => m.decode(b) };
}

export function jsonCodec<T>(): Codec<T> {
  return { encode: (v) => new TextEncoder().encode(JSON.stringify(v)), decode: (b) => JSON.parse(new TextDecoder().decode(b)) as T };
}

export class TypedKv<T> {
  readonly kv: KV;
  readonly codec: Codec<T>;
  constructor(kv: KV, codec: Codec<T>) {
    this.kv = kv;
    this.codec = codec;
  }

  async get(key: string): Promise<Versioned<T> | undefined> {
    const e = await this.kv.get(key);
    if (!e || e.operation !== 'PUT' || e.value.length === 0) return undefined;
    return { value: this.codec.decode(e.value), revision: e.revision };
  }

  /** Creates the key; returns undefined if it already exists (someone else won). */
  async create(key: string, v: T): Promise<number | undefined> {
    try {
      return await this.kv.create(key, this.codec.encode(v));
    } catch (e) {
      if (isCasConflict(e)) return undefined;
      throw e;
    }
  }

  /** Updates at `revision`; returns undefined on a lost race. */
  async update(key: string, v: T, revision: number): Promise<number | undefined> {
    try {
      return await this.kv.update(key, this.codec.encode(v), revision);
    } catch (e) {
      if (isCasConflict(e)) return undefined;
      throw e;
    }
  }

  async put(key: string, v: T): Promise<number> {
    return this.kv.put(key, this.codec.encode(v));
  }

  /** Read-modify-write with CAS, retried on conflict. `fn` returns undefined to leave the value alone. */
  async modify(key: string, fn: (cur: T | undefined) => T | undefined, attempts = 20): Promise<Versioned<T> | undefined> {
    for (let i = 0; i < attempts; i++) {
      const cur = await this.get(key);
      const next = fn(cur?.value);
      if (next === undefined) return cur;
      const rev = cur ? await this.update(key, next, cur.revision) : await this.create(key, next);
      if (rev !== undefined) return { value: next, revision: rev };
    }
    throw new Error(`kv ${key}: too many concurrent writers`);
  }

  async keys(): Promise<string[]> {
    const out: string[] = [];
    const it = await this.kv.keys();
    for await (const k of it) out.push(k);
    return out;
  }
}
