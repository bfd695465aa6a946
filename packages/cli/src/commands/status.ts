/**
 * `cosigner status`: the system at a glance, for people (tables) and scripts (`--json`): each
 * service's health, NATS (JetStream, streams, consumer lag), the parties' identities (pinned or
 * not), API users, keys with their presignature pools, and the last requests with status, latency
 * and failure codes. Every section is read independently: one that cannot be read says why
 * instead of failing the whole command. `--watch` redraws every `--interval-s` seconds.
 */
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import {
  KeyServiceClient,
  PairingServiceClient,
  PartyInfo,
  RequestIntakeServiceClient,
  RequestState,
  WorkspaceServiceClient,
  type ListApiUsersResponse,
  type ListKeysResponse,
  type PoolStatusResponse,
} from '@cosigner/proto';
import { CliError, int, type Command } from '../command.ts';
import { loadCliConfig, type CliConfig } from '../config.ts';
import { makeClient, unary, waitReady } from '../grpc.ts';
import { withNats } from '../nats.ts';
import { table } from './users.ts';

/** How many recent requests the status shows by default. */
export const DEFAULT_RECENT = 10;
const PARTIES_BUCKET = 'cosigner-parties';
const REQUESTS_KV_STREAM = 'KV_cosigner-requests';

type Section<T> = T | { error: string };

export interface StatusDoc {
  at: string;
  services: { name: string; address: string; status: string }[];
  nats: Section<{ url: string; jetstream: boolean; streams: { name: string; messages: number; bytes: number; consumers: { name: string; pending: number; ackPending: number; waiting: number }[] }[] }>;
  parties: Section<{ partyId: string; index: number; fingerprint: string; pinned: boolean | null }[]>;
  apiUsers: Section<{ apiUserId: string; workspaceId: string; state: string; callback: string }[]>;
  keys: Section<{ keyId: string; workspaceId: string; algorithm: string; threshold: number; parties: number; epoch: number; pool: { ready: number; target: number; inFlight: number; consumed: number } | null }[]>;
  requests: Section<{ requestId: string; kind: string; apiUserId: string; status: string; errorCode: string; culprits: string[]; latencyMs: number | null; updatedAt: string }[]>;
}

function errorOf(e: unknown): { error: string } {
  const m = e instanceof Error ? e.message : String(e);
  return { error: m.split('\n')[0] ?? m };
}

async function section<T>(f: () => Promise<T>): Promise<Section<T>> {
  try {
    return await f();
  } catch (e) {
    return errorOf(e);
  }
}

/** One health check per service, without waiting for a service that is down. */
async function services(cfg: CliConfig): Promise<StatusDoc['services']> {
  const probes: [string, string, new (a: string, c: grpc.ChannelCredentials) => grpc.Client][] = [
    ['pairing', cfg.pairingUrl, PairingServiceClient],
    ['request-intake', cfg.intakeUrl, RequestIntakeServiceClient],
    ['mpc-signer', cfg.keysUrl, KeyServiceClient],
    ['workspace-sim', cfg.workspaceUrl, WorkspaceServiceClient],
  ];
  const saved = process.env.COSIGNER_WAIT_MS;
  process.env.COSIGNER_WAIT_MS = '0';
  try {
    return await Promise.all(
      probes.map(async ([name, address, Ctor]) => {
        const c = makeClient(Ctor, address);
        try {
          await waitReady(c, () => {});
          return { name, address, status: 'SERVING' };
        } catch (e) {
          const m = /\((\w+)\)/.exec((e as Error).message);
          return { name, address, status: m?.[1] ?? 'UNAVAILABLE' };
        } finally {
          c.close();
        }
      }),
    );
  } finally {
    if (saved === undefined) delete process.env.COSIGNER_WAIT_MS;
    else process.env.COSIGNER_WAIT_MS = saved;
  }
}

async function natsSection(nc: NatsConnection, url: string): Promise<StatusDoc['nats']> {
  const jsm = await jetstreamManager(nc);
  const streams: Extract<StatusDoc['nats'], { url: string }>['streams'] = [];
  for await (const si of jsm.streams.list()) {
    const consumers = [];
    for await (const ci of jsm.consumers.list(si.config.name)) {
      // Durable consumers are the services' work queues; ephemeral ones are KV watchers.
      if (!ci.config.durable_name) continue;
      consumers.push({ name: ci.name, pending: ci.num_pending, ackPending: ci.num_ack_pending, waiting: ci.num_waiting });
    }
    streams.push({ name: si.config.name, messages: si.state.messages, bytes: si.state.bytes, consumers });
  }
  streams.sort((a, b) => a.name.localeCompare(b.name));
  return { url, jetstream: true, streams };
}

