/**
 * Development secrets for `docker compose up` (the one-shot `init` service) and the Kubernetes
 * `dev` overlay: one directory per workload holding only what that workload needs, created on the
 * first run and left as they are on later runs (a key is never replaced behind a running system).
 *
 *   node deploy/init/generate.ts --out DIR [--namespace cosigner] [--owner 1000:1000]
 *
 * Layout (each top-level directory becomes one compose volume / one Kubernetes Secret):
 *   admin/         COSIGNER_ADMIN_TOKEN and nats.nk (the operator's copies, for the CLI)
 *   public/        approval.pub.pem, ca.pem (public halves every workload may read)
 *   ca/            the development CA (its key never leaves this directory)
 *   nats/          server.pem, server.key, ca.pem, auth.conf (the generated authorization)
 *   pairing/       callback.key.pem, identity.key.pem, env/COSIGNER_ADMIN_TOKEN, nats.nk
 *   intake/        env/COSIGNER_ADMIN_TOKEN, nats.nk
 *   dispatcher/    callback.key.pem, approval.key.pem, nats.nk
 *   mpc-signer/    sealing.key, env/COSIGNER_ADMIN_TOKEN, nats.nk
 *   cloud-1/, cloud-2/  sealing.key, nats.nk
 *   workspace-sim/ env/COSIGNER_ADMIN_TOKEN, nats.nk
 * (nats.nk: the workload's NATS nkey seed, NATS_NKEY_SEED_FILE; admin/nats.nk is the CLI's.)
 * Files under `env/` are exported as environment variables by deploy/docker-entrypoint.sh.
 *
 * These are development secrets (software sealing keys on a volume, a self-signed CA); a
 * production install brings its own (see deploy/README.md).
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateNatsAuth, inboxPrefix, type ServiceName } from '@cosigner/platform';

/** Workloads that get a directory (and so a volume / Secret) of their own. */
export const WORKLOADS = ['pairing', 'intake', 'dispatcher', 'mpc-signer', 'cloud-1', 'cloud-2', 'workspace-sim'] as const;
export type Workload = (typeof WORKLOADS)[number];

/**
 * Each workload's NATS user (packages/platform/src/nats/topology.ts SERVICES); `admin` is the
 * operator's CLI (audit verify, parties list).
 */
export const NATS_USER: Record<Workload | 'admin', ServiceName> = {
  pairing: 'pairing', intake: 'request-intake', dispatcher: 'callback-dispatcher', 'mpc-signer': 'mpc-signer',
  'cloud-1': 'cloud-1', 'cloud-2': 'cloud-2', 'workspace-sim': 'workspace-sim', admin: 'cli',
};

/** NATS_INBOX_PREFIX of a workload: its user may subscribe to replies under this prefix only. */
export function natsInboxPrefix(workload: Workload): string {
  return inboxPrefix(NATS_USER[workload]);
}

/** Which workloads accept the admin token (their admin gRPC APIs). */
const ADMIN_TOKEN_HOLDERS: readonly Workload[] = ['pairing', 'intake', 'mpc-signer', 'workspace-sim'];

export interface GenerateOptions {
  out: string;
  /** Kubernetes namespace, for the NATS certificate's names. */
  namespace?: string;
  /** uid:gid to own the files (compose runs the services as the image's `node` user, 1000). */
  owner?: { uid: number; gid: number };
  log?: (line: string) => void;
}

export interface Generated {
  /** Files written by this run (relative to out); empty on a later run. */
  created: string[];
  adminToken: string;
}

/**
 * Creates what is missing under `o.out` and returns what it made. Safe to run on every start:
 * existing files are kept byte for byte.
 */
