/**
 * Verifying a workspace JWT (pairing token, request submission): the one place that does it.
 *
 * Order matters (RFC 8725 "JWT Best Current Practices" §2.1, §3.1): the algorithm is checked
 * against an allow-list before any key is chosen, so `alg: none` and HS256 "keyed" with a public
 * key never reach a verifier; the issuer selects the key set, so a token can only be verified
 * with the keys of the workspace it claims to come from; then signature, `aud`, `exp`/`nbf`
 * (with a small clock tolerance, RFC 7519 §4.1.4-5), and the presence of `jti`/`sub`.
 */
import * as jose from 'jose';
import { type IssuerEntry, type Jwks, type PlatformEntry, type TrustConfig, describeTrust, platformTls } from './config.ts';
import { TrustError } from './errors.ts';
import { createGrpcKeysFetcher, type KeysFetcher } from './keys.ts';

/** The only signature algorithms a workspace may use (asymmetric, no RSA-PKCS1, no HMAC). */
export const ALLOWED_ALGORITHMS = ['ES256', 'EdDSA'] as const;
export const DEFAULT_CLOCK_TOLERANCE_S = 30;
/** Keys of a platform workspace are refreshed after this long even if they still verify. */
export const DEFAULT_KEYS_TTL_MS = 5 * 60_000;
/** At most one refetch per workspace in this window when a token names an unknown `kid`. */
export const DEFAULT_REFETCH_MIN_INTERVAL_MS = 10_000;
/** An issuer its platform does not know is refused without asking again for this long. */
export const DEFAULT_NEGATIVE_TTL_MS = 30_000;
/** Bound of each per-issuer cache (keys, fetch times, unknown issuers). */
export const MAX_CACHED_ISSUERS = 10_000;
/** Tokens above this size are refused unparsed. */
export const MAX_TOKEN_LENGTH = 8192;

export interface VerifyOptions {
  /** Required `aud` ('cosigner-pairing', 'cosigner-intake'). */
  audience: string;
  /** When set, `iat` is required and `exp - iat` may not exceed it. */
  maxLifetimeS?: number;
  clockToleranceS?: number;
  /**
   * Evaluate `exp`/`nbf`/`iat` at this instant (ms) instead of now: used to re-verify, later, a
   * submission that was verified when it arrived (origination.ts); default: now.
   */
  atMs?: number;
}

export interface VerifiedToken {
  workspaceId: string;
  /** The token's `sub`. */
  apiUserId: string;
  issuer: string;
  claims: jose.JWTPayload & { jti: string; sub: string; iss: string; exp: number };
}

export interface Trust {
  verify(token: string, options: VerifyOptions): Promise<VerifiedToken>;
  /** Which issuers are trusted, readable. */
  describe(): string[];
  /** Whether an issuer is covered by the configuration (says nothing about keys). */
  isTrustedIssuer(issuer: string): boolean;
  close(): void;
}

export interface TrustOptions {
  /** Key source for platform entries; default: gRPC GetPublicKeys. */
  fetchKeys?: KeysFetcher;
  /** Injected clock (ms since epoch). */
  now?: () => number;
  keysTtlMs?: number;
  refetchMinIntervalMs?: number;
  negativeTtlMs?: number;
}

interface CachedKeys {
  keySet: ReturnType<typeof jose.createLocalJWKSet>;
  fetchedAt: number;
}

