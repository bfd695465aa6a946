/**
 * Entry of one cloud party process: `node services/cloud-cosigner-sim/src/parties/main.ts --party cloud-1`.
 * On the platform lifecycle: JSON logs, traces (each joined MPC session is a span in the
 * coordinator's trace), a health-only gRPC port on HEALTH_PORT for probes, and on SIGTERM the
 * sessions in flight get a bounded time to finish before the connection is drained.
 */
import { parseArgs } from 'node:util';
import { createLogger, loadConfig, platformSchema, runService } from '@cosigner/platform';
import { CLOUD_PARTIES, startCloudParty, type CloudPartyId } from './index.ts';

const { values } = parseArgs({ options: { party: { type: 'string' } } });
const party = (values.party ?? process.env.PARTY_ID) as CloudPartyId | undefined;
if (!party || !(party in CLOUD_PARTIES)) {
  process.stderr.write('usage: parties/main.ts --party cloud-1|cloud-2\n');
  process.exit(2);
}
let cfg: ReturnType<typeof loadConfig<typeof platformSchema>>;
try {
  cfg = loadConfig(platformSchema);
} catch (e) {
  process.stderr.write(`${party}: ${(e as Error).message}\n`);
  process.exit(1);
}

const logger = createLogger({ service: party, level: cfg.logLevel });
runService({
  name: party,
  logger,
  graceMs: cfg.shutdownGraceMs,
  async start() {
    const p = await startCloudParty(party, process.env, logger);
    logger.info('party ready', { party, index: p.env.index });
    return { stop: () => p.stop() };
  },
});
