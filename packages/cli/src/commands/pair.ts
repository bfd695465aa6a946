/**
 * `cosigner pair --token T` and `cosigner unpair --api-user ID`: pairing this co-signer with an
 * API user of a trusted workspace (the token is single use), and undoing it.
 */
import { readFileSync } from 'node:fs';
import { PairingServiceClient, type ApiUser, type UnpairResponse } from '@cosigner/proto';
import { CliError, str, type Command } from '../command.ts';
import { loadCliConfig } from '../config.ts';
import { makeClient, unary } from '../grpc.ts';

/** Runs `fn` with a PairingService client and the operator's admin token. */
export async function withPairing<T>(fn: (c: PairingServiceClient, token: string) => Promise<T>): Promise<T> {
  const cfg = loadCliConfig();
  const c = makeClient(PairingServiceClient, cfg.pairingUrl);
  try {
    return await fn(c, cfg.adminToken);
  } finally {
    c.close();
  }
}

/** The JSON shape of an API user in CLI output. */
export interface ApiUserDoc {
  apiUserId: string;
  workspaceId: string;
  state: string;
  pairedAt: string | null;
  callback: null | { url: string; mode: string };
  /** Approved without a handler (only when no callback is set). */
  autoApprove: boolean;
}

export function apiUserDoc(u: ApiUser): ApiUserDoc {
  return {
    apiUserId: u.apiUserId,
    workspaceId: u.workspaceId,
    state: u.state,
    pairedAt: u.pairedAtMs > 0 ? new Date(u.pairedAtMs).toISOString() : null,
    callback: u.callback ? { url: u.callback.url, mode: u.callback.mode } : null,
    autoApprove: u.autoApprove === true,
  };
}

export const pair: Command = {
  name: ['pair'],
  summary: 'Pair this co-signer with an API user, using the workspace\'s single-use pairing token (- reads it from stdin)',
  usage: '--token TOKEN|- [--auto-approve] [--json]',
  options: { token: { type: 'string' }, 'auto-approve': { type: 'boolean' } },
  async run(io) {
    let token = str(io, 'token', true);
    if (token === '-') token = readFileSync(0, 'utf8');
    token = token.trim();
    if (token === '') throw new CliError('ERR_USAGE', '--token is empty', 2);
    // Auto-approve is a setting given here explicitly; without it, requests wait for a callback handler.
    const autoApprove = io.values['auto-approve'] === true;
    const u = await withPairing((c, admin) => unary<object, ApiUser>(c, 'pair', { token, autoApprove }, { token: admin }));
    io.result({ apiUserId: u.apiUserId, workspaceId: u.workspaceId, state: u.state, autoApprove: u.autoApprove === true },
      `paired: api user ${u.apiUserId} of ${u.workspaceId} is ${u.state}; ${u.autoApprove ? 'requests approved without a handler until a callback is set' : 'requests wait until a callback handler is set'}`);
  },
};

export const unpair: Command = {
  name: ['unpair'],
  summary: 'Unpair an API user: its requests are refused from now on and its callback config is dropped',
  usage: '--api-user ID [--json]',
  options: { 'api-user': { type: 'string' } },
  async run(io) {
    const apiUserId = str(io, 'api-user', true);
    const r = await withPairing((c, admin) => unary<object, UnpairResponse>(c, 'unpair', { apiUserId }, { token: admin }));
    const u = r.apiUser;
    io.result({ apiUserId, workspaceId: u?.workspaceId ?? '', state: u?.state ?? 'UNPAIRED' }, `api user ${apiUserId}: ${u?.state ?? 'UNPAIRED'}`);
  },
};

export default [pair, unpair];
