/** `cosigner users list | get`: the API users paired with this co-signer, with their callback handlers. */
import type { ApiUser, ListApiUsersResponse } from '@cosigner/proto';
import { str, type Command } from '../command.ts';
import { unary } from '../grpc.ts';
import { apiUserDoc, withPairing, type ApiUserDoc } from './pair.ts';

/** Renders rows as an aligned text table. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

function rows(users: ApiUserDoc[]): string[][] {
  return users.map((u) => [u.apiUserId, u.workspaceId, u.state, u.pairedAt ?? '-', u.callback ? `${u.callback.mode} ${u.callback.url}` : '(none: auto-approve)']);
}

const HEADERS = ['API USER', 'WORKSPACE', 'STATE', 'PAIRED AT', 'CALLBACK'];

export const usersList: Command = {
  name: ['users', 'list'],
  summary: 'List the API users paired with this co-signer (all workspaces) and their callback handlers',
  usage: '[--workspace ID] [--json]',
  options: { workspace: { type: 'string' } },
  async run(io) {
    const r = await withPairing((c, token) => unary<object, ListApiUsersResponse>(c, 'listApiUsers', { workspaceId: str(io, 'workspace') ?? '' }, { token }));
    const apiUsers = r.apiUsers.map(apiUserDoc);
    io.result({ apiUsers }, apiUsers.length === 0 ? 'no API users paired' : table(HEADERS, rows(apiUsers)));
  },
};

export const usersGet: Command = {
  name: ['users', 'get'],
  summary: 'Show one paired API user',
  usage: '--api-user ID [--json]',
  options: { 'api-user': { type: 'string' } },
  async run(io) {
    const apiUserId = str(io, 'api-user', true);
    const u = apiUserDoc(await withPairing((c, token) => unary<object, ApiUser>(c, 'getApiUser', { apiUserId }, { token })));
    io.result(u, table(HEADERS, rows([u])));
  },
};

export default [usersList, usersGet];
