/** Commands that read NATS directly (the audit stream, the parties' identities) connect here. */
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { CliError } from './command.ts';
import { loadCliConfig } from './config.ts';

/** Runs `f` with a connection to the configured NATS_URL, closed afterwards. */
export async function withNats<T>(f: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const cfg = loadCliConfig();
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: cfg.natsUrl, name: 'cosigner-cli' });
  } catch (e) {
    throw new CliError('ERR_UNAVAILABLE', `cannot connect to NATS at ${cfg.natsUrl}`, 1, { cause: e });
  }
  try {
    return await f(nc);
  } finally {
    await nc.close();
  }
}
