/**
 * Authentication of admin gRPC calls: a bearer token (`authorization: Bearer <token>`) compared
 * in constant time against the configured tokens, or a client certificate verified by the TLS
 * handshake (mTLS: `ServerCredentials.createSsl(ca, ..., checkClientCertificate = true)`).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { ServerCredentials, type Metadata } from '@grpc/grpc-js';
import { DomainError, unauthenticated } from '../errors.ts';

export interface Principal {
  /** How the caller proved who it is. */
  kind: 'token' | 'mtls' | 'anonymous' | 'custom';
  /** Non-secret identifier: `token#<index>`, a certificate subject CN, or the custom authenticator's id. */
  id: string;
}

export interface ServerTlsConfig {
  /** PEM certificate chain and key of this server. */
  certPem: string | Buffer;
  keyPem: string | Buffer;
  /** PEM CA that signs client certificates; with `requireClientCert` this is mTLS. */
  caPem?: string | Buffer;
  requireClientCert?: boolean;
  /** Accepted client certificate subject CNs (admin calls); empty/undefined: any cert the CA signed. */
  allowedSubjects?: readonly string[];
}

export interface ServerAuthConfig {
  /** Accepted admin bearer tokens (secrets: come from config marked `secret`). */
  tokens?: readonly string[];
  tls?: ServerTlsConfig;
}

/** The part of a grpc-js server call authentication looks at. */
export interface AuthCall {
  getPeer(): string;
  getAuthContext(): { transportSecurityType?: string; sslPeerCertificate?: PeerCertificate };
}

export interface AuthInput {
  metadata: Metadata;
  call: AuthCall;
  /** Full method path, `/pkg.Service/Method`. */
  path: string;
}

/** A service-specific authenticator: returns the principal or throws a DomainError. */
export type Authenticator = (input: AuthInput) => Principal | Promise<Principal>;

/** `admin`: tokens / mTLS from the server's auth config; `none`: anyone (health). */
export type AuthPolicy = 'admin' | 'none' | Authenticator;

export const ANONYMOUS: Principal = Object.freeze({ kind: 'anonymous', id: 'anonymous' });

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * Index of the matching token or -1. Hashing first gives equal-length inputs to
 * `timingSafeEqual`; every token is compared (no early exit) so timing does not reveal which.
 */
export function matchToken(presented: string, tokens: readonly string[]): number {
  const p = digest(presented);
  let found = -1;
  tokens.forEach((t, i) => {
    if (timingSafeEqual(p, digest(t)) && found === -1) found = i;
  });
  return found;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** Authenticates an admin call; throws ERR_UNAUTHENTICATED (never says which check failed). */
export function authenticateAdmin(input: AuthInput, cfg: ServerAuthConfig): Principal {
  const raw = input.metadata.get('authorization')[0];
  if (typeof raw === 'string' && cfg.tokens && cfg.tokens.length > 0) {
    const m = BEARER.exec(raw);
    if (m) {
      const i = matchToken(m[1]!, cfg.tokens);
      if (i >= 0) return { kind: 'token', id: `token#${i}` };
    }
    throw unauthenticated('invalid credentials');
  }
  if (cfg.tls?.requireClientCert) {
    const cert = input.call.getAuthContext?.().sslPeerCertificate;
    // The handshake already verified the chain against caPem; here we only check who it is.
    if (cert && Object.keys(cert).length > 0) {
      const cnRaw = cert.subject?.CN;
      const cn = Array.isArray(cnRaw) ? cnRaw[0] ?? '' : cnRaw ?? '';
      const allowed = cfg.tls.allowedSubjects;
      if (!allowed || allowed.length === 0 || allowed.includes(cn)) return { kind: 'mtls', id: cn || 'client-cert' };
      throw new DomainError('ERR_PERMISSION_DENIED', 'client certificate not allowed');
    }
  }
  throw unauthenticated('credentials required');
}

/** Server credentials for the auth config: TLS (optionally mTLS) if configured, else insecure. */
export function serverCredentials(cfg: ServerAuthConfig | undefined): ServerCredentials {
  const tls = cfg?.tls;
  if (!tls) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(
    tls.caPem ? Buffer.from(tls.caPem) : null,
    [{ cert_chain: Buffer.from(tls.certPem), private_key: Buffer.from(tls.keyPem) }],
    tls.requireClientCert ?? false,
  );
}
