/**
 * Presignature pool (ECDSA/CMP): per key, `target` presignatures kept ready, refilled in the
 * background by at most `concurrency` presign sessions at a time (the CPU budget). A
 * presignature taken from the pool is bound (by the signing plan) before anything is signed;
 * presignatures of an old key epoch are dropped after a refresh.
 */
import type { PartyNode } from '@cosigner/party';
import { CUSTOMER_PARTY, PartyError, parseAlgorithm, schemeFor } from '@cosigner/party';
import type { KeyStore } from './keys.ts';
import { presignProduced } from './metrics.ts';

export interface PoolOptions {
  target: number;
  concurrency: number;
  /** Presignatures per presign session (CMP batches them in one 3-round run). */
  batch: number;
  /** Refilling starts when this few are ready (hysteresis). */
  lowWater: number;
  log: (msg: string, f?: Record<string, unknown>) => void;
}

interface KeyPool {
  keyId: string;
  epoch: number;
  ready: string[];
  refilling: boolean;
  /** Signers waiting for a presignature (the pool makes these on top of its target). */
  waiting: Waiter[];
  inFlight: number;
  consumed: number;
  failures: number;
}

interface Waiter {
  resolve: (id: string) => void;
  reject: (e: unknown) => void;
}

/** Requests waiting for an on-demand presignature of one (key, epoch, signing set). */
interface OnDemand {
  waiting: Waiter[];
  running: boolean;
}

/** How long a party that did not answer is left out of signing sets before it is tried again. */
export const DOWN_MEMORY_MS = 30_000;

export class PresignPool {
  #node: PartyNode;
  #keys: KeyStore;
  #o: PoolOptions;
  #pools = new Map<string, KeyPool>();
  #active = 0;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #waiters: (() => void)[] = [];
  #planned = new Set<string>();
  #onDemand = new Map<string, OnDemand>();
  /** Parties that did not answer a session start, until when they are left out of signing sets. */
  #down = new Map<string, number>();

  constructor(node: PartyNode, keys: KeyStore, o: PoolOptions) {
    this.#node = node;
    this.#keys = keys;
    this.#o = o;
  }

