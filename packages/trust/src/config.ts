/**
 * The co-signer's list of trusted workspaces (env `COSIGNER_TRUST`), validated once at start.
 *
 * Two kinds of entry:
 * - `{"issuer": "<exact iss>", "jwks": {"keys": [...]}, "workspaceId"?: "...", "platform"?: "host:port"}`:
 *   keys given inline (`platform`, when given, is where pairings with it are completed);
 * - `{"platform": "<host:port>", "issuerPrefix": "cosigner-sim/", "tls"?: true | {"caFile", "serverName"}}`: every issuer starting with the
 *   prefix is a workspace of that platform (the rest of `iss` is its id); its keys are fetched with
 *   WorkspaceService.GetPublicKeys and cached.
 */
import { TrustError } from './errors.ts';

/** A public JWK set (RFC 7517 §5). */
export interface Jwks {
  keys: JwkPublic[];
}

/** The fields of a public JWK we accept (EC P-256 or OKP Ed25519). */
export interface JwkPublic {
  kty: string;
  crv?: string;
  x?: string;
  y?: string;
  kid?: string;
  alg?: string;
  use?: string;
  [k: string]: unknown;
}

export interface IssuerEntry {
  kind: 'issuer';
  issuer: string;
  jwks: Jwks;
  /** Workspace id reported for tokens of this issuer; default: the issuer after its last '/'. */
  workspaceId: string;
  /** Optional host:port of the issuer's WorkspaceService (where a pairing is completed). */
  platform?: string;
  /** TLS towards `platform`; plaintext (loopback) when absent. */
  tls?: PlatformTls;
}

/** TLS towards a WorkspaceService: CA of its certificate (system roots when absent). */
export interface PlatformTls {
  caFile?: string;
  /** Expected server name when it differs from the address host. */
  serverName?: string;
}

export interface PlatformEntry {
  kind: 'platform';
  /** host:port of a WorkspaceService. */
  platform: string;
  issuerPrefix: string;
  tls?: PlatformTls;
}

export type TrustEntry = IssuerEntry | PlatformEntry;

export interface TrustConfig {
  entries: TrustEntry[];
}

const HOST_PORT = /^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/;
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

function fail(msg: string): never {
  throw new TrustError('ERR_TRUST_CONFIG', `COSIGNER_TRUST: ${msg}`);
}

function parseJwks(v: unknown, where: string): Jwks {
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      fail(`${where}: jwks is not JSON`);
    }
  }
  if (!v || typeof v !== 'object' || !Array.isArray((v as { keys?: unknown }).keys)) fail(`${where}: jwks must be {"keys": [...]}`);
  const keys = (v as { keys: unknown[] }).keys;
  if (keys.length === 0) fail(`${where}: jwks has no keys`);
  const out: JwkPublic[] = [];
  for (const k of keys) {
    if (!k || typeof k !== 'object') fail(`${where}: a key is not an object`);
    const jwk = k as JwkPublic;
    // A private key in a trust list is a leak waiting to happen; refuse it loudly.
    if (PRIVATE_JWK_MEMBERS.some((m) => m in jwk)) fail(`${where}: a key has private or symmetric members`);
    const ok = (jwk.kty === 'EC' && jwk.crv === 'P-256') || (jwk.kty === 'OKP' && jwk.crv === 'Ed25519');
    if (!ok) fail(`${where}: only EC P-256 and OKP Ed25519 keys are accepted`);
    out.push({ ...jwk });
  }
  return { keys: out };
}

function parseTls(v: unknown, where: string): { tls?: PlatformTls } {
  if (v === undefined || v === false) return {};
  if (v === true) return { tls: {} };
  if (!v || typeof v !== 'object') fail(`${where}: tls must be true or {"caFile"?, "serverName"?}`);
  const o = v as Record<string, unknown>;
  const tls: PlatformTls = {};
  if (o.caFile !== undefined) {
    if (typeof o.caFile !== 'string' || o.caFile === '') fail(`${where}: tls.caFile must be a path`);
    tls.caFile = o.caFile;
  }
  if (o.serverName !== undefined) {
    if (typeof o.serverName !== 'string' || o.serverName === '') fail(`${where}: tls.serverName must be a host name`);
    tls.serverName = o.serverName;
  }
  return { tls };
}

