/**
 * Workspaces, API users and pairing as the custody platform does them. The issuer is where single
 * use of a pairing token is enforced: completing a pairing is one compare-and-set on the API user
 * record (PENDING_ACTIVATION with this token's jti -> ACTIVE), so of two co-signers racing with one
 * token exactly one wins. A newer token for the same API user supersedes the older one.
 */
import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { TrustError, createTrust, parseTrustConfig, simIssuer, PAIRING_AUDIENCE, PAIRING_TOKEN_LIFETIME_S, type Trust } from '@cosigner/trust';
import type {
  CompletePairingRequest, CompletePairingResponse, PairingToken, Workspace, WorkspaceApiUser, WorkspaceKeys,
} from '@cosigner/proto';
import { WorkspaceError, invalid, notFound } from './errors.ts';
import type { WorkspaceKeyStore } from './keys.ts';
import type { ApiUserRecord, SimState } from './state.ts';
import { signPairingToken } from './tokens.ts';

export const ISSUER_PREFIX = 'cosigner-sim/';
const ID_RE = /^[A-Za-z0-9._-]{1,128}$/;
const MAX_NAME = 200;

export interface Clock {
  now: () => number;
  newId: () => string;
}

export const defaultClock: Clock = { now: Date.now, newId: () => randomUUID() };

export function toWorkspaceApiUser(r: ApiUserRecord): WorkspaceApiUser {
  return {
    apiUserId: r.apiUserId,
    workspaceId: r.workspaceId,
    state: r.state,
    cosignerId: r.cosignerId,
    createdAtMs: r.createdAtMs,
    pairedAtMs: r.pairedAtMs,
  };
}

export class Workspaces {
  readonly state: SimState;
  readonly keys: WorkspaceKeyStore;
  readonly clock: Clock;
  readonly trust: Trust;

  constructor(state: SimState, keys: WorkspaceKeyStore, clock: Clock = defaultClock) {
    this.state = state;
    this.keys = keys;
    this.clock = clock;
    // The simulator verifies its own tokens with the same verifier a co-signer uses, keyed by
    // its local key store (no network hop to itself).
    this.trust = createTrust(parseTrustConfig([{ platform: 'local:0', issuerPrefix: ISSUER_PREFIX }]), {
      now: clock.now,
      refetchMinIntervalMs: 0,
      fetchKeys: async (_p, workspaceId) => {
        const ws = await this.state.workspaces.get(workspaceId);
        if (!ws) throw new TrustError('ERR_WORKSPACE_UNTRUSTED', `workspace ${workspaceId} does not exist`);
        return { issuer: ws.value.issuer, jwksJson: JSON.stringify({ keys: [(await this.keys.get(workspaceId)).publicJwk] }) };
      },
    });
  }

  async createWorkspace(name: string): Promise<Workspace> {
    if (name.length > MAX_NAME) throw invalid('name too long');
    const workspaceId = `ws-${this.clock.newId()}`;
    if (!ID_RE.test(workspaceId)) throw new WorkspaceError('ERR_INTERNAL', 'bad generated id', status.INTERNAL);
    await this.keys.create(workspaceId);
    const ws: Workspace = { workspaceId, name, issuer: simIssuer(workspaceId), createdAtMs: this.clock.now() };
    if ((await this.state.workspaces.create(workspaceId, ws)) === undefined) throw new WorkspaceError('ERR_ALREADY_EXISTS', 'workspace id collision', status.ALREADY_EXISTS);
    return ws;
  }

  async getWorkspace(workspaceId: string): Promise<Workspace> {
    if (!ID_RE.test(workspaceId)) throw invalid('workspace_id is malformed');
    const ws = await this.state.workspaces.get(workspaceId);
    if (!ws) throw notFound(`workspace ${workspaceId} not found`, 'ERR_WORKSPACE_NOT_FOUND');
    return ws.value;
  }

  async createApiUser(workspaceId: string, name: string): Promise<WorkspaceApiUser> {
    if (name.length > MAX_NAME) throw invalid('name too long');
    await this.getWorkspace(workspaceId);
    const r: ApiUserRecord = {
      apiUserId: this.clock.newId(),
      workspaceId,
      name,
      state: 'PENDING_ACTIVATION',
      createdAtMs: this.clock.now(),
      tokenJti: '',
      tokenExpiresAtMs: 0,
      spentJti: '',
      cosignerId: '',
      cosignerIdentityKeyHex: '',
      cosignerCallbackKeyPem: '',
      pairedAtMs: 0,
    };
    if ((await this.state.apiUsers.create(r.apiUserId, r)) === undefined) throw new WorkspaceError('ERR_ALREADY_EXISTS', 'api user id collision', status.ALREADY_EXISTS);
    return toWorkspaceApiUser(r);
  }

