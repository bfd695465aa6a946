/**
 * The local system: nats-server and every service as child processes, with generated local
 * secrets. Used by `cosigner up`, the end-to-end tests and the benchmarks.
 *
 * Local secrets (callback RSA key, approval Ed25519 key, sealing keys, admin token) are created
 * once under `<dataDir>/secrets` with mode 0600. They are for a laptop; a deployment mounts its own.
 *
 * The bus is closed: nats-server runs the authorization generated from the platform's topology
 * (`<dataDir>/nats-auth`: one nkey user per service, no anonymous access; `natsTls` adds TLS with
 * a self-made CA) and every service connects as its own user (NATS_NKEY_SEED_FILE,
 * NATS_INBOX_PREFIX, NATS_TLS_CA_FILE); the CLI's credentials go into cli.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, createWriteStream, type WriteStream } from 'node:fs';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { natsServerBinary } from '@cosigner/platform/server-binary';
import { generateNatsAuth, type GeneratedNatsAuth, type ServiceName } from '@cosigner/platform';
import { DEFAULT_PORTS, REPO_ROOT, type CliConfig } from './config.ts';

/** The local system's callback egress allow-list (deployments leave it empty: public addresses only). */
export const LOCAL_CALLBACK_ALLOW = 'loopback';

export interface ServiceSpec {
  /** Display name, e.g. `pairing`. */
  name: string;
  /** Its NATS user on the closed bus (topology.ts). */
  natsUser?: ServiceName;
  /** Script relative to the repo root. */
  script: string;
  args?: string[];
  env: Record<string, string>;
  /** gRPC port to wait for (when the service serves one). */
  port?: number;
}

export interface SystemOptions {
  dataDir: string;
  /** Port offset so several systems can run side by side (tests). */
  ports?: Partial<Record<keyof typeof DEFAULT_PORTS, number>>;
  /** Extra env for every service. */
  env?: Record<string, string>;
  /** Where child output goes: a line callback, or a log file per service when omitted. */
  onLine?: (service: string, line: string) => void;
  /** Dispatcher instances (default 1). */
  dispatchers?: number;
  /** Per-service env overrides. */
  serviceEnv?: Record<string, Record<string, string>>;
  /** The bus: closed (generated authorization, the default), closed with TLS, or open (`false`: no users at all). */
  natsAuth?: boolean | { tls?: boolean };
}

export interface RunningSystem {
  config: CliConfig;
  services: Map<string, ChildProcess>;
  /** Kill one service with a signal (crash tests). */
  kill(name: string, signal?: NodeJS.Signals): Promise<void>;
  /** (Re)start one service by name. */
  restart(name: string): Promise<void>;
  stop(): Promise<void>;
}

interface Secrets {
  adminToken: string;
  callbackKeyFile: string;
  approvalKeyFile: string;
  approvalPublicKeyFile: string;
  sealingKeyFile: (party: string) => string;
}

