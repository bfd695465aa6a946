/**
 * Transaction origination: build the request, sign the submission JWT with the workspace key,
 * submit it to request-intake, keep the stored Transaction in step with intake's WatchRequest
 * stream, and assemble the signed transaction once the signatures arrive (DESIGN.md "A
 * transaction, end to end", steps 1 and 5). Watches resume after a restart for every
 * transaction not yet terminal.
 */
import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import {
  ConfigChangeRequest, RequestIntakeServiceClient,
  type CreateConfigChangeRequest, type CreateTransferRequest, type RequestState, type RequestStatus, type SubmitResponse, type Transaction,
} from '@cosigner/proto';
import type { Hex } from 'viem';
import { DomainError, createClient, closeClient, unary, type ClientTlsConfig, type Logger } from '@cosigner/platform';
import { WorkspaceError, invalid, notFound } from './errors.ts';
import type { SimState } from './state.ts';
import { signSubmission } from './tokens.ts';
import { DEFAULT_CHAIN_ID, DEFAULT_PATH, assembleSigned, buildTransfer, parseTransferFields } from './tx.ts';
import type { Clock, Workspaces } from './workspaces.ts';

export const DEFAULT_EXPIRES_IN_S = 600;
export const MAX_EXPIRES_IN_S = 7 * 24 * 3600;
export const SUBMIT_DEADLINE_MS = 15_000;
/** A submission with an unknown outcome that intake still does not know after this long has failed. */
export const UNKNOWN_SUBMISSION_GRACE_MS = 60_000;
const WATCH_RETRY_MIN_MS = 500;
const WATCH_RETRY_MAX_MS = 5000;
const REQUEST_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;

export const CONFIG_CHANGE_TYPES = [
  'UNMANAGED_WALLET', 'EXCHANGE', 'FIAT_ACCOUNT', 'ADD_USER', 'RE_ENROLL_DEVICE', 'ENABLE_ONE_TIME_ADDRESS',
  'CHANGE_QUORUM_THRESHOLD', 'ADD_NETWORK_CONNECTION', 'SET_NETWORK_CONNECTION_ROUTING_POLICY', 'SET_NETWORK_ID_POLICY',
  'UPDATE_APPROVAL_GROUP_MAPPING', 'USERS_GROUP_APPROVAL', 'POLICY_APPROVAL',
] as const;

export function isTerminal(t: Pick<Transaction, 'kind' | 'status'>): boolean {
  if (t.status === 'APPROVED') return t.kind === 'CONFIG_CHANGE';
  return t.status === 'SIGNED' || t.status === 'REJECTED' || t.status === 'IGNORED' || t.status === 'FAILED';
}

export interface OriginatorOptions {
  state: SimState;
  workspaces: Workspaces;
  intakeUrl: string;
  /** Bearer token for intake's Get/Watch (the operator's admin token). */
  intakeToken: string;
  clock: Clock;
  log: Logger;
  /** TLS towards intake (deployments); insecure on loopback otherwise. */
  tls?: ClientTlsConfig;
}

/** Intake's refusal passes through with its code; a transport failure says which peer was down. */
function fromIntake(e: unknown): DomainError {
  const d = e instanceof DomainError ? e : new DomainError('ERR_INTERNAL', 'intake call failed', { cause: e });
  if (d.grpcStatus === grpc.status.UNAVAILABLE || d.grpcStatus === grpc.status.DEADLINE_EXCEEDED) {
    return new WorkspaceError('ERR_INTAKE_UNAVAILABLE', `request-intake is unavailable: ${d.message}`, grpc.status.UNAVAILABLE, { cause: e });
  }
  return d;
}

export class Originator {
  readonly #o: OriginatorOptions;
  readonly #intake: RequestIntakeServiceClient;
  readonly #watching = new Map<string, grpc.ClientReadableStream<RequestState> | undefined>();
  #stopped = false;
  readonly #tasks = new Set<Promise<void>>();

  constructor(o: OriginatorOptions) {
    this.#o = o;
    this.#intake = createClient(RequestIntakeServiceClient, o.intakeUrl, o.tls ? { tls: o.tls } : {});
  }

