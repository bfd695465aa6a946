/**
 * `cosigner workspace create | create-api-user | pairing-token`: the workspace side of pairing,
 * against the workspace (simulator) WorkspaceService.
 */
import { WorkspaceServiceClient, type PairingToken, type Workspace, type WorkspaceApiUser } from '@cosigner/proto';
import { str, type Command } from '../command.ts';
import { loadCliConfig } from '../config.ts';
import { makeClient, unary } from '../grpc.ts';

async function withWorkspace<T>(fn: (c: WorkspaceServiceClient, token: string) => Promise<T>): Promise<T> {
  const cfg = loadCliConfig();
  const c = makeClient(WorkspaceServiceClient, cfg.workspaceUrl);
  try {
    return await fn(c, cfg.adminToken);
  } finally {
    c.close();
  }
}

export const workspaceCreate: Command = {
  name: ['workspace', 'create'],
  summary: 'Create a workspace (simulated custody platform) with its own signing key',
  usage: '--name NAME [--json]',
  options: { name: { type: 'string' } },
  async run(io) {
    const name = str(io, 'name', true);
    const ws = await withWorkspace((c, token) => unary<object, Workspace>(c, 'createWorkspace', { name }, { token }));
    io.result({ workspaceId: ws.workspaceId }, `workspace ${ws.workspaceId} (issuer ${ws.issuer})`);
  },
};

export const workspaceCreateApiUser: Command = {
  name: ['workspace', 'create-api-user'],
  summary: 'Create an API user in a workspace (PENDING_ACTIVATION until paired)',
  usage: '--workspace ID [--name NAME] [--json]',
  options: { workspace: { type: 'string' }, name: { type: 'string' } },
  async run(io) {
    const workspaceId = str(io, 'workspace', true);
    const u = await withWorkspace((c, token) => unary<object, WorkspaceApiUser>(c, 'createApiUser', { workspaceId, name: str(io, 'name') ?? '' }, { token }));
    io.result({ apiUserId: u.apiUserId, workspaceId: u.workspaceId, state: u.state }, `api user ${u.apiUserId} in ${u.workspaceId}: ${u.state}`);
  },
};

export const workspacePairingToken: Command = {
  name: ['workspace', 'pairing-token'],
  summary: 'Issue a single-use pairing token (valid 1 h) for a pending API user; prints the token alone',
  usage: '--api-user ID [--json]',
  options: { 'api-user': { type: 'string' } },
  async run(io) {
    const apiUserId = str(io, 'api-user', true);
    const t = await withWorkspace((c, token) => unary<object, PairingToken>(c, 'issuePairingToken', { apiUserId }, { token }));
    io.result({ token: t.token }, t.token);
  },
};

export default [workspaceCreate, workspaceCreateApiUser, workspacePairingToken];
