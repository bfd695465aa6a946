/**
 * Fetching a platform workspace's public keys (WorkspaceService.GetPublicKeys) for trust entries
 * of kind `platform`. The default fetcher opens one gRPC channel per platform and reuses it.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { WorkspaceServiceClient, type WorkspaceKeys } from '@cosigner/proto';
import type { PlatformTls } from './config.ts';
import { TrustError } from './errors.ts';

/** Deadline of one key fetch. */
export const DEFAULT_KEY_FETCH_TIMEOUT_MS = 5000;

/** Returns the workspace's issuer and its JWKS JSON, or throws. */
export type KeysFetcher = (platform: string, workspaceId: string) => Promise<{ issuer: string; jwksJson: string }>;

export interface GrpcKeysFetcher {
  fetch: KeysFetcher;
  close(): void;
}

/** Channel credentials and options for a platform's TLS settings (plaintext when absent). Reads the CA file. */
export function platformChannel(tls: PlatformTls | undefined): { credentials: grpc.ChannelCredentials; options: Partial<grpc.ClientOptions> } {
  if (!tls) return { credentials: grpc.credentials.createInsecure(), options: {} };
  return {
    credentials: grpc.credentials.createSsl(tls.caFile ? readFileSync(tls.caFile) : null),
    options: tls.serverName ? { 'grpc.ssl_target_name_override': tls.serverName } : {},
  };
}

/** A KeysFetcher over gRPC; `tls` gives per-platform TLS settings (plaintext on loopback otherwise). */
export function createGrpcKeysFetcher(o: { tls?: ReadonlyMap<string, PlatformTls>; timeoutMs?: number } = {}): GrpcKeysFetcher {
  const clients = new Map<string, WorkspaceServiceClient>();
  const client = (platform: string): WorkspaceServiceClient => {
    let c = clients.get(platform);
    if (!c) {
      const ch = platformChannel(o.tls?.get(platform));
      c = new WorkspaceServiceClient(platform, ch.credentials, ch.options);
      clients.set(platform, c);
    }
    return c;
  };
  return {
    fetch(platform, workspaceId) {
      return new Promise((resolve, reject) => {
        client(platform).getPublicKeys({ workspaceId }, new grpc.Metadata(), { deadline: Date.now() + (o.timeoutMs ?? DEFAULT_KEY_FETCH_TIMEOUT_MS) },
          (err: grpc.ServiceError | null, res: WorkspaceKeys) => {
            if (!err) return resolve({ issuer: res.issuer, jwksJson: res.jwksJson });
            if (err.code === grpc.status.NOT_FOUND) return reject(new TrustError('ERR_WORKSPACE_UNTRUSTED', `workspace ${workspaceId} is unknown to its platform`));
            reject(new TrustError('ERR_KEYS_UNAVAILABLE', `cannot fetch the keys of workspace ${workspaceId}: ${grpc.status[err.code] ?? err.code}`, { cause: err }));
          });
      });
    },
    close() {
      for (const c of clients.values()) c.close();
      clients.clear();
    },
  };
}
