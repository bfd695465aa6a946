/**
 * Signing plans: which presignature signs which payload entry, durable before any party sees the
 * session, so a restart resumes with the same presignature (the same shares, the same signature)
 * instead of starting a second one. A plan holds no secret (a presignature id and a key epoch),
 * so it lives in JetStream KV (`cosigner-signing-plans`, one key per request entry, written with
 * create: the first plan of an entry wins) rather than in the sealed store: one round trip
 * instead of a file sync plus a version counter on the signing path.
 */
import type { KV } from '@nats-io/kv';
import { BUCKETS } from '@cosigner/platform';

export const PLANS_BUCKET = BUCKETS.plans.bucket;
/** Longer than a request can live (intake caps expiries at 7 days). */
export const PLANS_TTL_MS = BUCKETS.plans.ttlMs;

export interface SigningPlan {
  /** Presignature id (empty: the scheme signs without one). */
  presig: string;
  epoch: number;
  /** The signing set the presignature was made for, when it is not the key's usual one (failover). */
  parties?: string[];
}

export class PlanStore {
  #kv: KV;

  constructor(kv: KV) {
    this.#kv = kv;
  }

  private key(requestToken: string, entry: number): string {
    return `${requestToken}.${entry}`;
  }

  async get(requestToken: string, entry: number): Promise<SigningPlan | undefined> {
    const e = await this.#kv.get(this.key(requestToken, entry));
    if (!e || e.operation !== 'PUT') return undefined;
    return e.json<SigningPlan>();
  }

  /** Records `plan` unless the entry has one already; returns the plan in force. */
  async create(requestToken: string, entry: number, plan: SigningPlan): Promise<SigningPlan> {
    try {
      await this.#kv.create(this.key(requestToken, entry), JSON.stringify(plan));
      return plan;
    } catch (e) {
      const cur = await this.get(requestToken, entry);
      if (cur) return cur;
      throw e;
    }
  }

  async delete(requestToken: string, entry: number): Promise<void> {
    await this.#kv.delete(this.key(requestToken, entry));
  }

  /** Every presignature named by a plan still in force (spoken for, bound or not yet). */
  async presignatures(): Promise<Set<string>> {
    const out = new Map<string, string>();
    const it = await this.#kv.history();
    for await (const e of it) {
      if (e.operation === 'PUT') out.set(e.key, e.json<SigningPlan>().presig);
      else out.delete(e.key);
    }
    return new Set([...out.values()].filter(Boolean));
  }
}
