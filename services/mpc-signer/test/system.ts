/** Test harness: nats-server + mpc-signer + cloud-1 + cloud-2, each its own process. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { KeyServiceClient } from '@cosigner/proto';
import { startNats, spawnNode, freePort, type NatsServerHandle, type NodeProcess } from '@cosigner/platform/testing';
import { approvalKeys, testTrustJson, type ApprovalKeys } from '../../../packages/party/test/helpers.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
export const SIGNER_MAIN = join(ROOT, 'services/mpc-signer/src/main.ts');
export const PARTY_MAIN = join(ROOT, 'services/cloud-cosigner-sim/src/parties/main.ts');

export interface System {
  nats: NatsServerHandle;
  nc: NatsConnection;
  js: JetStreamClient;
  ak: ApprovalKeys;
  token: string;
  grpcPort: number;
  dirs: Record<string, string>;
  procs: Record<string, NodeProcess>;
  envOf(party: string): Record<string, string>;
  /** (Re)starts a party process; `extraEnv` on top of its usual environment. */
  start(party: string, extraEnv?: Record<string, string>): Promise<NodeProcess>;
  client(): KeyServiceClient;
  call<Res>(method: string, req: unknown): Promise<Res>;
  stop(): Promise<void>;
}

export async function startSystem(o: { env?: Record<string, string>; partyEnv?: Record<string, Record<string, string>> } = {}): Promise<System> {
  const nats = await startNats();
  const nc = await connect({ servers: nats.url });
  const base = mkdtempSync(join(tmpdir(), 'cosigner-sys-'));
  const ak = approvalKeys(base);
  const token = randomBytes(16).toString('hex');
  const grpcPort = await freePort();
  const dirs: Record<string, string> = {};
  const keys: Record<string, string> = {};
  for (const p of ['customer', 'cloud-1', 'cloud-2']) {
    dirs[p] = join(base, p);
    keys[p] = join(base, `${p}.sealing.key`);
    writeFileSync(keys[p], randomBytes(32).toString('hex'));
  }
  const envOf = (party: string): Record<string, string> => ({
    NATS_URL: nats.url, COSIGNER_APPROVAL_PUBLIC_KEY_FILE: ak.publicFile, COSIGNER_SEALING_KEY_FILE: keys[party]!,
    COSIGNER_ROUND_TIMEOUT_MS: '4000', COSIGNER_TEST_PRIMES: '1',
    // Every party verifies origination against the test workspaces' keys; identities are
    // pinned on first use (a local test system, explicitly).
    COSIGNER_TRUST: testTrustJson(), COSIGNER_DEV_TOFU: '1',
    ...(party === 'customer'
      ? { PARTY_ID: 'customer', PARTY_INDEX: '1', COSIGNER_DATA_DIR: dirs[party]!, GRPC_PORT: String(grpcPort), COSIGNER_ADMIN_TOKEN: token }
      : { PARTY_DATA_DIR: dirs[party]! }),
    ...(o.env ?? {}),
    ...(o.partyEnv?.[party] ?? {}),
  });
  const procs: Record<string, NodeProcess> = {};
  const start = async (party: string, extraEnv: Record<string, string> = {}): Promise<NodeProcess> => {
    const env = { ...envOf(party), ...extraEnv };
    const p = party === 'customer'
      ? spawnNode(SIGNER_MAIN, { env, echo: process.env.COSIGNER_TEST_ECHO === '1' })
      : spawnNode(PARTY_MAIN, { args: ['--party', party], env, echo: process.env.COSIGNER_TEST_ECHO === '1' });
    procs[party] = p;
    await p.waitForOutput(party === 'customer' ? /"msg":"ready"/ : /party ready/, 30_000);
    return p;
  };
  // Cloud parties first: the customer's first sessions need their identities.
  await Promise.all([start('cloud-1'), start('cloud-2')]);
  await start('customer');
  let cl: KeyServiceClient | undefined;
  const client = () => (cl ??= new KeyServiceClient(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure()));
  const js = jetstream(nc);
  await jetstreamManager(nc);
  return {
    nats, nc, js, ak, token, grpcPort, dirs, procs, envOf, start, client,
    call<Res>(method: string, req: unknown): Promise<Res> {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${token}`);
      const c = client() as unknown as Record<string, (r: unknown, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Res) => void) => void>;
      return new Promise((resolve, reject) => c[method]!.call(client(), req, md, { deadline: Date.now() + 120_000 }, (e, r) => (e ? reject(e) : resolve(r))));
    },
    async stop() {
      cl?.close();
      await Promise.all(Object.values(procs).map((p) => p.kill9()));
      await nc.close();
      await nats.stop();
    },
  };
}
