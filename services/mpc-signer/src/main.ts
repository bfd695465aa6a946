/**
 * Entry of the mpc-signer process (the customer's party), on the platform lifecycle: JSON logs,
 * traces (OTEL_EXPORTER_OTLP_ENDPOINT), the KeyService marked SERVING once ready, and on
 * SIGTERM: NOT_SERVING, in-flight calls and signings finished (each acks), then exit.
 */
import { createLogger, loadConfig, platformSchema, runService } from '@cosigner/platform';
import { startMpcSigner } from './index.ts';

let cfg: ReturnType<typeof loadConfig<typeof platformSchema>>;
try {
  cfg = loadConfig(platformSchema);
} catch (e) {
  process.stderr.write(`mpc-signer: ${(e as Error).message}\n`);
  process.exit(1);
}

const logger = createLogger({ service: 'mpc-signer', level: cfg.logLevel });
runService({
  name: 'mpc-signer',
  logger,
  graceMs: cfg.shutdownGraceMs,
  async start() {
    const h = await startMpcSigner(process.env, { logger });
    return { grpc: h.grpc, drain: () => h.drain(), stop: () => h.stop() };
  },
});
