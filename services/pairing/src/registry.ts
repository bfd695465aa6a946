/**
 * The co-signer's registry of paired API users (DESIGN.md "Pairing").
 *
 * Pair: verify the token (@cosigner/trust: allow-listed algorithms, iss/aud/exp/nbf, trusted
 * workspaces only), claim its jti in KV (so concurrent pair calls inside this co-signer settle
 * by compare-and-set: one proceeds, the others get ERR_TOKEN_SPENT), complete the pairing with
 * the workspace (where single use across co-signers is enforced), then record the API user in
 * `cosigner-api-users`, which intake and the dispatcher watch. Every change is audited; nothing
 * is stored for refused input.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { createClient, closeClient, unary, type ClientTlsConfig, type DomainError, type Logger } from '@cosigner/platform';
import { ApiUser, WorkspaceServiceClient, type CallbackConfig, type CompletePairingResponse, type CosignerInfo } from '@cosigner/proto';
import { PAIRING_AUDIENCE, PAIRING_TOKEN_LIFETIME_S, TrustError, platformTls, type Trust, type TrustConfig } from '@cosigner/trust';
import { AuditError, type AuditInput, type AuditLog } from '@cosigner/audit';
import { PairingError, invalid, notFound } from './errors.ts';
import type { CosignerIdentity } from './identity.ts';
import { BUCKETS, TypedKv, jsonCodec, metrics, protoCodec } from '@cosigner/platform';

const auditFailures = metrics.counter('cosigner_audit_write_failures_total', 'Audit records that could not be written (the change or decision waits or fails: fail closed).', ['kind']);
import { validateCallbackUrl, validateHandlerCert, validateHandlerPublicKey } from './validate.ts';

export const API_USERS_BUCKET = BUCKETS.apiUsers.bucket;
export const PAIRING_CLAIMS_BUCKET = BUCKETS.pairingClaims.bucket;
/** A claim older than this is from a crashed pair call and may be taken over. */
export const CLAIM_STALE_MS = 60_000;
export const COMPLETE_PAIRING_DEADLINE_MS = 15_000;
export const COMPLETE_PAIRING_ATTEMPTS = 4;
export const COMPLETE_PAIRING_RETRY_MS = 250;
const API_USER_ID_RE = /^[A-Za-z0-9_=-][A-Za-z0-9_=.-]{0,127}$/;

interface Claim {
  state: 'CLAIMED' | 'DONE';
  apiUserId: string;
  atMs: number;
}

export const apiUserCodec = protoCodec(ApiUser);
export const claimCodec = jsonCodec<Claim>();

export interface RegistryOptions {
  apiUsers: TypedKv<ApiUser>;
  claims: TypedKv<Claim>;
  trust: Trust;
  trustConfig: TrustConfig;
  identity: CosignerIdentity;
  audit: AuditLog;
  log: Logger;
  /** WorkspaceService address for issuers whose trust entry names no platform. */
  defaultWorkspaceUrl?: string;
  now?: () => number;
  /** TLS towards every workspace platform; else each trust entry's `tls`, else plaintext (loopback). */
  tls?: ClientTlsConfig;
}

function otherWorkspace(apiUserId: string): PairingError {
  return new PairingError('ERR_API_USER_OTHER_WORKSPACE', `api user ${apiUserId} is paired for another workspace`, grpc.status.ALREADY_EXISTS);
}

function checkApiUserId(id: string): void {
  if (typeof id !== 'string' || !API_USER_ID_RE.test(id)) throw invalid('ERR_INVALID_ARGUMENT', 'api_user_id is malformed');
}

export class Registry {
  readonly #o: RegistryOptions;
  readonly #now: () => number;
  readonly #clients = new Map<string, WorkspaceServiceClient>();

