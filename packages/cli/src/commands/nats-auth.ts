/**
 * `cosigner nats-auth generate`: the closed bus's NATS authorization, generated from the topology
 * declaration (packages/platform/src/nats/topology.ts): the server include (`auth.conf`), one
 * nkey seed per service (mode 0600) and an env file per service with the variables it connects
 * with; `--tls` adds a self-made CA and server certificate and requires TLS. Idempotent: existing
 * seeds and certificates are kept. `cosigner up` runs it into its data dir by itself.
 */
import { SERVICES, generateNatsAuth, type ServiceName } from '@cosigner/platform';
import { CliError, str, type Command } from '../command.ts';

const list = (v: string | undefined): string[] | undefined => v?.split(',').map((s) => s.trim()).filter((s) => s !== '');

const natsAuthGenerate: Command = {
  name: ['nats-auth', 'generate'],
  summary: 'Write the NATS authorization (server include auth.conf, nkeys/<service>.nk, env/<service>.env, tls/ with --tls): {"confFile", "caFile"?, "services"}',
  usage: '--out DIR [--tls] [--tls-hosts h1,h2] [--mount-dir PATH] [--services a,b] [--json]',
  options: {
    out: { type: 'string' },
    tls: { type: 'boolean' },
    'tls-hosts': { type: 'string' },
    'mount-dir': { type: 'string' },
    services: { type: 'string' },
  },
  async run(io) {
    const services = list(str(io, 'services'));
    for (const s of services ?? []) {
      if (!(SERVICES as readonly string[]).includes(s)) throw new CliError('ERR_USAGE', `--services: unknown service ${s} (known: ${SERVICES.join(', ')})`, 2);
    }
    const hosts = list(str(io, 'tls-hosts'));
    const mountDir = str(io, 'mount-dir');
    let r;
    try {
      r = generateNatsAuth({
        outDir: str(io, 'out', true),
        tls: io.values.tls === true,
        ...(hosts ? { tlsHosts: hosts } : {}),
        ...(mountDir ? { mountDir } : {}),
        ...(services ? { services: services as ServiceName[] } : {}),
      });
    } catch (e) {
      throw new CliError('ERR_NATS_AUTH', `cannot generate the NATS authorization: ${(e as Error).message}`, 1, { cause: e });
    }
    const doc = {
      confFile: r.confFile,
      ...(r.caFile ? { caFile: r.caFile } : {}),
      services: Object.fromEntries(Object.entries(r.services).map(([k, v]) => [k, { seedFile: v.seedFile, envFile: v.envFile, env: v.env }])),
    };
    io.result(doc, [`server include  ${r.confFile}`, ...(r.caFile ? [`CA              ${r.caFile}`] : []), ...Object.entries(r.services).map(([k, v]) => `${k.padEnd(20)} ${v.envFile}`)].join('\n'));
  },
};

export default [natsAuthGenerate];