/** Creates (once) the local secrets. */
export function ensureSecrets(dataDir: string): Secrets {
  const dir = join(dataDir, 'secrets');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const write = (f: string, data: string): void => writeFileSync(join(dir, f), data, { mode: 0o600 });
  if (!existsSync(join(dir, 'admin-token'))) write('admin-token', randomBytes(24).toString('hex'));
  if (!existsSync(join(dir, 'callback.key.pem'))) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    write('callback.key.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    write('callback.pub.pem', publicKey.export({ type: 'spki', format: 'pem' }).toString());
  }
  if (!existsSync(join(dir, 'identity.key.pem'))) {
    // The co-signer's Ed25519 identity (pairing); deployments mount theirs (COSIGNER_IDENTITY_KEY_FILE).
    const { privateKey } = generateKeyPairSync('ed25519');
    write('identity.key.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  }
  if (!existsSync(join(dir, 'approval.key.pem'))) {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    write('approval.key.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    write('approval.pub.pem', publicKey.export({ type: 'spki', format: 'pem' }).toString());
  }
  for (const party of ['customer', 'cloud-1', 'cloud-2']) {
    const f = `sealing-${party}.key`;
    if (!existsSync(join(dir, f))) write(f, randomBytes(32).toString('hex'));
  }
  return {
    adminToken: readFileSync(join(dir, 'admin-token'), 'utf8').trim(),
    callbackKeyFile: join(dir, 'callback.key.pem'),
    approvalKeyFile: join(dir, 'approval.key.pem'),
    approvalPublicKeyFile: join(dir, 'approval.pub.pem'),
    sealingKeyFile: (party) => join(dir, `sealing-${party}.key`),
  };
}

/** How long a service may take to print its ready line. */
export const SERVICE_READY_TIMEOUT_MS = 120_000;

/** A service's "ready" log line: JSON with msg `ready` or ending in ` ready`. */
export function isReadyLine(line: string): boolean {
  if (!line.startsWith('{')) return false;
  try {
    const msg = (JSON.parse(line) as { msg?: unknown }).msg;
    return typeof msg === 'string' && (msg === 'ready' || msg.endsWith(' ready'));
  } catch {
    return false;
  }
}

/** Resolves once `host:port` accepts TCP connections (or rejects after `timeoutMs`). */
export async function waitForPort(port: number, timeoutMs = 30_000, host = '127.0.0.1'): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ port, host }, () => {
        s.end();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`port ${port} not open after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The services of the system, in start order; those whose script does not exist yet are skipped. */
export function serviceSpecs(opts: SystemOptions, secrets: Secrets, cfg: CliConfig, ports: Record<keyof typeof DEFAULT_PORTS, number>, natsAuth?: GeneratedNatsAuth): ServiceSpec[] {
  const trust = JSON.stringify([{ platform: `127.0.0.1:${ports.workspace}`, issuerPrefix: 'cosigner-sim/' }]);
  const common: Record<string, string> = {
    NATS_URL: cfg.natsUrl,
    COSIGNER_ADMIN_TOKEN: secrets.adminToken,
    COSIGNER_TRUST: trust,
    COSIGNER_APPROVAL_PUBLIC_KEY_FILE: secrets.approvalPublicKeyFile,
    INTAKE_URL: `127.0.0.1:${ports.intake}`,
    PAIRING_URL: `127.0.0.1:${ports.pairing}`,
    KEYS_URL: `127.0.0.1:${ports.keys}`,
    WORKSPACE_URL: `127.0.0.1:${ports.workspace}`,
    LOG_FORMAT: 'json',
    ...opts.env,
  };
  const party = (id: string, index: number): Record<string, string> => ({
    // A local system: party identities are trusted on first use (`cosigner up` says so). A
    // deployment configures COSIGNER_PARTY_PINS instead; without them a party refuses to start.
    COSIGNER_DEV_TOFU: '1',
    PARTY_ID: id,
    PARTY_INDEX: String(index),
    COSIGNER_SEALING_KEY_FILE: secrets.sealingKeyFile(id),
    COSIGNER_DATA_DIR: join(opts.dataDir, 'parties', id),
  });
  const specs: ServiceSpec[] = [
    {
      name: 'workspace-sim',
      natsUser: 'workspace-sim',
      script: 'services/cloud-cosigner-sim/src/main.ts',
      env: { ...common, GRPC_PORT: String(ports.workspace), COSIGNER_DATA_DIR: join(opts.dataDir, 'workspace-sim') },
      port: ports.workspace,
    },
    {
      name: 'pairing',
      natsUser: 'pairing',
      script: 'services/pairing/src/main.ts',
      env: {
        ...common,
        GRPC_PORT: String(ports.pairing),
        COSIGNER_CALLBACK_KEY_FILE: secrets.callbackKeyFile,
        COSIGNER_IDENTITY_KEY_FILE: join(opts.dataDir, 'secrets', 'identity.key.pem'),
        COSIGNER_DATA_DIR: join(opts.dataDir, 'pairing'),
      },
      port: ports.pairing,
    },
    {
      name: 'intake',
      natsUser: 'request-intake',
      script: 'services/request-intake/src/main.ts',
      env: { ...common, GRPC_PORT: String(ports.intake) },
      port: ports.intake,
    },
  ];
  for (let i = 1; i <= (opts.dispatchers ?? 1); i++) {
    specs.push({
      name: opts.dispatchers && opts.dispatchers > 1 ? `dispatcher-${i}` : 'dispatcher',
      natsUser: 'callback-dispatcher',
      script: 'services/callback-dispatcher/src/main.ts',
      env: {
        ...common,
        INSTANCE_ID: `dispatcher-${i}`,
        COSIGNER_CALLBACK_KEY_FILE: secrets.callbackKeyFile,
        COSIGNER_APPROVAL_KEY_FILE: secrets.approvalKeyFile,
        CALLBACK_RETRY_INTERVAL_MS: '5000',
        // A laptop demo runs its callback handler on this machine: loopback is allow-listed
        // (`cosigner up` says so), and every port of this system stays refused.
        COSIGNER_CALLBACK_ALLOW: LOCAL_CALLBACK_ALLOW,
        COSIGNER_OWN_LISTENERS: Object.values(ports).map((p) => `*:${p}`).join(','),
      },
    });
  }
  specs.push(
    { name: 'cloud-1', natsUser: 'cloud-1', script: 'services/cloud-cosigner-sim/src/parties/main.ts', env: { ...common, ...party('cloud-1', 2) } },
    { name: 'cloud-2', natsUser: 'cloud-2', script: 'services/cloud-cosigner-sim/src/parties/main.ts', env: { ...common, ...party('cloud-2', 3) } },
    {
      name: 'mpc-signer',
      natsUser: 'mpc-signer',
      script: 'services/mpc-signer/src/main.ts',
      env: { ...common, ...party('customer', 1), GRPC_PORT: String(ports.keys) },
      port: ports.keys,
    },
  );
  return specs
    .filter((s) => existsSync(join(REPO_ROOT, s.script)))
    .map((s) => ({ ...s, env: { ...s.env, ...(natsAuth && s.natsUser ? natsAuth.services[s.natsUser]!.env : {}), ...(opts.serviceEnv?.[s.name] ?? {}) } }));
}

/** Starts nats-server (JetStream, file store under dataDir) and every existing service. */
export async function startSystem(opts: SystemOptions): Promise<RunningSystem> {
  const ports: Record<keyof typeof DEFAULT_PORTS, number> = { ...DEFAULT_PORTS, ...opts.ports };
  mkdirSync(opts.dataDir, { recursive: true });
  const secrets = ensureSecrets(opts.dataDir);
  const authOpts = opts.natsAuth === false ? undefined : opts.natsAuth === undefined || opts.natsAuth === true ? {} : opts.natsAuth;
  const natsAuth = authOpts ? generateNatsAuth({ outDir: join(opts.dataDir, 'nats-auth'), tls: authOpts.tls === true }) : undefined;
  const cli = natsAuth?.services.cli;
  const cfg: CliConfig = {
    pairingUrl: `127.0.0.1:${ports.pairing}`,
    intakeUrl: `127.0.0.1:${ports.intake}`,
    keysUrl: `127.0.0.1:${ports.keys}`,
    workspaceUrl: `127.0.0.1:${ports.workspace}`,
    natsUrl: `nats://127.0.0.1:${ports.nats}`,
    ...(cli ? { natsNkeySeedFile: cli.seedFile, natsInboxPrefix: cli.inboxPrefix } : {}),
    ...(natsAuth?.caFile ? { natsCaFile: natsAuth.caFile } : {}),
    adminToken: secrets.adminToken,
    dataDir: opts.dataDir,
  };
  writeFileSync(join(opts.dataDir, 'cli.json'), JSON.stringify(cfg, null, 2) + '\n', { mode: 0o600 });
  const logs = new Map<string, WriteStream>();
  const sink = (name: string): ((line: string) => void) => {
    if (opts.onLine) return (line) => opts.onLine!(name, line);
    mkdirSync(join(opts.dataDir, 'logs'), { recursive: true });
    let w = logs.get(name);
    if (!w) logs.set(name, (w = createWriteStream(join(opts.dataDir, 'logs', `${name}.log`), { flags: 'a' })));
    return (line) => w.write(line + '\n');
  };
  const children = new Map<string, ChildProcess>();
  /** Services that printed their ready line (`{"msg":"ready"}`, `"... ready"`). */
  const readyWaiters = new Map<string, () => void>();
  const pipe = (name: string, child: ChildProcess): void => {
    const sinkOut = sink(name);
    const out = (line: string): void => {
      if (readyWaiters.has(name) && isReadyLine(line)) {
        readyWaiters.get(name)!();
        readyWaiters.delete(name);
      }
      sinkOut(line);
    };
    for (const stream of [child.stdout, child.stderr]) {
      let buf = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (d: string) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          out(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
    }
  };

  // nats-server with JetStream and a file store that survives restarts.
  const natsStore = join(opts.dataDir, 'nats');
  mkdirSync(natsStore, { recursive: true });
  const startNats = (): ChildProcess => {
    const args = [...(natsAuth ? ['-c', natsAuth.confFile] : []), '-js', '-a', '127.0.0.1', '-p', String(ports.nats), '-sd', natsStore];
    const c = spawn(natsServerBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    pipe('nats', c);
    return c;
  };
  children.set('nats', startNats());
  await waitForPort(ports.nats);

  const specs = serviceSpecs(opts, secrets, cfg, ports, natsAuth);
  const startOne = async (s: ServiceSpec): Promise<void> => {
    const c = spawn(process.execPath, [join(REPO_ROOT, s.script), ...(s.args ?? [])], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...s.env, SERVICE_NAME: s.name },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const ready = new Promise<void>((resolve) => readyWaiters.set(s.name, resolve));
    pipe(s.name, c);
    children.set(s.name, c);
    // Ready means its ready line was printed (it subscribed, provisioned, published its identity)
    // and, for a gRPC service, that its port accepts connections.
    const exited = new Promise<never>((_, rej) => c.once('exit', (code) => rej(new Error(`${s.name} exited (${code}) before it was ready`))));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`${s.name} not ready after ${SERVICE_READY_TIMEOUT_MS} ms`)), SERVICE_READY_TIMEOUT_MS);
    });
    try {
      await Promise.race([Promise.all([ready, s.port !== undefined ? waitForPort(s.port, SERVICE_READY_TIMEOUT_MS) : undefined]), exited, timeout]);
    } finally {
      clearTimeout(timer);
      readyWaiters.delete(s.name);
    }
  };
  try {
    for (const s of specs) await startOne(s);
  } catch (e) {
    for (const c of children.values()) c.kill('SIGKILL');
    throw e;
  }

  const waitExit = (c: ChildProcess, ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      const t = setTimeout(() => {
        c.kill('SIGKILL');
      }, ms);
      c.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });

  return {
    config: cfg,
    services: children,
    async kill(name, signal = 'SIGKILL') {
      const c = children.get(name);
      if (!c) throw new Error(`no service ${name}`);
      c.kill(signal);
      await waitExit(c, 10_000);
    },
    async restart(name) {
      const old = children.get(name);
      if (old && old.exitCode === null && old.signalCode === null) {
        old.kill('SIGTERM');
        await waitExit(old, 10_000);
      }
      if (name === 'nats') {
        children.set('nats', startNats());
        await waitForPort(ports.nats);
        return;
      }
      const s = specs.find((x) => x.name === name);
      if (!s) throw new Error(`no service ${name}`);
      await startOne(s);
    },
    async stop() {
      // Services first (they drain), then NATS.
      const svc = [...children.entries()].filter(([n]) => n !== 'nats').map(([, c]) => c);
      for (const c of svc) c.kill('SIGTERM');
      await Promise.all(svc.map((c) => waitExit(c, 15_000)));
      const n = children.get('nats');
      if (n) {
        n.kill('SIGTERM');
        await waitExit(n, 10_000);
      }
      for (const w of logs.values()) w.end();
    },
  };
}
