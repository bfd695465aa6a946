/**
 * Commands that read NATS directly (the audit stream, the parties' identities) connect here,
 * through the platform's one connection helper, as the CLI's own NATS user on the closed bus
 * (its nkey seed, inbox prefix and CA from cli.json or NATS_NKEY_SEED_FILE / NATS_INBOX_PREFIX /
 * NATS_TLS_CA_FILE).
 */
import type { NatsConnection } from '@nats-io/nats-core';
import { connectNats, type NatsConnectOptions } from '@cosigner/platform';
import { CliError } from './command.ts';
import { loadCliConfig, type CliConfig } from './config.ts';

/** Connect options of the CLI's NATS user. */
export function cliNatsOptions(cfg: CliConfig): NatsConnectOptions {
  return {
    servers: cfg.natsUrl.split(','),
    name: 'cosigner-cli',
    ...(cfg.natsNkeySeedFile ? { nkeySeedFile: cfg.natsNkeySeedFile } : {}),
    ...(cfg.natsInboxPrefix ? { inboxPrefix: cfg.natsInboxPrefix } : {}),
    ...(cfg.natsCaFile ? { tls: { caFile: cfg.natsCaFile } } : {}),
  };
}

/** A connection to the configured NATS_URL; the caller closes it. */
export async function openNats(): Promise<NatsConnection> {
  const cfg = loadCliConfig();
  try {
    return await connectNats(cliNatsOptions(cfg));
  } catch (e) {
    throw new CliError('ERR_UNAVAILABLE', `cannot connect to NATS at ${cfg.natsUrl}: ${(e as Error).message}`, 1, { cause: e });
  }
}

/** Runs `f` with a connection to the configured NATS_URL, closed afterwards. */
export async function withNats<T>(f: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const nc = await openNats();
  try {
    return await f(nc);
  } finally {
    await nc.close();
  }
}
