/** KeyService (proto/cosigner/v1/keys.proto) over gRPC, admin-token authenticated. */
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import {
  KeyServiceService, type BackupKeyRequest, type BackupKeyResponse, type CreateKeyRequest, type GetPublicKeyRequest, type GetPublicKeyResponse,
  type KeyInfo, type KeyServiceServer, type ListKeysRequest, type ListKeysResponse, type PoolStatusRequest, type PoolStatusResponse,
  type RefreshKeyRequest, type RestoreKeyRequest,
} from '@cosigner/proto';
import { HealthDefinition, HealthService, ServingStatus } from '@cosigner/platform';
import { DEFAULT_PARTIES, PartyError, schemeFor, supportedAlgorithms, type Algorithm } from '@cosigner/party';
import type { KeyManager } from './manager.ts';
import { derive } from './keys.ts';

const STATUS: Record<string, grpc.status> = {
  ERR_INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  ERR_KEY_NOT_FOUND: grpc.status.NOT_FOUND,
  ERR_KEY_EXISTS: grpc.status.ALREADY_EXISTS,
  ERR_WRONG_WORKSPACE: grpc.status.PERMISSION_DENIED,
  ERR_UNSUPPORTED: grpc.status.UNIMPLEMENTED,
  ERR_SESSION_TIMEOUT: grpc.status.UNAVAILABLE,
  ERR_UNKNOWN_PARTY: grpc.status.UNAVAILABLE,
  ERR_SESSION_REFUSED: grpc.status.FAILED_PRECONDITION,
  ERR_MPC_ABORT: grpc.status.ABORTED,
  ERR_BACKUP: grpc.status.INVALID_ARGUMENT,
  ERR_UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
};

function toGrpc(e: unknown): Partial<grpc.StatusObject> {
  const code = (e as { code?: unknown }).code;
  const c = typeof code === 'string' ? code : 'ERR_INTERNAL';
  const md = new grpc.Metadata();
  md.set('x-cosigner-error-code', c);
  const msg = c === 'ERR_INTERNAL' ? 'internal error' : (e as Error).message.split('\n')[0]!;
  return { code: STATUS[c] ?? grpc.status.INTERNAL, details: msg, metadata: md };
}

export function keyService(m: KeyManager, tokens: string[]): KeyServiceServer {
  const wrap = <Req, Res>(f: (req: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> => (call, cb) => {
    const auth = String(call.metadata.get('authorization')[0] ?? '');
    const tok = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (tokens.length === 0 || !tokens.includes(tok)) {
      const md = new grpc.Metadata();
      md.set('x-cosigner-error-code', 'ERR_UNAUTHENTICATED');
      cb({ code: grpc.status.UNAUTHENTICATED, details: 'admin token required', metadata: md } as grpc.ServiceError);
      return;
    }
    f(call.request).then((r) => cb(null, r), (e: unknown) => cb(toGrpc(e) as grpc.ServiceError));
  };
  return {
    createKey: wrap(async (r: CreateKeyRequest): Promise<KeyInfo> => {
      if (!r.workspaceId || !/^[A-Za-z0-9_.:-]{1,128}$/.test(r.workspaceId)) throw new PartyError('ERR_INVALID_ARGUMENT', 'workspace_id is required');
      if (!supportedAlgorithms().includes(r.algorithm as Algorithm)) throw new PartyError(r.algorithm === 'ALGORITHM_UNSPECIFIED' ? 'ERR_INVALID_ARGUMENT' : 'ERR_UNSUPPORTED', `algorithm ${r.algorithm} is not available`);
      const n = DEFAULT_PARTIES.length;
      if (r.threshold !== 0 && (r.threshold < 2 || r.threshold > n)) throw new PartyError('ERR_INVALID_ARGUMENT', `threshold must be 0 (all) or 2..${n}`);
      if (r.keyId && !/^[A-Za-z0-9_-]{1,64}$/.test(r.keyId)) throw new PartyError('ERR_INVALID_ARGUMENT', 'key_id: 1-64 of [A-Za-z0-9_-]');
      return m.createKey(r.workspaceId, r.algorithm as Algorithm, r.threshold || n, r.keyId || `k_${randomBytes(8).toString('hex')}`);
    }),
    listKeys: wrap(async (r: ListKeysRequest): Promise<ListKeysResponse> => ({ keys: (await m.keys.list()).filter((k) => !r.workspaceId || k.workspaceId === r.workspaceId) })),
    getPublicKey: wrap(async (r: GetPublicKeyRequest): Promise<GetPublicKeyResponse> => {
      const k = await m.keys.get(r.keyId);
      if (!k) throw new PartyError('ERR_KEY_NOT_FOUND', `no key ${r.keyId}`);
      const d = derive(k.info, r.path);
      void schemeFor;
      return { keyId: r.keyId, path: r.path, publicKey: Buffer.from(d.publicKey), address: d.address, algorithm: k.info.algorithm };
    }),
    refreshKey: wrap(async (r: RefreshKeyRequest): Promise<KeyInfo> => m.refreshKey(r.keyId)),
    getPoolStatus: wrap(async (r: PoolStatusRequest): Promise<PoolStatusResponse> => ({ pools: m.pool.status(r.keyId || undefined) })),
    backupKey: wrap(async (r: BackupKeyRequest): Promise<BackupKeyResponse> => {
      if (!(await m.keys.get(r.keyId))) throw new PartyError('ERR_KEY_NOT_FOUND', `no key ${r.keyId}`);
      return { keyId: r.keyId, backup: Buffer.from(await m.node.enclave.backup(r.keyId, r.recoveryPublicKeyPem)) };
    }),
    restoreKey: wrap(async (r: RestoreKeyRequest): Promise<KeyInfo> => m.restore(r.backup, r.recoveryPrivateKeyPem)),
  };
}

/** KeyService plus the standard health service (`grpc.health.v1`), which needs no auth (probes). */
export async function startGrpc(svc: KeyServiceServer, host: string, port: number): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(KeyServiceService, svc);
  const health = new HealthService({ '': ServingStatus.SERVING, 'cosigner.v1.KeyService': ServingStatus.SERVING });
  server.addService(HealthDefinition, health.implementation() as unknown as grpc.UntypedServiceImplementation);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { server, port: bound };
}
