/** Prometheus text metrics (pool depth, signatures) on METRICS_PORT; off when unset. */
import { createServer, type Server } from 'node:http';
import type { PresignPool } from './pool.ts';

export interface SignerMetrics {
  signed: number;
  failed: number;
  /** Signing sets changed because a party did not answer. */
  moves: number;
}

export function startMetrics(port: number, host: string, pool: PresignPool, m: SignerMetrics): Promise<Server> {
  const srv = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    const lines = [
      '# HELP cosigner_presign_pool_ready Presignatures ready per key.',
      '# TYPE cosigner_presign_pool_ready gauge',
      ...pool.status().map((p) => `cosigner_presign_pool_ready{key_id="${p.keyId}"} ${p.ready}`),
      '# TYPE cosigner_presign_pool_target gauge',
      ...pool.status().map((p) => `cosigner_presign_pool_target{key_id="${p.keyId}"} ${p.target}`),
      '# TYPE cosigner_presign_pool_in_flight gauge',
      ...pool.status().map((p) => `cosigner_presign_pool_in_flight{key_id="${p.keyId}"} ${p.inFlight}`),
      '# TYPE cosigner_presign_consumed_total counter',
      ...pool.status().map((p) => `cosigner_presign_consumed_total{key_id="${p.keyId}"} ${p.consumed}`),
      '# TYPE cosigner_requests_signed_total counter',
      `cosigner_requests_signed_total ${m.signed}`,
      '# TYPE cosigner_requests_failed_total counter',
      `cosigner_requests_failed_total ${m.failed}`,
      '# HELP cosigner_party_unavailable Parties left out of signing sets because they did not answer (1 while remembered).',
      '# TYPE cosigner_party_unavailable gauge',
      ...[...pool.downParties()].sort().map((p) => `cosigner_party_unavailable{party="${p}"} 1`),
      '# HELP cosigner_signing_set_moves_total Signing sets changed because a party did not answer.',
      '# TYPE cosigner_signing_set_moves_total counter',
      `cosigner_signing_set_moves_total ${m.moves}`,
    ];
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(`${lines.join('\n')}\n`);
  });
  return new Promise((resolve, reject) => srv.once('error', reject).listen(port, host, () => resolve(srv)));
}
