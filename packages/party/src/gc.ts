/**
 * Garbage collection of a party's sealed store: without it, every signature would leave a
 * binding record (and its version counter) behind forever, and every refresh would strand the
 * unused presignatures of the old key epoch.
 *
 * - A binding (`bind.<key>.<presignature>`) is what stops a presignature from signing a second
 *   message and what a party resends after a restart. Once its presignature is gone (released
 *   after the signature was published, or dropped by a cloud party after its part), the binding
 *   only serves a retry of the same request; after `bindRetentionMs` (default 8 days, beyond
 *   any request's expiry) it is collected, counter included.
 * - A request's outcome on the coordinator (`done.<request>`, kept so that a redelivered approval
 *   republishes the same event instead of signing again) goes after the same retention: by then
 *   the approval was acknowledged long ago.
 * - A presignature of an epoch older than the newest share of its key, never bound, can never be
 *   used (a presignature belongs to one epoch's shares) and is collected after `graceMs`. A bound
 *   one is left to the release path: its signature may still be in flight.
 */
import { BINDING_PREFIX, OUTCOME_PREFIX, PRESIGNATURE_PREFIX, SHARE_PREFIX, parseBindingRecord, parsePresignatureRecord, parseShareRecord } from './records.ts';
import type { SealedStore } from './sealed.ts';

/** Longer than a request can live (intake caps expiries at 7 days): a retry always finds its binding. */
export const DEFAULT_BIND_RETENTION_MS = 8 * 24 * 3_600_000;
export const DEFAULT_GC_GRACE_MS = 10 * 60_000;

export interface GcOptions {
  bindRetentionMs?: number;
  graceMs?: number;
  now?: number;
}

export interface GcReport {
  bindings: number;
  presignatures: number;
  outcomes: number;
}

export async function collectGarbage(store: SealedStore, o: GcOptions = {}): Promise<GcReport> {
  const now = o.now ?? Date.now();
  const retention = o.bindRetentionMs ?? DEFAULT_BIND_RETENTION_MS;
  const grace = o.graceMs ?? DEFAULT_GC_GRACE_MS;
  const report: GcReport = { bindings: 0, presignatures: 0, outcomes: 0 };
  for (const name of await store.list(OUTCOME_PREFIX)) {
    const age = await store.age(name, now);
    if (age !== undefined && age > retention) {
      await store.forget(name);
      report.outcomes++;
    }
  }

  // presig.<key>.<epoch>.<id> -> present ids per key, and the newest share epoch per key.
  const presigs = new Map<string, { epoch: number; id: string; name: string }[]>();
  for (const name of await store.list(PRESIGNATURE_PREFIX)) {
    const m = parsePresignatureRecord(name);
    if (!m) continue;
    const list = presigs.get(m.key) ?? [];
    list.push({ epoch: m.epoch, id: m.id, name });
    presigs.set(m.key, list);
  }
  const newest = new Map<string, number>();
  for (const name of await store.list(SHARE_PREFIX)) {
    const m = parseShareRecord(name);
    if (m) newest.set(m.key, Math.max(newest.get(m.key) ?? -1, m.epoch));
  }
  const bound = new Set<string>();
  for (const name of await store.list(BINDING_PREFIX)) {
    const m = parseBindingRecord(name);
    if (!m) continue;
    const { key, id } = m;
    if ((presigs.get(key) ?? []).some((p) => p.id === id)) {
      bound.add(`${key}.${id}`);
      continue;
    }
    const age = await store.age(name, now);
    if (age !== undefined && age > retention) {
      await store.forget(name);
      report.bindings++;
    }
  }
  for (const [key, list] of presigs) {
    const epoch = newest.get(key);
    if (epoch === undefined) continue;
    for (const p of list) {
      if (p.epoch >= epoch || bound.has(`${key}.${p.id}`)) continue;
      const age = await store.age(p.name, now);
      if (age !== undefined && age > grace) {
        await store.forget(p.name);
        report.presignatures++;
      }
    }
  }
  return report;
}