export function generate(o: GenerateOptions): Generated {
  const created: string[] = [];
  const ns = o.namespace ?? 'cosigner';
  const path = (...p: string[]): string => join(o.out, ...p);
  const put = (rel: string, data: string | Buffer, mode = 0o400): void => {
    const f = path(rel);
    if (existsSync(f)) return;
    mkdirSync(join(f, '..'), { recursive: true, mode: 0o700 });
    writeFileSync(f, data, { mode });
    created.push(rel);
  };
  mkdirSync(o.out, { recursive: true, mode: 0o700 });

  put('admin/COSIGNER_ADMIN_TOKEN', randomBytes(24).toString('hex'));
  const adminToken = readFileSync(path('admin/COSIGNER_ADMIN_TOKEN'), 'utf8').trim();
  for (const w of ADMIN_TOKEN_HOLDERS) put(`${w}/env/COSIGNER_ADMIN_TOKEN`, adminToken);

  // The co-signer's callback-signing RSA key (JWTs to handlers): the dispatcher signs, pairing
  // prints its public half. One key, two copies: each workload's directory stands alone.
  if (!existsSync(path('dispatcher/callback.key.pem'))) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    put('dispatcher/callback.key.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }));
  }
  put('pairing/callback.key.pem', readFileSync(path('dispatcher/callback.key.pem')));
  // The dispatcher's Ed25519 approval key; its public half for every signing party.
  if (!existsSync(path('dispatcher/approval.key.pem'))) {
    const { privateKey } = generateKeyPairSync('ed25519');
    put('dispatcher/approval.key.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }));
  }
  put('public/approval.pub.pem', createPublicKey(createPrivateKey(readFileSync(path('dispatcher/approval.key.pem')))).export({ type: 'spki', format: 'pem' }));
  // The co-signer's Ed25519 identity (pairing).
  if (!existsSync(path('pairing/identity.key.pem'))) {
    const { privateKey } = generateKeyPairSync('ed25519');
    put('pairing/identity.key.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }));
  }
  // Each party's sealing key (software enclave): 32 random bytes, hex.
  for (const w of ['mpc-signer', 'cloud-1', 'cloud-2'] as const) put(`${w}/sealing.key`, randomBytes(32).toString('hex'));

  // TLS for the bus: a development CA and one server certificate for every name a client or a
  // cluster route uses (compose `nats`, the Kubernetes Services and the StatefulSet's pod names).
  // The CA's private key stays in ca/, which only this generator mounts.
  if (!existsSync(path('ca/ca.key'))) {
    mkdirSync(path('ca'), { recursive: true, mode: 0o700 });
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path('ca/ca.key'),
      '-out', path('ca/ca.pem'), '-days', '3650', '-subj', '/CN=cosigner dev CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    chmodSync(path('ca/ca.key'), 0o400);
    created.push('ca/ca.key', 'ca/ca.pem');
  }
  put('nats/ca.pem', readFileSync(path('ca/ca.pem')));
  if (!existsSync(path('nats/server.pem'))) {
    // The routes dial nats-N.nats-headless: named one by one (OpenSSL-based verifiers refuse a
    // wildcard over a one-label parent such as *.nats-headless), wildcards for a larger cluster.
    const pods = [0, 1, 2].flatMap((i) => [`nats-${i}.nats-headless`, `nats-${i}.nats-headless.${ns}.svc`, `nats-${i}.nats-headless.${ns}.svc.cluster.local`]);
    const names = ['nats', 'localhost', `nats.${ns}`, `nats.${ns}.svc`, `nats.${ns}.svc.cluster.local`, 'nats-headless', ...pods,
      `*.nats-headless.${ns}`, `*.nats-headless.${ns}.svc`, `*.nats-headless.${ns}.svc.cluster.local`];
    mkdirSync(path('nats'), { recursive: true, mode: 0o700 });
    const ext = path('ca/server.ext');
    writeFileSync(ext, [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyAgreement',
      // serverAuth for clients, clientAuth for the routes between cluster nodes (mutual TLS there).
      'extendedKeyUsage=serverAuth,clientAuth',
      `subjectAltName=${[...names.map((n) => `DNS:${n}`), 'IP:127.0.0.1'].join(',')}`,
    ].join('\n'));
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path('nats/server.key'),
      '-out', path('ca/server.csr'), '-subj', '/CN=nats']);
    openssl(['x509', '-req', '-in', path('ca/server.csr'), '-CA', path('ca/ca.pem'), '-CAkey', path('ca/ca.key'),
      '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-out', path('nats/server.pem'), '-days', '825', '-extfile', ext]);
    chmodSync(path('nats/server.key'), 0o400);
    rmSync(path('ca/server.csr'));
    rmSync(ext);
    created.push('nats/server.key', 'nats/server.pem');
  }
  put('public/ca.pem', readFileSync(path('ca/ca.pem')));

  // The bus's authorization: one nkey user per service with exactly its allow-lists, from the
  // platform's topology declaration (the generator behind `cosigner nats-auth generate`). Its
  // output (every seed) stays in ca/, which only this generator mounts; each workload gets its
  // own seed, NATS the server include (public keys only). Seeds are kept across runs; the
  // include is rewritten when the topology of a newer image differs.
  const auth = generateNatsAuth({ outDir: path('ca', 'nats-auth') });
  for (const [workload, service] of Object.entries(NATS_USER)) {
    put(`${workload}/nats.nk`, readFileSync(auth.services[service]!.seedFile));
  }
  const conf = readFileSync(auth.confFile);
  if (!existsSync(path('nats/auth.conf')) || !readFileSync(path('nats/auth.conf')).equals(conf)) {
    if (existsSync(path('nats/auth.conf'))) rmSync(path('nats/auth.conf'));
    writeFileSync(path('nats/auth.conf'), conf, { mode: 0o444 });
    created.push('nats/auth.conf');
  }

  if (o.owner) chownTree(o.out, o.owner);
  for (const f of created) o.log?.(`created ${f}`);
  return { created, adminToken };
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function chownTree(dir: string, owner: { uid: number; gid: number }): void {
  chownSync(dir, owner.uid, owner.gid);
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) chownTree(p, owner);
    else chownSync(p, owner.uid, owner.gid);
  }
}

/** Copies a file if the target is absent (used to hand a generated credential to a workload). */
export function copyIfAbsent(from: string, to: string): boolean {
  if (existsSync(to)) return false;
  mkdirSync(join(to, '..'), { recursive: true, mode: 0o700 });
  copyFileSync(from, to);
  return true;
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { out: { type: 'string' }, namespace: { type: 'string' }, owner: { type: 'string' }, 'print-token': { type: 'boolean' } } });
  if (!values.out) {
    process.stderr.write('usage: generate.ts --out DIR [--namespace NS] [--owner UID:GID] [--print-token]\n');
    process.exit(2);
  }
  const owner = values.owner?.split(':').map(Number);
  const g = generate({
    out: values.out,
    ...(values.namespace ? { namespace: values.namespace } : {}),
    ...(owner && owner.length === 2 && owner.every(Number.isInteger) ? { owner: { uid: owner[0]!, gid: owner[1]! } } : {}),
    log: (l) => process.stdout.write(`${l}\n`),
  });
  process.stdout.write(g.created.length > 0 ? `generated ${g.created.length} files in ${values.out}\n` : `secrets in ${values.out} already exist; left as they are\n`);
  if (values['print-token']) process.stdout.write(`dev admin token: ${g.adminToken}\n`);
}
