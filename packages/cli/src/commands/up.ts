/** `cosigner up`: nats-server and every service, readable logs, Ctrl-C stops them all. */
import { join } from 'node:path';
import { CliError, type Command } from '../command.ts';
import { DEFAULT_DATA_DIR } from '../config.ts';
import { LOCAL_CALLBACK_ALLOW, startSystem } from '../system.ts';
import { demoLines, runDemo } from '../demo.ts';

const COLORS = [36, 32, 35, 33, 34, 91, 92, 96, 95];

/** One readable line from a service's output (JSON log lines are flattened). */
export function formatLine(service: string, line: string, color: number | undefined): string {
  let text = line;
  if (line.startsWith('{')) {
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      const { ts, level, msg, service: _s, time: _t, ...rest } = o;
      const t = typeof ts === 'string' ? ts.slice(11, 23) : new Date().toISOString().slice(11, 23);
      const fields = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      text = `${t} ${String(level ?? 'info').padEnd(5)} ${String(msg ?? '')}${fields ? ' ' + fields : ''}`;
    } catch {
      /* not JSON after all */
    }
  }
  const tag = service.padEnd(14);
  return color !== undefined && process.stderr.isTTY ? `\x1b[${color}m${tag}\x1b[0m ${text}` : `${tag} ${text}`;
}

const up: Command = {
  name: ['up'],
  summary: 'Start nats-server and every service locally (Ctrl-C stops them); --demo signs a demo transfer',
  usage: '[--demo] [--exit] [--data-dir DIR] [--dispatchers N] [--port-base N] [--nats-tls] [--quiet]',
  options: {
    demo: { type: 'boolean' },
    exit: { type: 'boolean' },
    'data-dir': { type: 'string' },
    dispatchers: { type: 'string' },
    quiet: { type: 'boolean' },
    'port-base': { type: 'string' },
    /** TLS on the bus too (a self-made CA under <data dir>/nats-auth/tls); the bus is closed either way. */
    'nats-tls': { type: 'boolean' },
  },
  async run(io) {
    const dataDir = typeof io.values['data-dir'] === 'string' ? io.values['data-dir'] : (process.env.COSIGNER_DATA_DIR ?? DEFAULT_DATA_DIR);
    const colors = new Map<string, number>();
    const quiet = io.values.quiet === true;
    const base = io.values['port-base'];
    let ports: Parameters<typeof startSystem>[0]['ports'];
    if (typeof base === 'string') {
      const b = Number(base);
      if (!Number.isInteger(b) || b < 1024 || b > 65530) throw new CliError('ERR_USAGE', '--port-base must be a port number (1024-65530); the system uses it and the next four', 2);
      // pairing, intake, keys, workspace, NATS: the same order as the defaults (50051.. and 4222).
      ports = { pairing: b, intake: b + 1, keys: b + 2, workspace: b + 3, nats: b + 4 };
    }
    const sys = await startSystem({
      dataDir,
      ports,
      dispatchers: Number(io.values.dispatchers ?? 1),
      natsAuth: { tls: io.values['nats-tls'] === true },
      onLine: (svc, line) => {
        if (quiet) return;
        if (!colors.has(svc)) colors.set(svc, COLORS[colors.size % COLORS.length]!);
        process.stderr.write(formatLine(svc, line, colors.get(svc)) + '\n');
      },
    });
    io.info(`up: the bus is closed: one NATS user per service (${join(dataDir, 'nats-auth')}), no anonymous access${io.values['nats-tls'] === true ? ', TLS' : ''}`);
    io.info(`up: callbacks to ${LOCAL_CALLBACK_ALLOW} addresses are allowed for this local system (COSIGNER_CALLBACK_ALLOW=${LOCAL_CALLBACK_ALLOW}); its own ports are not`);
    io.info('up: local development mode: party identities are trusted on first use (COSIGNER_DEV_TOFU=1); a deployment pins them (COSIGNER_PARTY_PINS)');
    // The one line a script (or a person) waits for: every service is ready.
    io.info(
      `up: ready: ${[...sys.services.keys()].join(', ')}; pairing ${sys.config.pairingUrl}, intake ${sys.config.intakeUrl}, keys ${sys.config.keysUrl}, ` +
        `workspace ${sys.config.workspaceUrl}, NATS ${sys.config.natsUrl}; data in ${dataDir}; CLI config ${join(dataDir, 'cli.json')}`,
    );
    let code = 0;
    try {
      if (io.values.demo === true) {
        const demo = runDemo(sys.config, (l) => io.info(l));
        const res = await Promise.race([demo, io.interrupted.then(() => undefined)]);
        if (res) {
          io.result(res, demoLines(res));
          if (res.status !== 'SIGNED') code = 1;
        }
      }
      if (io.values.exit !== true) {
        io.info('up: press Ctrl-C to stop');
        await io.interrupted;
      }
    } catch (e) {
      throw e instanceof CliError ? e : new CliError('ERR_DEMO', (e as Error).message, 1, { cause: e });
    } finally {
      io.info('up: stopping');
      await sys.stop();
    }
    return code;
  },
};

export default up;