  /**
   * Load what the enclave holds for every ECDSA key and start refilling. `planned`: presignatures
   * named by unfinished signing plans (spoken for, bound or not yet).
   */
  async start(planned: Iterable<string> = []): Promise<void> {
    for (const id of planned) this.#planned.add(id);
    for (const k of await this.#keys.list()) await this.track(k.keyId);
    this.#timer = setInterval(() => this.pump(), 1000);
    this.#timer.unref();
  }

  /** Parties found not answering (by the signer or by a refill) are left out for DOWN_MEMORY_MS. */
  markDown(parties: Iterable<string>): void {
    for (const p of parties) if (p !== CUSTOMER_PARTY) this.#down.set(p, Date.now() + DOWN_MEMORY_MS);
  }

  /** Parties recently found not answering (a fresh copy). */
  downParties(): Set<string> {
    const now = Date.now();
    for (const [p, until] of this.#down) if (until <= now) this.#down.delete(p);
    return new Set(this.#down.keys());
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
  }

  async track(keyId: string): Promise<void> {
    const k = await this.#keys.get(keyId, true);
    if (!k || !schemeFor(parseAlgorithm(k.info.algorithm)).needsPresignature) return;
    const free = (await this.#node.records.freePresignatures(keyId, k.info.epoch)).filter((id) => !this.#planned.has(id));
    const prev = this.#pools.get(keyId);
    this.#pools.set(keyId, { keyId, epoch: k.info.epoch, ready: free, waiting: prev && prev.epoch === k.info.epoch ? prev.waiting : [], refilling: true, inFlight: prev?.inFlight ?? 0, consumed: prev?.consumed ?? 0, failures: 0 });
    this.pump();
  }

  status(keyId?: string): { keyId: string; ready: number; target: number; inFlight: number; consumed: number }[] {
    return [...this.#pools.values()].filter((p) => !keyId || p.keyId === keyId)
      .map((p) => ({ keyId: p.keyId, ready: p.ready.length, target: this.#o.target, inFlight: p.inFlight, consumed: p.consumed }));
  }

  /** A ready presignature id for the key (current epoch), or undefined. */
  take(keyId: string, epoch: number): string | undefined {
    const p = this.#pools.get(keyId);
    if (!p || p.epoch !== epoch) return undefined;
    const id = p.ready.shift();
    if (id) p.consumed++;
    this.pump();
    return id;
  }

  /** Puts back a presignature taken but not planned (another plan of the entry won). */
  giveBack(keyId: string, epoch: number, id: string): void {
    const p = this.#pools.get(keyId);
    if (!p || p.epoch !== epoch || p.ready.includes(id)) return;
    p.ready.unshift(id);
    p.consumed = Math.max(0, p.consumed - 1);
  }

  /**
   * A presignature for the key: a ready one, or the next one the pool makes (CPU stays within
   * the pool's budget however many requests wait). Rejects after `timeoutMs`, and at once when a
   * refill fails because a party did not answer (with that error: the caller may move).
   */
  async acquire(keyId: string, epoch: number, timeoutMs: number): Promise<string> {
    const now = this.take(keyId, epoch);
    if (now) return now;
    const p = this.#pools.get(keyId);
    if (!p || p.epoch !== epoch) return this.makeOne(keyId);
    return new Promise<string>((resolve, reject) => {
      const w: Waiter = {
        resolve: (id: string) => { clearTimeout(t); p.consumed++; resolve(id); },
        reject: (e: unknown) => { clearTimeout(t); reject(e); },
      };
      const t = setTimeout(() => {
        const i = p.waiting.indexOf(w);
        if (i >= 0) p.waiting.splice(i, 1);
        reject(new PartyError('ERR_SESSION_TIMEOUT', `no presignature for ${keyId} within ${timeoutMs} ms`));
      }, timeoutMs);
      p.waiting.push(w);
      this.pump();
    });
  }

  /** Make one presignature now, outside the pool (nothing was ready). */
  async makeOne(keyId: string): Promise<string> {
    const k = await this.#keys.get(keyId);
    if (!k) throw new PartyError('ERR_KEY_NOT_FOUND', `no key ${keyId}`);
    return (await this.presign(keyId, k.info.epoch, k.info.parties, 1))[0]!;
  }

  /**
   * Make one presignature now for another signing set than the pool's (the signer's failover when
   * a cloud party of the usual set does not answer). `signers` starts with the customer's party.
   */
  async makeOneFor(keyId: string, epoch: number, signers: string[]): Promise<string> {
    const k = `${keyId}|${epoch}|${signers.join(',')}`;
    let q = this.#onDemand.get(k);
    if (!q) this.#onDemand.set(k, (q = { waiting: [], running: false }));
    const p = new Promise<string>((resolve, reject) => q.waiting.push({ resolve, reject }));
    this.runOnDemand(k, q, keyId, epoch, signers);
    return p;
  }

  /**
   * One presign session at a time per (key, set) for on-demand presignatures: whoever asked
   * while one runs is served by the next, batched (up to `batch`), so a burst of requests during
   * an outage does not start one 3-round session each.
   */
  private runOnDemand(k: string, q: OnDemand, keyId: string, epoch: number, signers: string[]): void {
    if (q.running || q.waiting.length === 0) return;
    q.running = true;
    const take = q.waiting.splice(0, Math.max(1, this.#o.batch));
    // A failed session costs its waiters a retry, never their requests: a party that did not
    // answer is reported as such (the signer may move again); anything else as retryable.
    const retryable = (e: unknown): unknown => (e instanceof PartyError && e.code === 'ERR_SESSION_TIMEOUT'
      ? e : new PartyError('ERR_SESSION_REFUSED', `on-demand presigning failed: ${(e as Error)?.message ?? String(e)}`, { cause: e }));
    void this.presign(keyId, epoch, signers, take.length).then(
      (ids) => take.forEach((w, i) => (ids[i] ? w.resolve(ids[i]) : w.reject(retryable(new Error('presigning returned too few presignatures'))))),
      (e: unknown) => { for (const w of take) w.reject(retryable(e)); },
    ).finally(() => {
      q.running = false;
      if (q.waiting.length > 0) this.runOnDemand(k, q, keyId, epoch, signers);
      else this.#onDemand.delete(k);
    });
  }

  private async presign(keyId: string, epoch: number, parties: string[], count = this.#o.batch): Promise<string[]> {
    const k = (await this.#keys.get(keyId))!;
    const signers = parties.includes(CUSTOMER_PARTY) ? parties.slice(0, Math.max(k.info.threshold, 1)) : parties;
    if (!signers.includes(CUSTOMER_PARTY)) signers[0] = CUSTOMER_PARTY;
    const r = await this.#node.coordinate({
      kind: 'PRESIGN', keyId, parties: signers, context: Buffer.alloc(0), workspaceId: k.info.workspaceId, algorithm: k.info.algorithm,
      threshold: k.info.threshold, count, entryIndex: 0, presignatureId: Buffer.alloc(0), requestId: '', epoch,
    });
    // Every party of the set answered: none of them is down any more.
    for (const p of signers) this.#down.delete(p);
    const ids = (JSON.parse(new TextDecoder().decode(r)) as { presignatureIds: string[] }).presignatureIds;
    presignProduced.inc({ key_id: keyId }, ids.length);
    return ids;
  }

  /** Resolves when the pool of `keyId` holds at least `n` ready presignatures (benchmarks, tests). */
  async waitReady(keyId: string, n: number, timeoutMs = 600_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while ((this.#pools.get(keyId)?.ready.length ?? 0) < n) {
      if (Date.now() > end) throw new PartyError('ERR_SESSION_TIMEOUT', `pool of ${keyId} not ready`);
      await new Promise<void>((r) => { this.#waiters.push(r); setTimeout(r, 500); });
    }
  }

  setTarget(n: number): void {
    this.#o.target = n;
    this.pump();
  }

  private pump(): void {
    if (this.#stopped) return;
    for (const p of this.#pools.values()) {
      const want = () => this.#o.target + p.waiting.length - p.ready.length - p.inFlight;
      // Hysteresis: refill once the pool is down to its low-water mark (or someone waits), then
      // up to the target; a pool that is merely not full leaves the CPU to signing.
      if (p.waiting.length > 0 || p.ready.length <= this.#o.lowWater) p.refilling = true;
      if (want() <= 0) p.refilling = false;
      while (p.refilling && this.#active < this.#o.concurrency && want() > 0 && p.failures < 5) {
        const n = Math.max(1, Math.min(this.#o.batch, want()));
        this.#active++;
        p.inFlight += n;
        const epoch = p.epoch;
        void this.#keys.get(p.keyId).then((k) => this.presign(p.keyId, epoch, k!.info.parties, n)).then(
          (ids) => {
            const cur = this.#pools.get(p.keyId);
            if (cur && cur.epoch === epoch) {
              for (const id of ids) {
                const w = cur.waiting.shift();
                if (w) w.resolve(id);
                else cur.ready.push(id);
              }
            }
            p.failures = 0;
          },
          (e: unknown) => {
            p.failures++;
            this.#o.log('presign failed', { keyId: p.keyId, code: (e as PartyError).code, err: (e as Error).message });
            // A party that did not answer: remembered (signers move when the threshold allows), and
            // whoever waits for a presignature of this set hears it now rather than at its timeout.
            if (e instanceof PartyError && e.code === 'ERR_SESSION_TIMEOUT' && e.nothingSent && e.culprits.length > 0) {
              this.markDown(e.culprits);
              for (const w of p.waiting.splice(0)) w.reject(e);
            }
            // Back off a little; the interval pump tries again.
            setTimeout(() => { p.failures = Math.max(0, p.failures - 1); }, 2000).unref();
          },
        ).finally(() => {
          this.#active--;
          p.inFlight -= n;
          const w = this.#waiters.splice(0);
          for (const f of w) f();
          this.pump();
        });
      }
    }
  }
}