/** `COSIGNER_PARTY_PINS` (`party=hex,...`) as a map, when this shell has it. */
function pins(): Map<string, string> | undefined {
  const v = process.env.COSIGNER_PARTY_PINS;
  if (!v) return undefined;
  return new Map(v.split(',').map((p) => p.split('=') as [string, string]).filter(([a, b]) => a && b).map(([a, b]) => [a.trim(), b.trim().toLowerCase()]));
}

async function partiesSection(nc: NatsConnection): Promise<StatusDoc['parties']> {
  const kv = await new Kvm(jetstream(nc)).open(PARTIES_BUCKET);
  const out: Extract<StatusDoc['parties'], unknown[]> = [];
  const pinned = pins();
  for await (const key of await kv.keys()) {
    const e = await kv.get(key);
    if (!e || e.operation !== 'PUT') continue;
    const info = PartyInfo.decode(e.value);
    const id = Buffer.from(info.identityPublicKey).toString('hex');
    out.push({
      partyId: info.partyId,
      index: info.index,
      fingerprint: createHash('sha256').update(info.identityPublicKey).digest('hex').slice(0, 16),
      pinned: pinned ? pinned.get(info.partyId) === id : null,
    });
  }
  return out.sort((a, b) => a.index - b.index);
}

/** The last `n` request states, newest first, from the status projection's KV stream. */
async function requestsSection(nc: NatsConnection, n: number): Promise<StatusDoc['requests']> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(REQUESTS_KV_STREAM);
  const seen = new Set<string>();
  const out: Extract<StatusDoc['requests'], unknown[]> = [];
  for (let seq = info.state.last_seq; seq >= info.state.first_seq && seq > 0 && out.length < n && seen.size < 10 * n; seq--) {
    let m;
    try {
      m = await jsm.streams.getMessage(REQUESTS_KV_STREAM, { seq });
    } catch {
      continue; // superseded by a later revision of the same key (history 1) or deleted
    }
    if (!m || m.data.length === 0) continue;
    const s = RequestState.decode(m.data);
    if (seen.has(s.requestId)) continue;
    seen.add(s.requestId);
    const terminal = ['SIGNED', 'REJECTED', 'IGNORED', 'FAILED'].includes(s.status) || (s.status === 'APPROVED' && s.kind === 'CONFIG_CHANGE');
    out.push({
      requestId: s.requestId,
      kind: s.kind,
      apiUserId: s.apiUserId,
      status: s.status,
      errorCode: s.errorCode,
      culprits: s.culprits,
      latencyMs: terminal ? Number(s.updatedAtMs) - Number(s.createdAtMs) : null,
      updatedAt: new Date(Number(s.updatedAtMs)).toISOString(),
    });
  }
  return out;
}

export async function collectStatus(cfg: CliConfig, recent: number): Promise<StatusDoc> {
  const token = cfg.adminToken;
  const svc = await services(cfg);
  const up = (name: string): boolean => svc.find((s) => s.name === name)?.status === 'SERVING';
  const down = (name: string): Promise<never> => Promise.reject(new Error(`${name} is not serving`));
  const apiUsers = await section(async () => {
    if (!up('pairing')) return down('pairing');
    const c = makeClient(PairingServiceClient, cfg.pairingUrl);
    try {
      const r = await unary<object, ListApiUsersResponse>(c, 'listApiUsers', { workspaceId: '' }, { token });
      return r.apiUsers.map((u) => ({ apiUserId: u.apiUserId, workspaceId: u.workspaceId, state: u.state, callback: u.callback ? `${u.callback.mode} ${u.callback.url}` : '' }));
    } finally {
      c.close();
    }
  });
  const keys = await section(async () => {
    if (!up('mpc-signer')) return down('mpc-signer');
    const c = makeClient(KeyServiceClient, cfg.keysUrl);
    try {
      const [list, pools] = await Promise.all([
        unary<object, ListKeysResponse>(c, 'listKeys', { workspaceId: '' }, { token }),
        unary<object, PoolStatusResponse>(c, 'getPoolStatus', { keyId: '' }, { token }),
      ]);
      const byKey = new Map(pools.pools.map((p) => [p.keyId, { ready: p.ready, target: p.target, inFlight: p.inFlight, consumed: Number(p.consumed) }]));
      return list.keys.map((k) => ({ keyId: k.keyId, workspaceId: k.workspaceId, algorithm: k.algorithm, threshold: k.threshold, parties: k.parties.length, epoch: k.epoch, pool: byKey.get(k.keyId) ?? null }));
    } finally {
      c.close();
    }
  });
  let nats: StatusDoc['nats'];
  let parties: StatusDoc['parties'];
  let requests: StatusDoc['requests'];
  try {
    [nats, parties, requests] = await withNats(async (nc) => [await section(() => natsSection(nc, cfg.natsUrl)), await section(() => partiesSection(nc)), await section(() => requestsSection(nc, recent))]);
  } catch (e) {
    nats = parties = requests = errorOf(e);
  }
  return { at: new Date().toISOString(), services: svc, nats, parties, apiUsers, keys, requests };
}

