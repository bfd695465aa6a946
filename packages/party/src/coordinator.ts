/**
 * What the coordinator (the customer's party, services/mpc-signer) may do with its party's sealed
 * store, and nothing more: the enclave's store itself never leaves the party package, so no
 * service code can read a share, a presignature or a binding (docs/architecture.md, "The enclave
 * boundary"). Every name comes from records.ts, the same module the enclave uses.
 */
import {
  bindingPrefix, bindingRecord, entrySignatureRecord, outcomeRecord, presignaturePrefix, presignatureRecord,
} from './records.ts';
import type { SealedStore } from './sealed.ts';

export class CoordinatorRecords {
  #store: SealedStore;

  /** @internal Made by `PartyNode.start`; the store stays inside this object. */
  constructor(store: SealedStore) {
    this.#store = store;
  }

  /** The sealed final event of a request (`done.<request>`: a tag byte then the event), if any. */
  async outcome(requestId: string): Promise<Uint8Array | undefined> {
    return this.#store.get(outcomeRecord(requestId));
  }

  /** Seals a request's final event: a redelivered approval republishes it instead of signing again. */
  async sealOutcome(requestId: string, event: Uint8Array): Promise<void> {
    await this.#store.put(outcomeRecord(requestId), event);
  }

  /** One entry's signature of a multi-entry request (kept until the request's outcome is sealed). */
  async entrySignature(requestId: string, entry: number): Promise<Uint8Array | undefined> {
    return this.#store.get(entrySignatureRecord(requestId, entry));
  }

  async sealEntrySignature(requestId: string, entry: number, signature: Uint8Array): Promise<void> {
    await this.#store.put(entrySignatureRecord(requestId, entry), signature);
  }

  async dropEntrySignature(requestId: string, entry: number): Promise<void> {
    await this.#store.delete(entrySignatureRecord(requestId, entry));
  }

  /**
   * Presignatures this party holds for a key's epoch that are not bound to a message yet (ids):
   * the ones a pool may hand out. A bound one has signed, or is signing, something.
   */
  async freePresignatures(keyId: string, epoch: number): Promise<string[]> {
    const prefix = presignaturePrefix(keyId, epoch);
    const bound = new Set(await this.#store.list(bindingPrefix(keyId)));
    return (await this.#store.list(prefix)).map((n) => n.slice(prefix.length)).filter((id) => !bound.has(bindingRecord(keyId, id)));
  }

  /** Drops a presignature (once the signature it made is durable, or when it was never sent). */
  async releasePresignature(keyId: string, epoch: number, id: string): Promise<void> {
    await this.#store.delete(presignatureRecord(keyId, epoch, id));
  }
}