function defaultWorkspaceId(issuer: string): string {
  const i = issuer.lastIndexOf('/');
  return i >= 0 && i < issuer.length - 1 ? issuer.slice(i + 1) : issuer;
}

/**
 * Parses and validates `COSIGNER_TRUST` (a JSON string, or the already parsed value). An empty or
 * missing value means "trust nobody" (every token is refused with ERR_WORKSPACE_UNTRUSTED).
 * Throws TrustError ERR_TRUST_CONFIG on anything malformed or contradictory.
 */
export function parseTrustConfig(json: string | unknown): TrustConfig {
  let v: unknown = json;
  if (typeof json === 'string') {
    if (json.trim() === '') return { entries: [] };
    try {
      v = JSON.parse(json);
    } catch {
      fail('not valid JSON');
    }
  }
  if (v === undefined || v === null) return { entries: [] };
  if (!Array.isArray(v)) fail('must be a JSON list of entries');
  const entries: TrustEntry[] = [];
  const issuers = new Set<string>();
  const prefixes: string[] = [];
  const workspaceIds = new Map<string, string>();
  v.forEach((e: unknown, i: number) => {
    const where = `entry ${i}`;
    if (!e || typeof e !== 'object') fail(`${where} is not an object`);
    const o = e as Record<string, unknown>;
    if (typeof o.issuer === 'string') {
      if (o.issuerPrefix !== undefined) fail(`${where}: give either issuer+jwks or platform+issuerPrefix`);
      if (o.platform !== undefined && (typeof o.platform !== 'string' || !HOST_PORT.test(o.platform))) fail(`${where}: platform must be host:port`);
      if (o.issuer === '') fail(`${where}: empty issuer`);
      if (issuers.has(o.issuer)) fail(`${where}: issuer ${o.issuer} listed twice`);
      issuers.add(o.issuer);
      const workspaceId = typeof o.workspaceId === 'string' && o.workspaceId !== '' ? o.workspaceId : defaultWorkspaceId(o.issuer);
      // API users and keys are scoped by workspace id: two issuers mapped to one id could act for
      // each other's API users, so a configuration that does that is refused at start.
      if (workspaceIds.has(workspaceId)) fail(`${where}: workspace id ${workspaceId} is already mapped to issuer ${workspaceIds.get(workspaceId)}`);
      workspaceIds.set(workspaceId, o.issuer);
      entries.push({ kind: 'issuer', issuer: o.issuer, jwks: parseJwks(o.jwks, where), workspaceId, ...(typeof o.platform === 'string' ? { platform: o.platform } : {}), ...parseTls(o.tls, where) });
    } else if (typeof o.platform === 'string') {
      if (!HOST_PORT.test(o.platform)) fail(`${where}: platform must be host:port`);
      if (typeof o.issuerPrefix !== 'string' || o.issuerPrefix === '') fail(`${where}: platform needs a non-empty issuerPrefix`);
      for (const p of prefixes) {
        if (p.startsWith(o.issuerPrefix) || o.issuerPrefix.startsWith(p)) fail(`${where}: issuerPrefix overlaps ${p}`);
      }
      prefixes.push(o.issuerPrefix);
      entries.push({ kind: 'platform', platform: o.platform, issuerPrefix: o.issuerPrefix, ...parseTls(o.tls, where) });
    } else {
      fail(`${where}: needs "issuer" (with "jwks") or "platform" (with "issuerPrefix")`);
    }
  });
  // An inline issuer that a platform prefix also covers would be one workspace id reachable
  // through two trust paths (the prefix maps `<prefix><id>` to workspace `<id>`).
  for (const e of entries) {
    if (e.kind !== 'issuer') continue;
    const p = prefixes.find((x) => e.issuer.startsWith(x));
    if (p !== undefined) fail(`issuer ${e.issuer} is also covered by the platform issuerPrefix ${p}`);
  }
  return { entries };
}

/** TLS settings per platform address (from whichever entries name it). */
export function platformTls(config: TrustConfig): Map<string, PlatformTls> {
  const out = new Map<string, PlatformTls>();
  for (const e of config.entries) if (e.platform && e.tls) out.set(e.platform, e.tls);
  return out;
}

/** A readable list of who is trusted (issuers and `prefix*@platform`), for info endpoints and logs. */
export function describeTrust(config: TrustConfig): string[] {
  return config.entries.map((e) => (e.kind === 'issuer' ? e.issuer : `${e.issuerPrefix}*@${e.platform}`));
}