function algOf(token: string): string {
  let header: jose.ProtectedHeaderParameters;
  try {
    header = jose.decodeProtectedHeader(token);
  } catch (e) {
    throw new TrustError('ERR_TOKEN_MALFORMED', 'token is not a compact JWS', { cause: e });
  }
  const alg = header.alg;
  if (typeof alg !== 'string' || !(ALLOWED_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new TrustError('ERR_TOKEN_ALG', `algorithm ${JSON.stringify(alg ?? null)} is not allowed (allowed: ${ALLOWED_ALGORITHMS.join(', ')})`);
  }
  if (header.crit !== undefined) throw new TrustError('ERR_TOKEN_MALFORMED', 'crit header parameters are not supported');
  return alg;
}

function issuerOf(token: string): string {
  let claims: jose.JWTPayload;
  try {
    claims = jose.decodeJwt(token);
  } catch (e) {
    throw new TrustError('ERR_TOKEN_MALFORMED', 'token payload is not a JWT claims set', { cause: e });
  }
  if (typeof claims.iss !== 'string' || claims.iss === '') throw new TrustError('ERR_TOKEN_ISSUER', 'token has no issuer');
  return claims.iss;
}

/** Maps a jose verification failure to our codes; anything unexpected becomes MALFORMED (refused). */
function mapJoseError(e: unknown): TrustError {
  if (e instanceof TrustError) return e;
  if (e instanceof jose.errors.JWTExpired) {
    // maxTokenAge failures also surface as JWTExpired (claim "iat").
    return new TrustError('ERR_TOKEN_EXPIRED', e.claim === 'iat' ? 'token is too old' : 'token has expired', { cause: e });
  }
  if (e instanceof jose.errors.JWTClaimValidationFailed) {
    if (e.reason === 'missing') return new TrustError('ERR_TOKEN_MALFORMED', `token lacks the "${e.claim}" claim`, { cause: e });
    switch (e.claim) {
      case 'nbf': return new TrustError('ERR_TOKEN_NOT_YET_VALID', 'token is not yet valid', { cause: e });
      case 'iat': return new TrustError('ERR_TOKEN_NOT_YET_VALID', 'token was issued in the future', { cause: e });
      case 'aud': return new TrustError('ERR_TOKEN_AUDIENCE', 'token is for another audience', { cause: e });
      case 'iss': return new TrustError('ERR_TOKEN_ISSUER', 'token has an unexpected issuer', { cause: e });
      default: return new TrustError('ERR_TOKEN_MALFORMED', `token claim "${e.claim}" is invalid`, { cause: e });
    }
  }
  if (e instanceof jose.errors.JOSEAlgNotAllowed) return new TrustError('ERR_TOKEN_ALG', 'algorithm not allowed', { cause: e });
  if (e instanceof jose.errors.JWSSignatureVerificationFailed) return new TrustError('ERR_TOKEN_SIGNATURE', 'signature does not verify', { cause: e });
  if (e instanceof jose.errors.JWKSNoMatchingKey) return new TrustError('ERR_TOKEN_SIGNATURE', 'no key of the workspace matches the token', { cause: e });
  if (e instanceof jose.errors.JWKSMultipleMatchingKeys) return new TrustError('ERR_TOKEN_SIGNATURE', 'token names no kid and the workspace has several keys', { cause: e });
  return new TrustError('ERR_TOKEN_MALFORMED', 'token is malformed', { cause: e });
}

/**
 * Builds the verifier for a trust configuration. Platform keys are fetched lazily, cached
 * `keysTtlMs`, and refetched (at most once per `refetchMinIntervalMs` per workspace) when a token
 * names a key the cache does not hold, so a workspace can rotate keys without a restart.
 */
export function createTrust(config: TrustConfig, options: TrustOptions = {}): Trust {
  const now = options.now ?? Date.now;
  const ttl = options.keysTtlMs ?? DEFAULT_KEYS_TTL_MS;
  const minInterval = options.refetchMinIntervalMs ?? DEFAULT_REFETCH_MIN_INTERVAL_MS;
  const ownFetcher = options.fetchKeys ? undefined : createGrpcKeysFetcher({ tls: platformTls(config) });
  const fetchKeys: KeysFetcher = options.fetchKeys ?? ownFetcher!.fetch;

  const byIssuer = new Map<string, { entry: IssuerEntry; keySet: ReturnType<typeof jose.createLocalJWKSet> }>();
  const platforms: PlatformEntry[] = [];
  for (const e of config.entries) {
    if (e.kind === 'issuer') byIssuer.set(e.issuer, { entry: e, keySet: jose.createLocalJWKSet(e.jwks as jose.JSONWebKeySet) });
    else platforms.push(e);
  }
  const cache = new Map<string, CachedKeys>();
  const lastFetch = new Map<string, number>();
  // Issuers the platform said it does not know: not asked again for a while, so tokens with
  // made-up issuers cannot turn every verification into a call to the platform.
  const unknown = new Map<string, number>();
  const negativeTtl = options.negativeTtlMs ?? DEFAULT_NEGATIVE_TTL_MS;
  const remember = <V>(m: Map<string, V>, k: string, v: V): void => {
    m.delete(k);
    m.set(k, v);
    // Maps iterate in insertion order: drop the oldest beyond the bound.
    while (m.size > MAX_CACHED_ISSUERS) m.delete(m.keys().next().value as string);
  };
  const inflight = new Map<string, Promise<CachedKeys>>();

  const inlineWorkspaceIds = new Set(config.entries.flatMap((e) => (e.kind === 'issuer' ? [e.workspaceId] : [])));
  const platformFor = (issuer: string): { p: PlatformEntry; workspaceId: string } | undefined => {
    for (const p of platforms) {
      if (issuer.startsWith(p.issuerPrefix)) {
        const workspaceId = issuer.slice(p.issuerPrefix.length);
        // A workspace id an inline issuer entry already names belongs to that issuer only.
        if (/^[A-Za-z0-9._-]{1,128}$/.test(workspaceId) && !inlineWorkspaceIds.has(workspaceId)) return { p, workspaceId };
      }
    }
    return undefined;
  };

  const load = (p: PlatformEntry, issuer: string, workspaceId: string): Promise<CachedKeys> => {
    const key = `${p.platform}|${issuer}`;
    let f = inflight.get(key);
    if (f) return f;
    f = (async () => {
      remember(lastFetch, key, now());
      let res: { issuer: string; jwksJson: string };
      try {
        res = await fetchKeys(p.platform, workspaceId);
      } catch (e) {
        if (e instanceof TrustError && e.code === 'ERR_WORKSPACE_UNTRUSTED') remember(unknown, key, now());
        if (e instanceof TrustError) throw e;
        throw new TrustError('ERR_KEYS_UNAVAILABLE', `cannot fetch the keys of workspace ${workspaceId}`, { cause: e });
      }
      // The platform must vouch that this workspace's tokens carry exactly this issuer.
      if (res.issuer !== issuer) throw new TrustError('ERR_TOKEN_ISSUER', `platform reports issuer ${res.issuer} for workspace ${workspaceId}`);
      let jwks: Jwks;
      try {
        jwks = JSON.parse(res.jwksJson) as Jwks;
      } catch (e) {
        throw new TrustError('ERR_KEYS_UNAVAILABLE', 'platform returned keys that are not JSON', { cause: e });
      }
      const c: CachedKeys = { keySet: jose.createLocalJWKSet(jwks as jose.JSONWebKeySet), fetchedAt: now() };
      remember(cache, key, c);
      unknown.delete(key);
      return c;
    })().finally(() => inflight.delete(key));
    inflight.set(key, f);
    return f;
  };

  const verifyWith = async (token: string, keySet: ReturnType<typeof jose.createLocalJWKSet>, issuer: string, alg: string, o: VerifyOptions) => {
    const res = await jose.jwtVerify(token, keySet, {
      algorithms: [alg],
      issuer,
      audience: o.audience,
      clockTolerance: o.clockToleranceS ?? DEFAULT_CLOCK_TOLERANCE_S,
      requiredClaims: ['exp', 'jti', 'sub'],
      currentDate: new Date(o.atMs ?? now()),
    });
    return res.payload;
  };

  return {
    describe: () => describeTrust(config),
    isTrustedIssuer: (issuer) => byIssuer.has(issuer) || platformFor(issuer) !== undefined,
    close: () => ownFetcher?.close(),
    async verify(token, o) {
      if (typeof token !== 'string' || token.length === 0) throw new TrustError('ERR_TOKEN_MALFORMED', 'no token');
      if (token.length > MAX_TOKEN_LENGTH) throw new TrustError('ERR_TOKEN_MALFORMED', 'token too large');
      const alg = algOf(token);
      const issuer = issuerOf(token);
      let payload: jose.JWTPayload;
      let workspaceId: string;
      const inline = byIssuer.get(issuer);
      try {
        if (inline) {
          workspaceId = inline.entry.workspaceId;
          payload = await verifyWith(token, inline.keySet, issuer, alg, o);
        } else {
          const pf = platformFor(issuer);
          if (!pf) throw new TrustError('ERR_WORKSPACE_UNTRUSTED', `issuer ${issuer} is not a trusted workspace`);
          workspaceId = pf.workspaceId;
          const key = `${pf.p.platform}|${issuer}`;
          const refusedAt = unknown.get(key);
          if (refusedAt !== undefined && now() - refusedAt < negativeTtl) throw new TrustError('ERR_WORKSPACE_UNTRUSTED', `issuer ${issuer} is not a workspace of its platform`);
          let c = cache.get(key);
          if (!c || now() - c.fetchedAt > ttl) c = await load(pf.p, issuer, workspaceId);
          try {
            payload = await verifyWith(token, c.keySet, issuer, alg, o);
          } catch (e) {
            const rate = now() - (lastFetch.get(key) ?? 0) >= minInterval;
            if (!(e instanceof jose.errors.JWKSNoMatchingKey) || !rate) throw e;
            c = await load(pf.p, issuer, workspaceId);
            payload = await verifyWith(token, c.keySet, issuer, alg, o);
          }
        }
      } catch (e) {
        throw mapJoseError(e);
      }
      if (typeof payload.jti !== 'string' || payload.jti === '') throw new TrustError('ERR_TOKEN_MALFORMED', 'token lacks a jti');
      if (typeof payload.sub !== 'string' || payload.sub === '') throw new TrustError('ERR_TOKEN_MALFORMED', 'token lacks a subject');
      if (o.maxLifetimeS !== undefined) {
        if (typeof payload.iat !== 'number') throw new TrustError('ERR_TOKEN_MALFORMED', 'token lacks "iat"');
        if ((payload.exp as number) - payload.iat > o.maxLifetimeS) throw new TrustError('ERR_TOKEN_MALFORMED', `token lifetime exceeds ${o.maxLifetimeS} s`);
        const tol = o.clockToleranceS ?? DEFAULT_CLOCK_TOLERANCE_S;
        if (payload.iat > (o.atMs ?? now()) / 1000 + tol) throw new TrustError('ERR_TOKEN_NOT_YET_VALID', 'token was issued in the future');
      }
      return {
        workspaceId,
        apiUserId: payload.sub,
        issuer,
        claims: payload as VerifiedToken['claims'],
      };
    },
  };
}