  #md(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.#o.intakeToken) md.set('authorization', `Bearer ${this.#o.intakeToken}`);
    return md;
  }

  async #activeUser(apiUserId: string) {
    const u = (await this.#o.workspaces.getApiUser(apiUserId)).value;
    if (u.state !== 'ACTIVE') throw new WorkspaceError('ERR_API_USER_NOT_ACTIVE', `api user ${apiUserId} is ${u.state}`);
    const ws = await this.#o.workspaces.getWorkspace(u.workspaceId);
    return { u, ws, key: await this.#o.workspaces.keys.get(ws.workspaceId) };
  }

  #requestId(given: string): string {
    if (given === '') return randomUUID();
    if (!REQUEST_ID_RE.test(given)) throw invalid('request_id must be 1-128 of [A-Za-z0-9_-]');
    return given;
  }

  #expiresAt(s: number): number {
    const e = s === 0 ? DEFAULT_EXPIRES_IN_S : s;
    if (e > MAX_EXPIRES_IN_S) throw invalid(`expires_in_s must be at most ${MAX_EXPIRES_IN_S}`);
    return this.#o.clock.now() + e * 1000;
  }

  async createTransfer(req: CreateTransferRequest): Promise<Transaction> {
    const { u, ws, key } = await this.#activeUser(req.apiUserId);
    if (!REQUEST_ID_RE.test(req.keyId)) throw invalid('key_id is required');
    const path = req.path.length > 0 ? req.path : DEFAULT_PATH;
    if (path.length > 10 || path.some((p) => !Number.isInteger(p) || p < 0 || p >= 0x80000000)) throw invalid('path must be at most 10 non-hardened indices', 'ERR_INVALID_PATH');
    parseTransferFields(req.to, req.amountWei);
    const requestId = this.#requestId(req.requestId);
    const built = buildTransfer({
      requestId,
      workspaceId: ws.workspaceId,
      apiUserId: u.apiUserId,
      keyId: req.keyId,
      path,
      to: req.to,
      amountWei: BigInt(req.amountWei),
      chainId: req.chainId === 0 ? DEFAULT_CHAIN_ID : req.chainId,
      nonce: req.nonce,
      note: req.note,
      externalTxId: req.externalTxId,
      expiresAtMs: this.#expiresAt(req.expiresInS),
      algorithm: req.algorithm,
    });
    const tx: Transaction = {
      requestId,
      workspaceId: ws.workspaceId,
      apiUserId: u.apiUserId,
      kind: 'TRANSACTION',
      status: 'REQUEST_STATUS_UNSPECIFIED',
      reason: '',
      rawTx: built.rawTx,
      signedTx: '',
      from: '',
      to: built.tx.to ?? '',
      amountWei: req.amountWei,
      traceId: '',
      createdAtMs: this.#o.clock.now(),
      signatures: [],
      keyId: req.keyId,
      path,
    };
    const authorization = await signSubmission(key, { issuer: ws.issuer, apiUserId: u.apiUserId, request: built.bytes, nonce: randomUUID(), nowMs: this.#o.clock.now() });
    return this.#submit(tx, 'submitTransaction', { request: Buffer.from(built.bytes), authorization });
  }

  async createConfigChange(req: CreateConfigChangeRequest): Promise<Transaction> {
    const { u, ws, key } = await this.#activeUser(req.apiUserId);
    if (!(CONFIG_CHANGE_TYPES as readonly string[]).includes(req.type)) throw invalid(`type must be one of ${CONFIG_CHANGE_TYPES.join(', ')}`, 'ERR_INVALID_CONFIG_CHANGE_TYPE');
    const extra = req.extraInfoJson === '' ? '{}' : req.extraInfoJson;
    let parsed: unknown;
    try {
      parsed = JSON.parse(extra);
    } catch {
      throw invalid('extra_info_json is not JSON');
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalid('extra_info_json must be a JSON object');
    const requestId = this.#requestId(req.requestId);
    const ccr: ConfigChangeRequest = {
      requestId, workspaceId: ws.workspaceId, apiUserId: u.apiUserId, expiresAtMs: this.#expiresAt(req.expiresInS), type: req.type, extraInfoJson: extra,
    };
    const bytes = ConfigChangeRequest.encode(ccr).finish();
    const tx: Transaction = {
      requestId, workspaceId: ws.workspaceId, apiUserId: u.apiUserId, kind: 'CONFIG_CHANGE', status: 'REQUEST_STATUS_UNSPECIFIED', reason: '',
      rawTx: '', signedTx: '', from: '', to: '', amountWei: '', traceId: '', createdAtMs: this.#o.clock.now(), signatures: [], keyId: '', path: [],
    };
    const authorization = await signSubmission(key, { issuer: ws.issuer, apiUserId: u.apiUserId, request: bytes, nonce: randomUUID(), nowMs: this.#o.clock.now() });
    return this.#submit(tx, 'submitConfigChange', { request: Buffer.from(bytes), authorization });
  }

  async #submit(tx: Transaction, method: 'submitTransaction' | 'submitConfigChange', body: { request: Buffer; authorization: string }): Promise<Transaction> {
    const existing = await this.#o.state.transactions.get(tx.requestId);
    if (existing) throw new WorkspaceError('ERR_ALREADY_EXISTS', `request ${tx.requestId} already exists`, grpc.status.ALREADY_EXISTS);
    // Recorded before submitting, so a crash after intake accepted it still leaves a record to resume.
    if ((await this.#o.state.transactions.create(tx.requestId, tx)) === undefined) {
      throw new WorkspaceError('ERR_ALREADY_EXISTS', `request ${tx.requestId} already exists`, grpc.status.ALREADY_EXISTS);
    }
    let res: SubmitResponse;
    try {
      res = await unary(this.#intake, method, body, {
        deadlineMs: SUBMIT_DEADLINE_MS,
        spanAttributes: { 'cosigner.request_id': tx.requestId, 'cosigner.api_user': tx.apiUserId, 'cosigner.workspace_id': tx.workspaceId, ...(tx.keyId ? { 'cosigner.key_id': tx.keyId } : {}) },
      });
    } catch (e) {
      const err = fromIntake(e);
      if (err.code === 'ERR_INTAKE_UNAVAILABLE') {
        // Outcome unknown (intake may have admitted it before the connection failed): keep the
        // record open and let the watcher find out; it fails the record if intake never saw it.
        await this.#update(tx.requestId, (t) => ({ ...t, reason: `submission outcome unknown: ${err.message}` }));
        this.#watch(tx.requestId);
      } else {
        await this.#update(tx.requestId, (t) => ({ ...t, status: 'FAILED', reason: `${err.code}: ${err.message}` }));
      }
      throw err;
    }
    const updated = res.state ? await this.#applyState(tx.requestId, res.state) : tx;
    if (!isTerminal(updated)) this.#watch(tx.requestId);
    return updated;
  }

  async getTransaction(requestId: string): Promise<Transaction> {
    if (!REQUEST_ID_RE.test(requestId)) throw invalid('request_id is malformed');
    const t = await this.#o.state.transactions.get(requestId);
    if (!t) throw notFound(`transaction ${requestId} not found`, 'ERR_TRANSACTION_NOT_FOUND');
    return t.value;
  }

  async #update(requestId: string, fn: (t: Transaction) => Transaction | undefined): Promise<Transaction> {
    const r = await this.#o.state.transactions.modify(requestId, (cur) => (cur ? fn(cur) : undefined));
    if (!r) throw notFound(`transaction ${requestId} not found`);
    return r.value;
  }

  /** Folds intake's status into the stored Transaction; never moves a terminal record. */
  async #applyState(requestId: string, s: RequestState): Promise<Transaction> {
    let assembled: { signedTx: string; from: string } | undefined;
    let assembleError = '';
    if (s.status === 'SIGNED') {
      const t = await this.getTransaction(requestId);
      const sig = s.signatures[0];
      if (t.kind === 'TRANSACTION' && sig && t.rawTx && sig.algorithm === 'ECDSA_SECP256K1') {
        try {
          assembled = await assembleSigned(t.rawTx as Hex, sig);
        } catch (e) {
          assembleError = `cannot assemble the signed transaction: ${(e as Error).message}`;
        }
      }
    }
    return this.#update(requestId, (t) => {
      if (isTerminal(t)) return undefined;
      const status: RequestStatus = s.status;
      // Transaction has no error-code field: keep the stable code in front of the reason.
      const reason = s.errorCode ? `${s.errorCode}${s.reason ? `: ${s.reason}` : ''}` : s.reason;
      if (status === t.status && reason === t.reason && s.traceId === t.traceId) return undefined;
      const next: Transaction = { ...t, status, reason: reason || t.reason, traceId: s.traceId || t.traceId };
      if (status === 'SIGNED') {
        next.signatures = s.signatures;
        if (assembled) {
          next.signedTx = assembled.signedTx;
          next.from = assembled.from;
        } else if (assembleError) {
          next.reason = assembleError;
        }
      }
      return next;
    });
  }

  /** Watches intake until the request is terminal, reconnecting with backoff. */
  #watch(requestId: string): void {
    if (this.#stopped || this.#watching.has(requestId)) return;
    this.#watching.set(requestId, undefined);
    const task = (async () => {
      let delay = WATCH_RETRY_MIN_MS;
      while (!this.#stopped) {
        const done = await new Promise<boolean>((resolve) => {
          const stream = this.#intake.watchRequest({ requestId }, this.#md()) as grpc.ClientReadableStream<RequestState>;
          this.#watching.set(requestId, stream);
          let chain: Promise<boolean> = Promise.resolve(false);
          stream.on('data', (s: RequestState) => {
            delay = WATCH_RETRY_MIN_MS;
            chain = chain.then(async (prev) => {
              if (prev) return true;
              const t = await this.#applyState(requestId, s).catch((e: unknown) => {
                this.#o.log.warn('transaction update failed', { requestId, err: e });
                return undefined;
              });
              return t !== undefined && isTerminal(t);
            });
          });
          const finish = (err?: grpc.ServiceError): void => {
            void chain.then(async (terminal) => {
              if (!terminal && err?.code === grpc.status.NOT_FOUND) {
                // Intake answers NOT_FOUND until its projector has recorded an admitted request,
                // so NOT_FOUND is final only for a submission whose outcome we never learned,
                // and only after a grace period.
                const t = await this.getTransaction(requestId).catch(() => undefined);
                if (t && t.status === 'REQUEST_STATUS_UNSPECIFIED' && this.#o.clock.now() - t.createdAtMs > UNKNOWN_SUBMISSION_GRACE_MS) {
                  await this.#update(requestId, (x) => (isTerminal(x) ? undefined : { ...x, status: 'FAILED', reason: 'ERR_INTAKE_UNKNOWN: the request never reached intake' })).catch(() => undefined);
                  terminal = true;
                }
              }
              if (terminal) stream.cancel();
              resolve(terminal);
            });
          };
          stream.on('error', (e: grpc.ServiceError) => finish(e));
          stream.on('end', () => finish());
        });
        if (done) break;
        if (this.#stopped) break;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(WATCH_RETRY_MAX_MS, delay * 2);
      }
      this.#watching.delete(requestId);
    })();
    this.#tasks.add(task);
    void task.finally(() => this.#tasks.delete(task));
  }

  /** Resumes watching every stored transaction that is not terminal (after a restart). */
  async resume(): Promise<number> {
    let n = 0;
    for (const id of await this.#o.state.transactions.keys()) {
      const t = await this.#o.state.transactions.get(id);
      // Includes records that never got intake's answer (a crash mid-submit): intake may have it.
      if (t && !isTerminal(t.value)) {
        this.#watch(id);
        n++;
      }
    }
    return n;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const s of this.#watching.values()) s?.cancel();
    await Promise.allSettled([...this.#tasks]);
    closeClient(this.#intake);
  }
}
