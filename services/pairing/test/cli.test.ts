/**
 * The operator's flow as processes: nats-server, `node services/cloud-cosigner-sim/src/main.ts`
 * and `node services/pairing/src/main.ts` started with the env of the conventions, driven by the
 * real CLI (`packages/cli/bin/cosigner.js`); then the services are SIGKILLed and restarted.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort, spawnNode, startNats, type NatsServerHandle, type NodeProcess } from '@cosigner/platform/testing';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const CLI = join(ROOT, 'packages', 'cli', 'bin', 'cosigner.js');
const ADMIN = 'cli-test-admin-token';
let nats: NatsServerHandle;
let dir: string;
let sim: NodeProcess;
let pairing: NodeProcess;
let env: Record<string, string>;
let ports: { pairing: number; workspace: number };

function startServices(): Promise<unknown> {
  sim = spawnNode(join(ROOT, 'services/cloud-cosigner-sim/src/main.ts'), { env: { ...env, GRPC_PORT: String(ports.workspace), COSIGNER_DATA_DIR: join(dir, 'sim') } });
  pairing = spawnNode(join(ROOT, 'services/pairing/src/main.ts'), { env: { ...env, GRPC_PORT: String(ports.pairing), COSIGNER_DATA_DIR: join(dir, 'pairing'), COSIGNER_CALLBACK_KEY_FILE: join(dir, 'callback.key.pem') } });
  return Promise.all([sim.waitForOutput(/ready/, 30_000), pairing.waitForOutput(/ready/, 30_000)]);
}

function cliEnv(): NodeJS.ProcessEnv {
  // The CLI reads the config file; no ambient overrides.
  const e: NodeJS.ProcessEnv = { ...process.env, COSIGNER_CONFIG: join(dir, 'cli.json') };
  for (const k of ['COSIGNER_ADMIN_TOKEN', 'COSIGNER_PAIRING_URL', 'COSIGNER_WORKSPACE_URL', 'NATS_URL']) delete e[k];
  return e;
}

async function cli(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, ...args], { env: cliEnv(), cwd: ROOT });
  return stdout;
}
const cliJson = async <T>(...args: string[]): Promise<T> => JSON.parse(await cli(...args, '--json')) as T;
async function cliFails(args: string[], code: string): Promise<void> {
  await assert.rejects(cli(...args), (e: { stderr?: string; code?: number }) => {
    assert.ok(e.stderr?.includes(`[${code}]`), e.stderr);
    assert.notEqual(e.code, 0);
    return true;
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pairing-cli-'));
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await writeFile(join(dir, 'callback.key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await writeFile(join(dir, 'callback.pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(join(dir, 'handler.pub.pem'), generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }));
  nats = await startNats({ ignoreEnv: true });
  ports = { pairing: await freePort(), workspace: await freePort() };
  env = {
    NATS_URL: nats.url,
    COSIGNER_ADMIN_TOKEN: ADMIN,
    COSIGNER_TRUST: JSON.stringify([{ platform: `127.0.0.1:${ports.workspace}`, issuerPrefix: 'cosigner-sim/' }]),
    INTAKE_URL: '127.0.0.1:1',
    WORKSPACE_URL: `127.0.0.1:${ports.workspace}`,
  };
  await writeFile(join(dir, 'cli.json'), JSON.stringify({
    pairingUrl: `127.0.0.1:${ports.pairing}`, workspaceUrl: `127.0.0.1:${ports.workspace}`, natsUrl: nats.url, adminToken: ADMIN, dataDir: dir,
  }));
  await startServices();
});

after(async () => {
  for (const p of [sim, pairing]) if (p) await p.kill9();
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('CLI: workspace, API user, token, pair, users, callback, print-public-key; survives a crash of every process', async () => {
  const { workspaceId } = await cliJson<{ workspaceId: string }>('workspace', 'create', '--name', 'acme');
  assert.match(workspaceId, /^ws-/);
  const user = await cliJson<{ apiUserId: string; workspaceId: string; state: string }>('workspace', 'create-api-user', '--workspace', workspaceId);
  assert.deepEqual(Object.keys(user).sort(), ['apiUserId', 'state', 'workspaceId']);
  assert.equal(user.state, 'PENDING_ACTIVATION');
  const token = (await cli('workspace', 'pairing-token', '--api-user', user.apiUserId)).trim();
  assert.equal(token.split('.').length, 3, 'the token alone on stdout');
  const paired = await cliJson<{ apiUserId: string; workspaceId: string; state: string }>('pair', '--token', token);
  assert.deepEqual(paired, { apiUserId: user.apiUserId, workspaceId, state: 'ACTIVE', autoApprove: false });
  await cliFails(['pair', '--token', token], 'ERR_TOKEN_SPENT');

  await cli('callback', 'set', '--api-user', user.apiUserId, '--url', 'https://handler.local:8443', '--public-key', join(dir, 'handler.pub.pem'));
  const list = await cliJson<{ apiUsers: Array<Record<string, unknown>> }>('users', 'list');
  assert.equal(list.apiUsers.length, 1);
  const u = list.apiUsers[0]!;
  assert.deepEqual(Object.keys(u).sort(), ['apiUserId', 'autoApprove', 'callback', 'pairedAt', 'state', 'workspaceId']);
  assert.deepEqual(u.callback, { url: 'https://handler.local:8443', mode: 'JWT' });
  assert.ok(!Number.isNaN(Date.parse(u.pairedAt as string)));
  const human = await cli('users', 'list');
  assert.match(human, /API USER\s+WORKSPACE\s+STATE/);
  assert.match(human, /JWT https:\/\/handler\.local:8443/);

  const pem = await cli('print-public-key');
  assert.match(pem, /^-----BEGIN PUBLIC KEY-----/);

  // Crash everything, NATS included, and come back.
  await sim.kill9();
  await pairing.kill9();
  await nats.kill();
  await nats.restart();
  await startServices();

  const after = await cliJson<{ apiUsers: Array<Record<string, unknown>> }>('users', 'list');
  assert.deepEqual(after, list);
  const cleared = await cliJson<{ apiUserId: string; callback: unknown }>('callback', 'clear', '--api-user', user.apiUserId);
  assert.equal(cleared.callback, null);
  assert.equal((cleared as { autoApprove?: boolean }).autoApprove, false, 'clearing does not turn auto-approve on');
  const auto = await cliJson<{ autoApprove: boolean }>('callback', 'clear', '--api-user', user.apiUserId, '--auto-approve');
  assert.equal(auto.autoApprove, true);
  const un = await cliJson<{ state: string }>('unpair', '--api-user', user.apiUserId);
  assert.equal(un.state, 'UNPAIRED');
});
