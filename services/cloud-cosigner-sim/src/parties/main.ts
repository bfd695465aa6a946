/** Entry of one cloud party process: `node services/cloud-cosigner-sim/src/parties/main.ts --party cloud-1`. */
import { parseArgs } from 'node:util';
import { createServer } from '@cosigner/platform';
import { CLOUD_PARTIES, startCloudParty, type CloudPartyId } from './index.ts';

const { values } = parseArgs({ options: { party: { type: 'string' } } });
const party = (values.party ?? process.env.PARTY_ID) as CloudPartyId | undefined;
if (!party || !(party in CLOUD_PARTIES)) {
  process.stderr.write('usage: parties/main.ts --party cloud-1|cloud-2\n');
  process.exit(2);
}
try {
  const p = await startCloudParty(party);
  // A health-only gRPC port for orchestrators' probes (the party serves no API of its own).
  const health = process.env.HEALTH_PORT
    ? await createServer({ services: [], port: Number(process.env.HEALTH_PORT), host: process.env.GRPC_HOST ?? '0.0.0.0' })
    : undefined;
  health?.setServing();
  process.stderr.write(`${JSON.stringify({ level: 'info', party, msg: 'party ready', index: p.env.index })}\n`);
  const stop = async () => {
    await health?.stop(1000);
    await p.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
} catch (e) {
  process.stderr.write(`${JSON.stringify({ level: 'error', party, msg: 'startup failed', code: (e as { code?: string }).code, err: (e as Error).message })}\n`);
  process.exit(1);
}