function render<T>(title: string, s: Section<T[]>, headers: string[], row: (x: T) => string[]): string {
  if (!Array.isArray(s)) return `${title}: cannot read (${s.error})`;
  if (s.length === 0) return `${title}: none`;
  return `${title}:\n${table(headers, s.map(row))}`;
}

export function renderStatus(d: StatusDoc): string {
  const out = [`status at ${d.at}`, table(['SERVICE', 'ADDRESS', 'HEALTH'], d.services.map((s) => [s.name, s.address, s.status]))];
  if ('error' in d.nats) out.push(`NATS: cannot read (${d.nats.error})`);
  else {
    const rows: string[][] = [];
    for (const s of d.nats.streams) {
      rows.push([s.name, String(s.messages), '', '', '']);
      for (const c of s.consumers) rows.push([`  ${c.name}`, '', String(c.pending), String(c.ackPending), String(c.waiting)]);
    }
    out.push(`NATS ${d.nats.url} (JetStream):\n${table(['STREAM / CONSUMER', 'MESSAGES', 'LAG', 'ACK PENDING', 'PULLS WAITING'], rows)}`);
  }
  out.push(render('parties', d.parties, ['PARTY', 'INDEX', 'IDENTITY', 'PINNED'], (p) => [p.partyId, String(p.index), p.fingerprint, p.pinned === null ? '(no pins in this shell)' : p.pinned ? 'yes' : 'NO: differs']));
  out.push(render('API users', d.apiUsers, ['API USER', 'WORKSPACE', 'STATE', 'CALLBACK'], (u) => [u.apiUserId, u.workspaceId, u.state, u.callback || '(none)']));
  out.push(render('keys', d.keys, ['KEY', 'WORKSPACE', 'SCHEME', 'T/N', 'EPOCH', 'POOL'], (k) => [k.keyId, k.workspaceId, k.algorithm, `${k.threshold}/${k.parties}`, String(k.epoch), k.pool ? `${k.pool.ready}/${k.pool.target} (+${k.pool.inFlight}, used ${k.pool.consumed})` : '-']));
  out.push(render('last requests', d.requests, ['REQUEST', 'KIND', 'STATUS', 'CODE', 'LATENCY', 'UPDATED'], (r) => [r.requestId, r.kind, r.status, r.errorCode || '', r.latencyMs === null ? '-' : `${r.latencyMs} ms`, r.updatedAt]));
  return out.join('\n\n');
}

const status: Command = {
  name: ['status'],
  summary: 'The system at a glance: services, NATS (streams, consumer lag), parties, API users, keys and pools, last requests',
  usage: '[--recent N] [--watch] [--interval-s N] [--json]',
  options: { recent: { type: 'string' }, watch: { type: 'boolean' }, 'interval-s': { type: 'string' } },
  async run(io) {
    const cfg = loadCliConfig();
    const recent = int(io, 'recent', DEFAULT_RECENT);
    const interval = int(io, 'interval-s', 2);
    if (interval < 1) throw new CliError('ERR_USAGE', '--interval-s must be at least 1', 2);
    if (io.values.watch !== true) {
      const d = await collectStatus(cfg, recent);
      io.result(d, renderStatus(d));
      return d.services.every((s) => s.status === 'SERVING') ? 0 : 1;
    }
    for (;;) {
      const d = await collectStatus(cfg, recent);
      // One JSON document per line with --json (a stream), a redrawn screen otherwise.
      if (io.json) process.stdout.write(JSON.stringify(d) + '\n');
      else process.stdout.write(`${process.stdout.isTTY ? '\x1b[2J\x1b[H' : ''}${renderStatus(d)}\n`);
      const stop = await Promise.race([io.interrupted.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), interval * 1000))]);
      if (stop) return 0;
    }
  },
};

export default status;
