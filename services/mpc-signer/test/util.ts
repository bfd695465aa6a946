import assert from 'node:assert/strict';
import type { PoolStatusResponse } from '@cosigner/proto';
import type { System } from './system.ts';

/** The terminal event of a request (signed or failed), polled from the stream. */
export async function waitEvent(s: System, id: string, timeoutMs = 30_000): Promise<{ kind: 'signed' | 'failed'; data: Uint8Array }> {
  const end = Date.now() + timeoutMs;
  const jsm = await s.js.jetstreamManager();
  while (Date.now() < end) {
    for (const kind of ['signed', 'failed'] as const) {
      try {
        const m = await jsm.streams.getMessage('COSIGNER_REQUESTS', { last_by_subj: `cosigner.requests.${kind}.${id}` });
        if (m) return { kind, data: m.data };
      } catch { /* not yet */ }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no terminal event for ${id}`);
}

/** How many messages the stream holds on a subject (exactly-once checks). */
export async function countOn(s: System, subject: string): Promise<number> {
  const jsm = await s.js.jetstreamManager();
  const info = await jsm.streams.info('COSIGNER_REQUESTS', { subjects_filter: subject });
  return Number(info.state.subjects?.[subject] ?? 0);
}

/** Waits until the key's presignature pool holds at least `n` ready (two minutes at most). */
export async function waitPool(s: System, keyId: string, n: number): Promise<void> {
  for (let i = 0; ; i++) {
    const st = await s.call<PoolStatusResponse>('getPoolStatus', { keyId });
    if ((st.pools[0]?.ready ?? 0) >= n) return;
    assert.ok(i < 1200, `the pool of ${keyId} never held ${n}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
