/** Key lifecycle on the coordinator: create (DKG), refresh (now or on a schedule), restore. */
import { KeyInfo } from '@cosigner/proto';
import { DEFAULT_PARTIES, PartyError, type Algorithm, type PartyNode } from '@cosigner/party';
import type { KeyStore } from './keys.ts';
import type { PresignPool } from './pool.ts';

export class KeyManager {
  readonly node: PartyNode;
  readonly keys: KeyStore;
  readonly pool: PresignPool;
  #creating = new Map<string, Promise<KeyInfo>>();
  #uncommitted = new Set<string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(node: PartyNode, keys: KeyStore, pool: PresignPool) {
    this.node = node;
    this.keys = keys;
    this.pool = pool;
  }

  /** DKG among the three parties; idempotent on key id. */
  async createKey(workspaceId: string, algorithm: Algorithm, threshold: number, keyId: string): Promise<KeyInfo> {
    const existing = await this.keys.get(keyId, true);
    if (existing) {
      if (existing.info.workspaceId !== workspaceId || existing.info.algorithm !== algorithm) throw new PartyError('ERR_KEY_EXISTS', `key ${keyId} exists with other parameters`);
      return existing.info;
    }
    const running = this.#creating.get(keyId);
    if (running) return running;
    const p = (async () => {
      const parties = DEFAULT_PARTIES.map((x) => x.id);
      const r = await this.node.coordinate({
        kind: 'KEYGEN', keyId, parties, context: Buffer.alloc(0), workspaceId, algorithm, threshold, count: 0, entryIndex: 0,
        presignatureId: Buffer.alloc(0), requestId: '', epoch: 0,
      });
      const j = JSON.parse(new TextDecoder().decode(r)) as { publicKey: string; chainCode: string };
      const now = Date.now();
      const info: KeyInfo = {
        keyId, workspaceId, algorithm, publicKey: Buffer.from(j.publicKey, 'base64'), chainCode: Buffer.from(j.chainCode, 'base64'),
        threshold, parties, createdAtMs: now, epoch: 0, refreshedAtMs: 0,
      };
      await this.keys.create(info);
      await this.pool.track(keyId);
      return info;
    })().finally(() => this.#creating.delete(keyId));
    this.#creating.set(keyId, p);
    return p;
  }

  /** Proactive refresh: new shares, same public key; presignatures of the old epoch are dropped. */
  async refreshKey(keyId: string): Promise<KeyInfo> {
    const k = await this.keys.get(keyId, true);
    if (!k) throw new PartyError('ERR_KEY_NOT_FOUND', `no key ${keyId}`);
    await this.node.coordinate({
      kind: 'REFRESH', keyId, parties: k.info.parties, context: Buffer.alloc(0), workspaceId: k.info.workspaceId, algorithm: k.info.algorithm,
      threshold: k.info.threshold, count: 0, entryIndex: 0, presignatureId: Buffer.alloc(0), requestId: '', epoch: k.info.epoch,
    });
    const info: KeyInfo = { ...k.info, epoch: k.info.epoch + 1, refreshedAtMs: Date.now() };
    await this.keys.update(info, k.revision);
    await this.pool.track(keyId);
    // Every party has sealed the new epoch (the coordinator waited for all outcomes) and the new
    // epoch is recorded: the old one can go everywhere. A failure here leaves it for the retry.
    await this.commitEpoch(keyId, info).catch(() => undefined);
    return info;
  }

  /**
   * Epoch commit: every party drops the key's shares (and presignatures) of epochs before the
   * current one (Enclave.commitEpoch; crash safety is argued there). Idempotent; a key whose
   * commit has not reached every party stays in `#uncommitted` and is retried by
   * `commitPending` (at start and on the refresh schedule).
   */
  async commitEpoch(keyId: string, info: KeyInfo): Promise<void> {
    this.#uncommitted.add(keyId);
    await this.node.coordinate({
      kind: 'COMMIT', keyId, parties: info.parties, context: Buffer.alloc(0), workspaceId: info.workspaceId, algorithm: info.algorithm,
      threshold: info.threshold, count: 0, entryIndex: 0, presignatureId: Buffer.alloc(0), requestId: '', epoch: info.epoch,
    });
    this.#uncommitted.delete(keyId);
  }

  /**
   * Commits the current epoch of every refreshed key whose commit may not have reached every
   * party (all of them after a restart: whether the last run committed is not recorded).
   */
  async commitPending(log: (m: string, f?: Record<string, unknown>) => void, all = false): Promise<void> {
    const keys = all ? (await this.keys.list()).filter((k) => k.epoch > 0) : await Promise.all([...this.#uncommitted].map(async (id) => (await this.keys.get(id, true))?.info));
    for (const k of keys) {
      if (!k) continue;
      await this.commitEpoch(k.keyId, k).catch((e: unknown) => log('epoch commit failed; retried later', { keyId: k.keyId, err: (e as Error).message }));
    }
  }

  /** Refresh every key on a schedule (0: off). */
  schedule(intervalMs: number, log: (m: string, f?: Record<string, unknown>) => void): void {
    if (intervalMs <= 0) return;
    this.#timer = setInterval(() => {
      void (async () => {
        await this.commitPending(log);
        for (const k of await this.keys.list()) {
          if (Date.now() - Math.max(k.refreshedAtMs, k.createdAtMs) < intervalMs) continue;
          await this.refreshKey(k.keyId).catch((e: unknown) => log('scheduled refresh failed', { keyId: k.keyId, err: (e as Error).message }));
        }
      })();
    }, Math.min(intervalMs, 60_000));
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  async restore(backup: Uint8Array, privPem: string): Promise<KeyInfo> {
    const m = await this.node.restore(backup, privPem);
    await this.node.republish();
    const existing = await this.keys.get(m.keyId, true);
    if (existing) return existing.info;
    const info: KeyInfo = {
      keyId: m.keyId, workspaceId: m.workspaceId, algorithm: m.algorithm, publicKey: Buffer.from(m.publicKey), chainCode: Buffer.from(m.chainCode),
      threshold: m.threshold, parties: m.parties.map((p) => p.id), createdAtMs: m.createdAtMs, epoch: m.epoch, refreshedAtMs: 0,
    };
    await this.keys.create(info);
    return info;
  }
}
