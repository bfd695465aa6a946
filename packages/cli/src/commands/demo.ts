/**
 * `cosigner demo`: the demo transfer against the running system (`cosigner up`), or, when none
 * answers, against one it starts for the occasion and stops afterwards.
 */
import { PairingServiceClient } from '@cosigner/proto';
import { CliError, type Command } from '../command.ts';
import { DEFAULT_DATA_DIR, loadCliConfig } from '../config.ts';
import { demoLines, runDemo } from '../demo.ts';
import { makeClient, waitReady } from '../grpc.ts';
import { startSystem, type RunningSystem } from '../system.ts';

/** Whether a system answers at the configured pairing address (short probe, no waiting). */
async function systemRunning(pairingUrl: string): Promise<boolean> {
  const saved = process.env.COSIGNER_WAIT_MS;
  process.env.COSIGNER_WAIT_MS = '0';
  const c = makeClient(PairingServiceClient, pairingUrl);
  try {
    await waitReady(c, () => {});
    return true;
  } catch {
    return false;
  } finally {
    c.close();
    if (saved === undefined) delete process.env.COSIGNER_WAIT_MS;
    else process.env.COSIGNER_WAIT_MS = saved;
  }
}

const demo: Command = {
  name: ['demo'],
  summary: 'Sign a demo ETH transfer end to end (workspace, API user, pairing, example callback handler, DKG key, transfer); starts the system if none runs',
  usage: '[--data-dir DIR] [--timeout-s N] [--json]',
  options: { 'data-dir': { type: 'string' }, 'timeout-s': { type: 'string' } },
  async run(io) {
    const timeoutS = Number(io.values['timeout-s'] ?? 180);
    if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new CliError('ERR_USAGE', '--timeout-s must be a positive number', 2);
    const dataDir = typeof io.values['data-dir'] === 'string' ? io.values['data-dir'] : (process.env.COSIGNER_DATA_DIR ?? DEFAULT_DATA_DIR);
    let cfg = loadCliConfig({ ...process.env, COSIGNER_DATA_DIR: dataDir });
    let sys: RunningSystem | undefined;
    if (!(await systemRunning(cfg.pairingUrl))) {
      io.info(`demo: no system answers at ${cfg.pairingUrl}; starting one (data in ${dataDir}, logs in ${dataDir}/logs)`);
      sys = await startSystem({ dataDir });
      cfg = sys.config;
    }
    try {
      const res = await Promise.race([runDemo(cfg, (l) => io.info(l), { timeoutMs: timeoutS * 1000 }), io.interrupted.then(() => undefined)]);
      if (!res) return 130;
      io.result(
        { signedTx: res.signedTx, from: res.from, requestId: res.requestId, traceId: res.traceId, status: res.status, reason: res.reason, keyId: res.keyId, apiUserId: res.apiUserId, workspaceId: res.workspaceId, handlerUrl: res.handlerUrl, timings: res.timings },
        demoLines(res),
      );
      return res.status === 'SIGNED' ? 0 : 1;
    } catch (e) {
      throw e instanceof CliError ? e : new CliError('ERR_DEMO', (e as Error).message, 1, { cause: e });
    } finally {
      if (sys) {
        io.info('demo: stopping the system it started');
        await sys.stop();
      }
    }
  },
};

export default demo;