  async getApiUser(apiUserId: string): Promise<{ value: ApiUserRecord; revision: number }> {
    if (!ID_RE.test(apiUserId)) throw invalid('api_user_id is malformed');
    const u = await this.state.apiUsers.get(apiUserId);
    if (!u) throw notFound(`api user ${apiUserId} not found`, 'ERR_API_USER_NOT_FOUND');
    return u;
  }

  /** Issues a fresh pairing token for a pending API user; it supersedes any earlier one. */
  async issuePairingToken(apiUserId: string): Promise<PairingToken> {
    for (;;) {
      const u = await this.getApiUser(apiUserId);
      if (u.value.state !== 'PENDING_ACTIVATION') throw new WorkspaceError('ERR_API_USER_ALREADY_PAIRED', `api user ${apiUserId} is ${u.value.state}`);
      const ws = await this.getWorkspace(u.value.workspaceId);
      const key = await this.keys.get(ws.workspaceId);
      const jti = this.clock.newId();
      const now = this.clock.now();
      const { token, expiresAtMs } = await signPairingToken(key, { issuer: ws.issuer, apiUserId, jti, nowMs: now });
      const next: ApiUserRecord = { ...u.value, tokenJti: jti, tokenExpiresAtMs: expiresAtMs };
      if ((await this.state.apiUsers.update(apiUserId, next, u.revision)) !== undefined) return { token, tokenId: jti, expiresAtMs };
    }
  }

  async getPublicKeys(workspaceId: string): Promise<WorkspaceKeys> {
    const ws = await this.getWorkspace(workspaceId);
    const key = await this.keys.get(workspaceId);
    return { workspaceId, issuer: ws.issuer, jwksJson: JSON.stringify({ keys: [key.publicJwk] }) };
  }

  /**
   * Spends a pairing token. Idempotent for the co-signer that spent it (a retry after a lost
   * reply succeeds again); any other presenter gets ERR_TOKEN_SPENT.
   */
  async completePairing(req: CompletePairingRequest): Promise<CompletePairingResponse> {
    if (!ID_RE.test(req.cosignerId)) throw invalid('cosigner_id is malformed');
    const v = await this.trust.verify(req.token, { audience: PAIRING_AUDIENCE, maxLifetimeS: PAIRING_TOKEN_LIFETIME_S });
    const jti = v.claims.jti;
    for (;;) {
      const u = await this.getApiUser(v.apiUserId);
      const r = u.value;
      if (r.workspaceId !== v.workspaceId) throw new WorkspaceError('ERR_TOKEN_ISSUER', 'token names an API user of another workspace', status.UNAUTHENTICATED);
      if (r.state === 'ACTIVE' && r.spentJti === jti) {
        if (r.cosignerId === req.cosignerId) return { apiUserId: r.apiUserId, workspaceId: r.workspaceId, state: r.state };
        throw new WorkspaceError('ERR_TOKEN_SPENT', 'pairing token already spent', status.FAILED_PRECONDITION);
      }
      if (r.state !== 'PENDING_ACTIVATION' || r.tokenJti !== jti) {
        throw new WorkspaceError('ERR_TOKEN_SPENT', 'pairing token already spent or superseded', status.FAILED_PRECONDITION);
      }
      const next: ApiUserRecord = {
        ...r,
        state: 'ACTIVE',
        tokenJti: '',
        spentJti: jti,
        cosignerId: req.cosignerId,
        cosignerIdentityKeyHex: Buffer.from(req.cosignerIdentityPublicKey ?? []).toString('hex'),
        cosignerCallbackKeyPem: req.callbackPublicKeyPem.slice(0, 8192),
        pairedAtMs: this.clock.now(),
      };
      if ((await this.state.apiUsers.update(r.apiUserId, next, u.revision)) !== undefined) {
        return { apiUserId: r.apiUserId, workspaceId: r.workspaceId, state: 'ACTIVE' };
      }
      // Lost the race: re-read and decide again (the winner may be us on a retried call).
    }
  }
}
