/**
 * Where the CLI finds the services and how it authenticates. Read once per command from
 * `$COSIGNER_CONFIG` (default: `<repo>/.data/cli.json`, written by `cosigner up`), then
 * environment overrides. Admin calls carry `authorization: Bearer <adminToken>`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Default ports of the local system (`cosigner up`). */
export const DEFAULT_PORTS = {
  pairing: 50051,
  intake: 50052,
  keys: 50053,
  workspace: 50054,
  nats: 4222,
} as const;

export interface CliConfig {
  /** host:port of each gRPC service. */
  pairingUrl: string;
  intakeUrl: string;
  keysUrl: string;
  workspaceUrl: string;
  natsUrl: string;
  /** The CLI's NATS credentials on the closed bus (`cosigner up` writes them; NATS_* env overrides). */
  natsNkeySeedFile?: string;
  natsInboxPrefix?: string;
  natsCaFile?: string;
  /** Bearer token for admin APIs (pairing, keys, workspace simulator). */
  adminToken: string;
  /** Directory of the local system's data (secrets, stores). */
  dataDir: string;
}

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const DEFAULT_DATA_DIR = join(REPO_ROOT, '.data');

function optional<K extends string>(k: K, v: string | undefined): Partial<Record<K, string>> {
  return v ? ({ [k]: v } as Record<K, string>) : {};
}

/** Where the CLI's configuration file is (`cosigner up` writes it). */
export function cliConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.COSIGNER_CONFIG ?? join(env.COSIGNER_DATA_DIR ?? DEFAULT_DATA_DIR, 'cli.json');
}

/**
 * Waits (bounded by `COSIGNER_WAIT_MS`, default 60 s) for the configuration file of a system that
 * is still starting, unless the environment gives the credentials itself; a command issued right
 * after `cosigner up` starts would otherwise run without them.
 */
export async function awaitCliConfig(log: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (env.COSIGNER_ADMIN_TOKEN) return;
  const file = cliConfigPath(env);
  if (existsSync(file)) return;
  const budget = Number(env.COSIGNER_WAIT_MS ?? 60_000);
  const until = Date.now() + (Number.isFinite(budget) && budget >= 0 ? budget : 60_000);
  let said = false;
  while (!existsSync(file) && Date.now() < until) {
    if (!said) log(`waiting for ${file} (written by \`npx cosigner up\` as it starts) ...`);
    said = true;
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function loadCliConfig(env: NodeJS.ProcessEnv = process.env): CliConfig {
  const dataDir = env.COSIGNER_DATA_DIR ?? DEFAULT_DATA_DIR;
  const file = cliConfigPath(env);
  let fromFile: Partial<CliConfig> = {};
  if (existsSync(file)) fromFile = JSON.parse(readFileSync(file, 'utf8')) as Partial<CliConfig>;
  return {
    pairingUrl: env.COSIGNER_PAIRING_URL ?? fromFile.pairingUrl ?? `127.0.0.1:${DEFAULT_PORTS.pairing}`,
    intakeUrl: env.COSIGNER_INTAKE_URL ?? fromFile.intakeUrl ?? `127.0.0.1:${DEFAULT_PORTS.intake}`,
    keysUrl: env.COSIGNER_KEYS_URL ?? fromFile.keysUrl ?? `127.0.0.1:${DEFAULT_PORTS.keys}`,
    workspaceUrl: env.COSIGNER_WORKSPACE_URL ?? fromFile.workspaceUrl ?? `127.0.0.1:${DEFAULT_PORTS.workspace}`,
    natsUrl: env.NATS_URL ?? fromFile.natsUrl ?? `nats://127.0.0.1:${DEFAULT_PORTS.nats}`,
    ...optional('natsNkeySeedFile', env.NATS_NKEY_SEED_FILE ?? fromFile.natsNkeySeedFile),
    ...optional('natsInboxPrefix', env.NATS_INBOX_PREFIX ?? fromFile.natsInboxPrefix),
    ...optional('natsCaFile', env.NATS_TLS_CA_FILE ?? fromFile.natsCaFile),
    adminToken: env.COSIGNER_ADMIN_TOKEN ?? fromFile.adminToken ?? '',
    dataDir,
  };
}
