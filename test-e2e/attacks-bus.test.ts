/**
 * Attacks on the bus of the whole system as `cosigner up` runs it (nats-server and every service
 * its own process): a client with no credentials, and each service's own credentials (what a
 * compromised pod holds) used outside that service's job. On the open bus every one of these
 * succeeded (an anonymous client could publish a RequestReceived and get it auto-approved and
 * signed); the generated authorization refuses them all.
 *
 * Credentials are taken the way a service gets them: `<dataDir>/nats-auth/env/<user>.env`
 * (NATS_NKEY_SEED_FILE, NATS_INBOX_PREFIX); without that file, the bare NATS_URL a service had.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { connect, nkeyAuthenticator, type NatsConnection, type ConnectionOptions } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { startSystem, type RunningSystem } from '../packages/cli/src/system.ts';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

const enc = new TextEncoder();

for (const tls of [false, true]) describe(`the bus of \`cosigner up${tls ? ' --nats-tls' : ''}\` is closed`, () => {
  let dataDir: string;
  let sys: RunningSystem;
  const lines: string[] = [];
  const conns: NatsConnection[] = [];

  /** Connects as `user` with the credentials the system gives that service. */
  const as = async (user: string): Promise<NatsConnection> => {
    const o: ConnectionOptions = { servers: sys.config.natsUrl, name: `attacker-as-${user}`, maxReconnectAttempts: 0 };
    const envFile = join(dataDir, 'nats-auth', 'env', `${user}.env`);
    if (existsSync(envFile)) {
      const env = Object.fromEntries(readFileSync(envFile, 'utf8').trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      if (env.NATS_NKEY_SEED_FILE) o.authenticator = nkeyAuthenticator(enc.encode(readFileSync(env.NATS_NKEY_SEED_FILE, 'utf8').trim()));
      if (env.NATS_INBOX_PREFIX) o.inboxPrefix = env.NATS_INBOX_PREFIX;
      if (env.NATS_TLS_CA_FILE) o.tls = { caFile: env.NATS_TLS_CA_FILE };
    }
    const nc = await connect(o);
    conns.push(nc);
    return nc;
  };

  const publishRefused = async (nc: NatsConnection, subject: string): Promise<void> => {
    await assert.rejects(
      jetstream(nc).publish(subject, enc.encode('forged'), { msgID: `forged-${subject}`, timeout: 5000 }),
      /Permissions Violation for Publish/,
      `publish ${subject}`,
    );
  };

  const subscribeRefused = async (nc: NatsConnection, subject: string): Promise<void> => {
    const sub = nc.subscribe(subject);
    const outcome = (async () => { try { for await (const _ of sub) return 'received a message'; return 'open'; } catch (e) { return (e as Error).message; } })();
    await nc.flush();
    const r = await Promise.race([outcome, new Promise<string>((res) => setTimeout(() => res('open'), 3000))]);
    sub.unsubscribe();
    assert.match(r, /Permissions Violation for Subscription/, `subscribe ${subject}`);
  };

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'cosigner-attacks-'));
    sys = await startSystem({
      dataDir,
      ports: { nats: await freePort(), pairing: await freePort(), intake: await freePort(), keys: await freePort(), workspace: await freePort() },
      onLine: (svc, line) => lines.push(`${svc} ${line}`),
      // Every service starts and gets ready on the generated authorization (over TLS the second time).
      ...(tls ? { natsAuth: { tls: true } } : {}),
    });
  });
  after(async () => {
    for (const nc of conns) await nc.close().catch(() => undefined);
    await sys.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a client without credentials is refused by the bus', async () => {
    const ca = sys.config.natsCaFile;
    await assert.rejects(connect({ servers: sys.config.natsUrl, maxReconnectAttempts: 0, ...(ca ? { tls: { caFile: ca } } : {}) }), /Authorization Violation/);
  });

  test('intake\'s credentials cannot publish an approval or a signature', async () => {
    const nc = await as('request-intake');
    await publishRefused(nc, 'cosigner.requests.approved.attack-1');
    await publishRefused(nc, 'cosigner.requests.signed.attack-1');
  });

  test('the dispatcher\'s credentials cannot publish a received request or a signature', async () => {
    const nc = await as('callback-dispatcher');
    await publishRefused(nc, 'cosigner.requests.received.attack-2');
    await publishRefused(nc, 'cosigner.requests.signed.attack-2');
  });

  test('the signer\'s and the cloud parties\' credentials cannot publish a received request or an approval', async () => {
    for (const user of ['mpc-signer', 'cloud-1']) {
      const nc = await as(user);
      await publishRefused(nc, 'cosigner.requests.received.attack-3');
      await publishRefused(nc, 'cosigner.requests.approved.attack-3');
    }
  });

  test('no service but the party itself reads a party\'s messages', async () => {
    for (const user of ['request-intake', 'callback-dispatcher', 'pairing', 'workspace-sim']) {
      const nc = await as(user);
      await subscribeRefused(nc, 'cosigner.mpc.customer.inbox');
      await subscribeRefused(nc, 'cosigner.mpc.>');
    }
    await subscribeRefused(await as('cloud-1'), 'cosigner.mpc.cloud-2.inbox');
    await subscribeRefused(await as('cloud-1'), 'cosigner.mpc.customer.start');
  });

  test('a cloud party cannot write the customer party\'s version counters (roll back its sealed store)', async () => {
    const kvm = new Kvm(jetstream(await as('cloud-1')));
    // Wherever the customer's counters live: the one bucket every party shared, or its own.
    for (const bucket of ['cosigner-sealed-versions', 'cosigner-sealed-versions-customer']) {
      let written = false;
      try {
        const kv = await kvm.open(bucket);
        await kv.put('customer.pins', '1');
        written = true;
      } catch {
        // refused (or no such bucket)
      }
      assert.equal(written, false, `cloud-1 wrote ${bucket}/customer.pins`);
    }
  });

  test('no service\'s credentials delete a stream', async () => {
    for (const user of ['callback-dispatcher', 'request-intake', 'mpc-signer']) {
      const jsm = await jetstreamManager(await as(user));
      await assert.rejects(jsm.streams.delete('COSIGNER_REQUESTS'), /Permissions Violation/, user);
    }
    const info = await jetstreamManager(await as('cli')).then((j) => j.streams.info('COSIGNER_REQUESTS').then(() => 'exists', (e: Error) => e.message));
    assert.equal(info, 'exists');
  });
});
