/** Entry of one cloud party process: `node services/cloud-cosigner-sim/src/parties/main.ts --party cloud-1`. */
import { parseArgs } from 'node:util';
import { CLOUD_PARTIES, startCloudParty, type CloudPartyId } from './index.ts';

const { values } = parseArgs({ options: { party: { type: 'string' } } });
const party = (values.party ?? process.env.PARTY_ID) as CloudPartyId | undefined;
if (!party || !(party in CLOUD_PARTIES)) {
  process.stderr.write('usage: parties/main.ts --party cloud-1|cloud-2\n');
  process.exit(2);
}
try {
  const p = await startCloudParty(party);
  process.stderr.write(`${JSON.stringify({ level: 'info', party, msg: 'party ready', index: p.env.index })}\n`);
  const stop = async () => {
    await p.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
} catch (e) {
  process.stderr.write(`${JSON.stringify({ level: 'error', party, msg: 'startup failed', code: (e as { code?: string }).code, err: (e as Error).message })}\n`);
  process.exit(1);
}