  constructor(o: RegistryOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  #platformOf(issuer: string): string {
    for (const e of this.#o.trustConfig.entries) {
      if (e.kind === 'platform' && issuer.startsWith(e.issuerPrefix)) return e.platform;
      if (e.kind === 'issuer' && e.issuer === issuer && e.platform) return e.platform;
    }
    if (this.#o.defaultWorkspaceUrl) return this.#o.defaultWorkspaceUrl;
    throw new PairingError('ERR_WORKSPACE_UNREACHABLE', `no platform address is configured for ${issuer}`);
  }

  #tlsOf(addr: string): ClientTlsConfig | undefined {
    const t = platformTls(this.#o.trustConfig).get(addr);
    if (!t) return undefined;
    return { ...(t.caFile ? { caPem: readFileSync(t.caFile) } : {}), ...(t.serverName ? { serverName: t.serverName } : {}) };
  }

  #client(addr: string): WorkspaceServiceClient {
    let c = this.#clients.get(addr);
    if (!c) {
      const tls = this.#o.tls ?? this.#tlsOf(addr);
      c = createClient(WorkspaceServiceClient, addr, tls ? { tls } : {});
      this.#clients.set(addr, c);
    }
    return c;
  }

  /**
   * CompletePairing is idempotent for this co-signer (the workspace answers a repeat by the
   * spender with success), so transport failures are retried within the deadline: a workspace
   * that just restarted is reached once its channel reconnects.
   */
  async #completeWithWorkspace(addr: string, token: string): Promise<CompletePairingResponse> {
    const id = this.#o.identity;
    const until = Date.now() + COMPLETE_PAIRING_DEADLINE_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        return await unary(this.#client(addr), 'completePairing',
          { token, cosignerId: id.cosignerId, cosignerIdentityPublicKey: id.identityPublicKey, callbackPublicKeyPem: id.callbackPublicKeyPem },
          { deadlineMs: Math.max(1000, until - Date.now()) });
      } catch (e) {
        const d = e as DomainError;
        const transport = d.grpcStatus === grpc.status.UNAVAILABLE || d.grpcStatus === grpc.status.DEADLINE_EXCEEDED;
        if (transport && attempt < COMPLETE_PAIRING_ATTEMPTS - 1 && Date.now() + COMPLETE_PAIRING_RETRY_MS * 2 ** attempt < until) {
          await new Promise((r) => setTimeout(r, COMPLETE_PAIRING_RETRY_MS * 2 ** attempt));
          continue;
        }
        if (transport || d.code === 'ERR_INTERNAL') {
          throw new PairingError('ERR_WORKSPACE_UNAVAILABLE', 'workspace did not complete the pairing', grpc.status.UNAVAILABLE, { cause: e });
        }
        // The workspace's own verdict (ERR_TOKEN_SPENT, ERR_TOKEN_*, ...) passes through with its code.
        throw new PairingError(d.code, `workspace refused the pairing: ${d.message}`, d.grpcStatus, { cause: e });
      }
    }
  }

  /** Fail closed: a change that cannot be audited is reported as failed (ERR_AUDIT_UNAVAILABLE). */
  async #audit(input: AuditInput): Promise<void> {
    try {
      await this.#o.audit.append(input);
    } catch (e) {
      auditFailures.inc({ kind: String(input.kind) });
      const code = e instanceof AuditError ? e.code : 'ERR_AUDIT_UNAVAILABLE';
      throw new PairingError(code, 'the change could not be audited', grpc.status.UNAVAILABLE, { cause: e });
    }
  }

  static claimKey(jti: string): string {
    return createHash('sha256').update(jti).digest('hex');
  }

  /** Claims the token's jti; throws ERR_TOKEN_SPENT when another call holds or finished it. */
  async #claim(key: string, apiUserId: string): Promise<void> {
    const fresh: Claim = { state: 'CLAIMED', apiUserId, atMs: this.#now() };
    if ((await this.#o.claims.create(key, fresh)) !== undefined) return;
    const cur = await this.#o.claims.get(key);
    if (!cur) {
      if ((await this.#o.claims.create(key, fresh)) !== undefined) return;
      throw new PairingError('ERR_TOKEN_SPENT', 'pairing token already spent');
    }
    if (cur.value.state === 'DONE') throw new PairingError('ERR_TOKEN_SPENT', 'pairing token already spent');
    if (this.#now() - cur.value.atMs < CLAIM_STALE_MS) throw new PairingError('ERR_TOKEN_SPENT', 'pairing with this token is already in progress');
    if ((await this.#o.claims.update(key, fresh, cur.revision)) === undefined) throw new PairingError('ERR_TOKEN_SPENT', 'pairing token already spent');
  }

  /**
   * Pairs the API user named by the token. `autoApprove` is recorded explicitly: only an API user
   * paired (or cleared) with it set is approved without a handler. An API user id already held by
   * another workspace is refused (ERR_API_USER_OTHER_WORKSPACE): ids are chosen by workspaces, so
   * one workspace must not be able to take over (and drop the callback of) another's API user.
   */
  async pair(token: string, autoApprove = false): Promise<ApiUser> {
    if (typeof token !== 'string' || token.trim() === '') throw new TrustError('ERR_TOKEN_MALFORMED', 'no token');
    const v = await this.#o.trust.verify(token.trim(), { audience: PAIRING_AUDIENCE, maxLifetimeS: PAIRING_TOKEN_LIFETIME_S });
    if (!API_USER_ID_RE.test(v.apiUserId)) throw new TrustError('ERR_TOKEN_MALFORMED', 'token subject is not a valid API user id');
    const platform = this.#platformOf(v.issuer);
    const existing = await this.#o.apiUsers.get(v.apiUserId);
    if (existing && existing.value.workspaceId !== v.workspaceId) throw otherWorkspace(v.apiUserId);
    const key = Registry.claimKey(`${v.issuer}|${v.claims.jti}`);
    await this.#claim(key, v.apiUserId);
    let res: CompletePairingResponse;
    try {
      res = await this.#completeWithWorkspace(platform, token.trim());
      if (res.apiUserId !== v.apiUserId || res.workspaceId !== v.workspaceId) throw new PairingError('ERR_PAIRING_REFUSED', 'workspace answered for another API user');
    } catch (e) {
      if ((e as PairingError).code === 'ERR_TOKEN_SPENT') {
        await this.#o.claims.put(key, { state: 'DONE', apiUserId: v.apiUserId, atMs: this.#now() });
      } else {
        // Not spent: release the claim so the operator can retry with the same token.
        await this.#o.claims.kv.delete(key).catch(() => undefined);
      }
      throw e;
    }
    const now = this.#now();
    // Audited before the change is visible (fail closed: no record, no change).
    await this.#audit({ kind: 'pairing', apiUserId: v.apiUserId, outcome: 'PAIRED', reason: `workspace ${v.workspaceId}; auto_approve ${autoApprove}` });
    let foreign = false;
    const stored = await this.#o.apiUsers.modify(v.apiUserId, (cur) => {
      foreign = !!cur && cur.workspaceId !== v.workspaceId;
      if (foreign || (cur && cur.state === 'ACTIVE')) return undefined;
      return { apiUserId: v.apiUserId, workspaceId: v.workspaceId, state: 'ACTIVE', pairedAtMs: now, callback: undefined, revision: 0, autoApprove };
    });
    await this.#o.claims.put(key, { state: 'DONE', apiUserId: v.apiUserId, atMs: now });
    if (foreign) throw otherWorkspace(v.apiUserId);
    this.#o.log.info('paired', { apiUserId: v.apiUserId, workspaceId: v.workspaceId });
    return { ...stored!.value, revision: stored!.revision };
  }

  async #get(apiUserId: string) {
    checkApiUserId(apiUserId);
    const u = await this.#o.apiUsers.get(apiUserId);
    if (!u) throw notFound(`api user ${apiUserId} is not paired with this co-signer`);
    return u;
  }

  async get(apiUserId: string): Promise<ApiUser> {
    const u = await this.#get(apiUserId);
    return { ...u.value, revision: u.revision };
  }

  async list(workspaceId: string): Promise<ApiUser[]> {
    const out: ApiUser[] = [];
    for (const k of await this.#o.apiUsers.keys()) {
      const u = await this.#o.apiUsers.get(k);
      if (u && (workspaceId === '' || u.value.workspaceId === workspaceId)) out.push({ ...u.value, revision: u.revision });
    }
    return out.sort((a, b) => a.pairedAtMs - b.pairedAtMs || a.apiUserId.localeCompare(b.apiUserId));
  }

  /** Marks the API user UNPAIRED and drops its callback: intake refuses its requests from now on. */
  async unpair(apiUserId: string): Promise<ApiUser> {
    await this.#get(apiUserId);
    await this.#audit({ kind: 'pairing', apiUserId, outcome: 'UNPAIRED' });
    const r = await this.#o.apiUsers.modify(apiUserId, (cur) => (cur && cur.state !== 'UNPAIRED' ? { ...cur, state: 'UNPAIRED', callback: undefined } : undefined));
    if (!r) throw notFound(`api user ${apiUserId} is not paired with this co-signer`);
    return { ...r.value, revision: r.revision };
  }

  async setCallback(apiUserId: string, url: string, publicKeyPem: string | undefined, certPem: string | undefined): Promise<ApiUser> {
    checkApiUserId(apiUserId);
    if ((publicKeyPem ? 1 : 0) + (certPem ? 1 : 0) !== 1) throw invalid('ERR_INVALID_ARGUMENT', 'give exactly one of public_key_pem (JWT mode) or cert_pem (TLS mode)');
    const mode = publicKeyPem ? 'JWT' : 'TLS';
    const cb: CallbackConfig = {
      url: validateCallbackUrl(url, mode),
      mode,
      publicKeyPem: publicKeyPem ? validateHandlerPublicKey(publicKeyPem) : '',
      certPem: certPem ? validateHandlerCert(certPem, new Date(this.#now())) : '',
      updatedAtMs: this.#now(),
    };
    const u = await this.#get(apiUserId);
    if (u.value.state !== 'ACTIVE') throw new PairingError('ERR_API_USER_NOT_ACTIVE', `api user ${apiUserId} is ${u.value.state}`);
    await this.#audit({ kind: 'callback_config', apiUserId, outcome: 'CALLBACK_SET', handlerUrl: cb.url, reason: `mode ${mode}` });
    // A handler replaces auto-approve: clearing it later approves nothing unless asked explicitly.
    const r = await this.#o.apiUsers.modify(apiUserId, (cur) => (cur && cur.state === 'ACTIVE' ? { ...cur, callback: cb, autoApprove: false } : undefined));
    if (!r || r.value.state !== 'ACTIVE') throw new PairingError('ERR_API_USER_NOT_ACTIVE', `api user ${apiUserId} is no longer active`);
    return { ...r.value, revision: r.revision };
  }

  /**
   * Drops the handler. Afterwards the API user's requests wait for a new handler, unless
   * `autoApprove` is given: then they are approved without asking. A request a handler already
   * answered RETRY for is never auto-approved (the dispatcher fails it instead).
   */
  async clearCallback(apiUserId: string, autoApprove = false): Promise<ApiUser> {
    const u = await this.#get(apiUserId);
    const before = u.value.callback?.url ?? '';
    if (before || u.value.autoApprove !== autoApprove) {
      await this.#audit({ kind: 'callback_config', apiUserId, outcome: 'CALLBACK_CLEARED', handlerUrl: before, reason: `auto_approve ${autoApprove}` });
    }
    const r = await this.#o.apiUsers.modify(apiUserId, (cur) => {
      if (!cur) return undefined;
      if (!cur.callback && cur.autoApprove === autoApprove) return undefined;
      if (autoApprove && cur.state !== 'ACTIVE') return undefined;
      return { ...cur, callback: undefined, autoApprove };
    });
    if (!r) throw notFound(`api user ${apiUserId} is not paired with this co-signer`);
    return { ...r.value, revision: r.revision };
  }

  async info(): Promise<CosignerInfo> {
    const users = await this.list('');
    return {
      cosignerId: this.#o.identity.cosignerId,
      callbackPublicKeyPem: this.#o.identity.callbackPublicKeyPem,
      identityPublicKey: this.#o.identity.identityPublicKey,
      trustedWorkspaces: this.#o.trust.describe(),
      apiUsers: users.filter((u) => u.state === 'ACTIVE').length,
    };
  }

  close(): void {
    for (const c of this.#clients.values()) closeClient(c);
    this.#clients.clear();
  }
}
