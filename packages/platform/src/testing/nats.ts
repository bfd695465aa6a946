/**
 * A real nats-server for tests (nats.js `nst/src/launcher.ts` habit): random port, temporary
 * JetStream file store, always torn down, `restart()` on the same port and store for crash tests.
 *
 * `$NATS_URL` set: the tests use that server instead. Then `stop()` is a no-op, `restart()` and
 * `kill()` throw (crash tests should skip when `external` is true), and streams are NOT cleaned
 * between tests: use unique stream/bucket names per test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './port.ts';
import { natsServerBinary } from '../nats/server-binary.ts';
import { generateNatsAuth, type GeneratedNatsAuth } from '../nats/auth.ts';
import type { NatsConnectOptions } from '../nats/connect.ts';
import type { ServiceName } from '../nats/topology.ts';

export const DEFAULT_NATS_START_TIMEOUT_MS = 15_000;

export interface StartNatsOptions {
  jetstream?: boolean;
  /** Store directory; default a fresh temp dir (removed on stop unless `keepStore`). */
  storeDir?: string;
  keepStore?: boolean;
  /** Extra nats-server arguments. */
  args?: string[];
  /** Ignore `$NATS_URL` and always spawn. */
  ignoreEnv?: boolean;
  env?: Record<string, string | undefined>;
  /**
   * The closed bus: the authorization generated from the topology (one nkey user per service, no
   * anonymous access), as `cosigner up` runs it; `tls` also a self-made CA and TLS required.
   * Default: an open server (unit tests of one component). Always spawns (ignores `$NATS_URL`).
   */
  auth?: boolean | { tls?: boolean };
}

export interface NatsServerHandle {
  url: string;
  port: number;
  /** HTTP monitoring port (0 for an external server). */
  monitorPort: number;
  storeDir: string;
  /** True when `$NATS_URL` pointed at an existing server. */
  external: boolean;
  /** Graceful stop; removes the temp store unless kept. Idempotent. */
  stop(): Promise<void>;
  /** Graceful stop then start again on the same port and store dir. */
  restart(): Promise<void>;
  /** SIGKILL the server (a crash); `restart()` brings it back. */
  kill(): Promise<void>;
  /** With `auth`: the generated directory (seeds, env files, CA). */
  auth?: GeneratedNatsAuth;
  /** With `auth`: connect options as `service` (its seed, inbox prefix, CA); without: the URL only. */
  as(service: ServiceName, name?: string): NatsConnectOptions;
  /** With `auth`: the environment a service process gets (NATS_URL + its env file's variables). */
  envAs(service: ServiceName): Record<string, string>;
}

export { natsServerBinary };

const live = new Set<ChildProcess>();
let hooked = false;

async function waitHealthy(port: number, monitorPort: number, proc: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + DEFAULT_NATS_START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`nats-server exited early:\n${log()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz`);
      if (res.ok && (await acceptsClients(port))) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nats-server did not become healthy on ${port}:\n${log()}`);
}

function acceptsClients(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    const done = (ok: boolean) => { s.destroy(); resolve(ok); };
    s.setTimeout(1000, () => done(false));
    s.once('error', () => done(false));
    s.once('data', (d) => done(d.toString().startsWith('INFO ')));
  });
}

function waitExit(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((r) => p.once('exit', () => r()));
}

export async function startNats(o: StartNatsOptions = {}): Promise<NatsServerHandle> {
  const env = o.env ?? process.env;
  const ext = env['NATS_URL'];
  if (ext && !o.ignoreEnv && !o.auth) {
    const u = new URL(ext);
    const fail = async () => { throw new Error('restart/kill need a spawned nats-server; unset NATS_URL'); };
    return {
      url: ext, port: Number(u.port || 4222), monitorPort: 0, storeDir: '', external: true,
      stop: async () => undefined, restart: fail, kill: fail,
      as: (_s, name) => ({ servers: ext, name: name ?? 'test' }), envAs: () => ({ NATS_URL: ext }),
    };
  }
  if (!hooked) {
    hooked = true;
    process.on('exit', () => { for (const p of live) p.kill('SIGKILL'); });
  }
  const port = await freePort();
  const monitorPort = await freePort();
  const ownStore = o.storeDir === undefined;
  const storeDir = o.storeDir ?? (await mkdtemp(join(tmpdir(), 'cosigner-nats-')));
  let proc: ChildProcess | undefined;
  let output = '';
  const authOpts = o.auth === undefined || o.auth === false ? undefined : o.auth === true ? {} : o.auth;
  const auth = authOpts ? generateNatsAuth({ outDir: join(storeDir, 'auth'), tls: authOpts.tls === true }) : undefined;

  const spawnServer = async (): Promise<void> => {
    const args = [...(auth ? ['-c', auth.confFile] : []), '-a', '127.0.0.1', '-p', String(port), '-m', String(monitorPort)];
    if (o.jetstream !== false) args.push('-js', '-sd', storeDir);
    args.push(...(o.args ?? []));
    output = '';
    const p = spawn(natsServerBinary(env), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
    p.stderr!.on('data', (d: Buffer) => { output = (output + d.toString()).slice(-20_000); });
    live.add(p);
    p.once('exit', () => live.delete(p));
    proc = p;
    try {
      await waitHealthy(port, monitorPort, p, () => output);
    } catch (err) {
      p.kill('SIGKILL');
      await waitExit(p);
      throw err;
    }
  };
  const stopServer = async (sig: NodeJS.Signals): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (!p) return;
    p.kill(sig);
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await waitExit(p);
    clearTimeout(t);
  };

  await spawnServer();
  let stopped = false;
  const url = `nats://127.0.0.1:${port}`;
  return {
    url,
    ...(auth ? { auth } : {}),
    as(service, name) {
      if (!auth) return { servers: url, name: name ?? service };
      const a = auth.services[service];
      if (!a) throw new Error(`no NATS user for ${service}`);
      return {
        servers: url, name: name ?? service, nkeySeedFile: a.seedFile, inboxPrefix: a.inboxPrefix,
        ...(auth.caFile ? { tls: { caFile: auth.caFile } } : {}),
      };
    },
    envAs(service) {
      if (!auth) return { NATS_URL: url };
      const a = auth.services[service];
      if (!a) throw new Error(`no NATS user for ${service}`);
      return { NATS_URL: url, ...a.env };
    },
    port,
    monitorPort,
    storeDir,
    external: false,
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopServer('SIGTERM');
      if (ownStore && !o.keepStore) await rm(storeDir, { recursive: true, force: true });
    },
    async restart() {
      await stopServer('SIGTERM');
      await spawnServer();
    },
    async kill() {
      await stopServer('SIGKILL');
    },
  };
}
