/**
 * The signer's Prometheus metrics, in the process's registry (served on METRICS_PORT by the
 * platform lifecycle): presignature pool depth and production, signing latency per scheme,
 * requests signed and failed, parties left out of signing sets. MPC aborts by code are counted
 * by the party package for every party; NATS consumer lag by the platform's consumer.
 */
import { metrics } from '@cosigner/platform';
import type { PresignPool } from './pool.ts';

export interface SignerMetrics {
  signed: number;
  failed: number;
  /** Signing sets changed because a party did not answer. */
  moves: number;
}

const poolReady = metrics.gauge('cosigner_presign_pool_ready', 'Presignatures ready per key.', ['key_id']);
const poolTarget = metrics.gauge('cosigner_presign_pool_target', 'Presignatures the pool keeps ready per key.', ['key_id']);
const poolInFlight = metrics.gauge('cosigner_presign_pool_in_flight', 'Presignatures being made per key.', ['key_id']);
const poolConsumed = metrics.gauge('cosigner_presign_consumed_total', 'Presignatures taken for signing per key (since start).', ['key_id']);
/** rate() of this is the pool's production rate. */
export const presignProduced = metrics.counter('cosigner_presign_produced_total', 'Presignatures made (PRESIGN sessions that completed), per key.', ['key_id']);
/** One observation per signed payload entry, from the start of its signing to its verified signature. */
export const signingSeconds = metrics.histogram('cosigner_signing_duration_seconds', 'Time to sign one payload entry (MPC session and verification), by scheme.', ['scheme']);
const signedTotal = metrics.gauge('cosigner_requests_signed_total', 'Requests this signer signed (since start).');
const failedTotal = metrics.gauge('cosigner_requests_failed_total', 'Requests this signer failed (since start).');
const partyUnavailable = metrics.gauge('cosigner_party_unavailable', 'Parties left out of signing sets because they did not answer (1 while remembered).', ['party']);
const setMoves = metrics.gauge('cosigner_signing_set_moves_total', 'Signing sets changed because a party did not answer (since start).');

/** Reads the pool and the counters at every scrape; returns the unregister function. */
export function collectSignerMetrics(pool: PresignPool, m: SignerMetrics): () => void {
  return metrics.collect(() => {
    for (const g of [poolReady, poolTarget, poolInFlight, poolConsumed, partyUnavailable]) g.reset();
    for (const p of pool.status()) {
      poolReady.set({ key_id: p.keyId }, p.ready);
      poolTarget.set({ key_id: p.keyId }, p.target);
      poolInFlight.set({ key_id: p.keyId }, p.inFlight);
      poolConsumed.set({ key_id: p.keyId }, p.consumed);
    }
    for (const p of pool.downParties()) partyUnavailable.set({ party: p }, 1);
    signedTotal.set(undefined, m.signed);
    failedTotal.set(undefined, m.failed);
    setMoves.set(undefined, m.moves);
  });
}
