/**
 * KeyService (proto/cosigner/v1/keys.proto) on the platform's gRPC server: admin authentication
 * (bearer tokens and/or mTLS), a server span continuing the caller's trace, drain on shutdown, the
 * health service, and the one error mapping (a PartyError becomes a DomainError with the same
 * stable code; anything else is INTERNAL without internals).
 */
import { randomBytes } from 'node:crypto';
import { status as GrpcStatus } from '@grpc/grpc-js';
import {
  KeyServiceService, type BackupKeyRequest, type BackupKeyResponse, type CreateKeyRequest, type GetPublicKeyRequest, type GetPublicKeyResponse,
  type KeyInfo, type ListKeysRequest, type ListKeysResponse, type PoolStatusRequest, type PoolStatusResponse,
  type RefreshKeyRequest, type RestoreKeyRequest,
} from '@cosigner/proto';
import { DomainError, createServer, service, type GrpcServerHandle, type Logger, type ServerAuthConfig } from '@cosigner/platform';
import { DEFAULT_PARTIES, PartyError, parseAlgorithm } from '@cosigner/party';
import type { KeyManager } from './manager.ts';
import { derive } from './keys.ts';

/**
 * A party error at the KeyService boundary: its gRPC status comes from PARTY_ERROR_CODES (blamed
 * parties travel as the `culprits` detail). One the table marks INTERNAL (sealed-store corruption,
 * configuration) is not shown to the caller: the platform answers 'internal error' and logs it.
 */
export function toDomainError(e: unknown): unknown {
  if (!(e instanceof PartyError)) return e;
  if (e.grpcStatus === GrpcStatus.INTERNAL) return new Error(e.message, { cause: e });
  return new DomainError(e.code, e.message.split('\n')[0]!, { grpcStatus: e.grpcStatus, retryable: e.retryable, cause: e, details: { ...e.details } });
}

/** The KeyService handlers over a KeyManager. */
export function keyService(m: KeyManager) {
  const mapped = <Req, Res>(f: (req: Req) => Promise<Res>) => async (req: Req): Promise<Res> => {
    try {
      return await f(req);
    } catch (e) {
      throw toDomainError(e);
    }
  };
  return service(KeyServiceService, {
    createKey: mapped(async (r: CreateKeyRequest): Promise<KeyInfo> => {
      if (!r.workspaceId || !/^[A-Za-z0-9_.:-]{1,128}$/.test(r.workspaceId)) throw new PartyError('ERR_INVALID_ARGUMENT', 'workspace_id is required');
      const algorithm = parseAlgorithm(r.algorithm);
      const n = DEFAULT_PARTIES.length;
      if (r.threshold !== 0 && (r.threshold < 2 || r.threshold > n)) throw new PartyError('ERR_INVALID_ARGUMENT', `threshold must be 0 (all) or 2..${n}`);
      if (r.keyId && !/^[A-Za-z0-9_-]{1,64}$/.test(r.keyId)) throw new PartyError('ERR_INVALID_ARGUMENT', 'key_id: 1-64 of [A-Za-z0-9_-]');
      return m.createKey(r.workspaceId, algorithm, r.threshold || n, r.keyId || `k_${randomBytes(8).toString('hex')}`);
    }),
    listKeys: mapped(async (r: ListKeysRequest): Promise<ListKeysResponse> => ({ keys: (await m.keys.list()).filter((k) => !r.workspaceId || k.workspaceId === r.workspaceId) })),
    getPublicKey: mapped(async (r: GetPublicKeyRequest): Promise<GetPublicKeyResponse> => {
      const k = await m.keys.get(r.keyId);
      if (!k) throw new PartyError('ERR_KEY_NOT_FOUND', `no key ${r.keyId}`);
      const d = derive(k.info, r.path);
      return { keyId: r.keyId, path: r.path, publicKey: Buffer.from(d.publicKey), address: d.address, algorithm: k.info.algorithm };
    }),
    refreshKey: mapped(async (r: RefreshKeyRequest): Promise<KeyInfo> => m.refreshKey(r.keyId)),
    getPoolStatus: mapped(async (r: PoolStatusRequest): Promise<PoolStatusResponse> => ({ pools: m.pool.status(r.keyId || undefined) })),
    backupKey: mapped(async (r: BackupKeyRequest): Promise<BackupKeyResponse> => {
      if (!(await m.keys.get(r.keyId))) throw new PartyError('ERR_KEY_NOT_FOUND', `no key ${r.keyId}`);
      return { keyId: r.keyId, backup: Buffer.from(await m.node.backup(r.keyId, r.recoveryPublicKeyPem)) };
    }),
    restoreKey: mapped(async (r: RestoreKeyRequest): Promise<KeyInfo> => m.restore(r.backup, r.recoveryPrivateKeyPem)),
  });
}

/** KeyService plus the standard health service (`grpc.health.v1`, no auth: probes). */
export function startGrpc(m: KeyManager, o: { host: string; port: number; auth: ServerAuthConfig; logger?: Logger }): Promise<GrpcServerHandle> {
  return createServer({ services: [keyService(m)], host: o.host, port: o.port, auth: o.auth, ...(o.logger ? { logger: o.logger } : {}) });
}
