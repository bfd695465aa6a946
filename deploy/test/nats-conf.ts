/** A NATS configuration checked by the machine's nats-server. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nkeys } from '@nats-io/nats-core';
import { natsServerBinary } from '@cosigner/platform';
import { run, type Run } from './tools.ts';

/**
 * `nats-server -t`: parses the file, loads the certificates and the included authorization. The
 * machine's nats-server may be older than the 2.10+ the deployments run; `sync_interval` is then
 * removed first (only that key: 2.9 does not know it) and the rest is still checked.
 */
export function checkNatsConf(conf: string, dir: string, env: Record<string, string> = {}): Run {
  const bin = natsServerBinary();
  const version = /v?(\d+)\.(\d+)/.exec(run(bin, ['--version']).stdout) ?? ['', '0', '0'];
  const old = Number(version[1]) < 2 || (Number(version[1]) === 2 && Number(version[2]) < 10);
  const text = old ? conf.replace(/^\s*sync_interval: always\s*$/m, '') : conf;
  const file = join(dir, 'nats.conf');
  writeFileSync(file, text);
  return run(bin, ['-t', '-c', file], { env: { ...process.env, ...env } as Record<string, string> });
}


/**
 * The service whose user in a generated auth.conf has the public key of `seed` (the generator
 * writes `# <service>` above each user), or undefined.
 */
export function nkeyUserOf(authConf: string, seed: string): string | undefined {
  const pub = nkeys.fromSeed(new TextEncoder().encode(seed.trim())).getPublicKey();
  const m = new RegExp(`# ([\\w-]+)\\n\\s*\\{ nkey: "${pub}"`).exec(authConf);
  return m?.[1];
}
