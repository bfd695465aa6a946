/**
 * Where nats-server is. Debian installs it in /usr/sbin, which is not on a non-root user's PATH,
 * so a bare `nats-server` would fail there; NATS_SERVER_BIN overrides.
 */
import { existsSync } from 'node:fs';

export function natsServerBinary(env: Record<string, string | undefined> = process.env): string {
  if (env['NATS_SERVER_BIN']) return env['NATS_SERVER_BIN'];
  for (const p of ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']) {
    if (existsSync(p)) return p;
  }
  return 'nats-server';
}
