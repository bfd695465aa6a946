/** Entry of the mpc-signer process (the customer's party). */
import { startMpcSigner } from './index.ts';

try {
  const h = await startMpcSigner();
  const stop = async () => {
    await h.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
} catch (e) {
  process.stderr.write(`${JSON.stringify({ level: 'error', service: 'mpc-signer', msg: 'startup failed', code: (e as { code?: string }).code, err: (e as Error).message })}\n`);
  process.exit(1);
}
