/**
 * The workspace's two cloud co-signer parties (cloud-1, cloud-2): thin wrappers over
 * @cosigner/party. Each party is its own process with its own sealed store; run one with
 * `node services/cloud-cosigner-sim/src/parties/main.ts --party cloud-1`.
 */
import { join } from 'node:path';
import { startPartyFromEnv, type PartyProcess } from '@cosigner/party';
import type { Logger } from '@cosigner/platform';

export const CLOUD_PARTIES = { 'cloud-1': 2, 'cloud-2': 3 } as const;
export type CloudPartyId = keyof typeof CLOUD_PARTIES;

/**
 * Start one cloud party in this process. Its store: PARTY_DATA_DIR if set; else COSIGNER_DATA_DIR
 * when the environment is this party's own (PARTY_ID = party, as `cosigner up` starts it); else
 * `$COSIGNER_DATA_DIR/parties/<party>` (both parties started from one shared environment).
 */
export async function startCloudParty(party: CloudPartyId, env: NodeJS.ProcessEnv = process.env, logger?: Logger): Promise<PartyProcess> {
  const base = env.COSIGNER_DATA_DIR ?? join(process.cwd(), '.data');
  const dir = env.PARTY_DATA_DIR ?? (env.PARTY_ID === party ? base : join(base, 'parties', party));
  return startPartyFromEnv({
    env: { ...env, PARTY_ID: party, PARTY_INDEX: String(CLOUD_PARTIES[party]), COSIGNER_DATA_DIR: dir },
    ...(logger ? { log: (level: 'info' | 'warn' | 'error', msg: string, f?: Record<string, unknown>) => logger[level](msg, f) } : {}),
  });
}

/** Both cloud parties in this process (the simulator's `main.ts` may call this). */
export async function startParties(env: NodeJS.ProcessEnv = process.env): Promise<{ stop(): Promise<void> }> {
  const ps = [await startCloudParty('cloud-1', env), await startCloudParty('cloud-2', env)];
  return { async stop() { for (const p of ps) await p.stop(); } };
}
