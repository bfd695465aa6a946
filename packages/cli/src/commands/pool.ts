/** `cosigner pool status`: presignature pool depth per key. */
import { KeyServiceClient, type PoolStatusResponse } from '@cosigner/proto';
import { str, type Command } from '../command.ts';
import { loadCliConfig } from '../config.ts';
import { makeClient, unary } from '../grpc.ts';

const status: Command = {
  name: ['pool', 'status'],
  summary: 'Presignature pool depth per ECDSA key (ready, target, in flight, consumed)',
  usage: '[--key ID] [--json]',
  options: { key: { type: 'string' } },
  async run(io) {
    const cfg = loadCliConfig();
    const client = makeClient(KeyServiceClient, cfg.keysUrl);
    try {
      const r = await unary<unknown, PoolStatusResponse>(client, 'getPoolStatus', { keyId: str(io, 'key') ?? '' }, { token: cfg.adminToken });
      const pools = r.pools.map((p) => ({ keyId: p.keyId, ready: p.ready, target: p.target, inFlight: p.inFlight, consumed: Number(p.consumed) }));
      io.result({ pools }, pools.map((p) => `${p.keyId}  ready ${p.ready}/${p.target}  in flight ${p.inFlight}  consumed ${p.consumed}`).join('\n') || '(no ECDSA keys)');
    } finally {
      client.close();
    }
  },
};

export default status;
