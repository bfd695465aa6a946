/**
 * Asking a callback handler (callback-protocol.md). JWT mode: POST the RS256 JWT as
 * `text/plain`, read the reply as text whatever its Content-Type, trim it, verify its RS256
 * signature with the handler's configured key and check `requestId` and `action`. TLS mode: plain
 * JSON over HTTPS to the pinned certificate. No redirects are followed (a 3xx is a non-200).
 */
import { createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject, X509Certificate } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { ApiUser, type CallbackConfig } from '@cosigner/proto';
import { SpanKind, traceparentOf, withSpan } from '@cosigner/platform';
import type { CallbackPayload } from './payload.ts';
import { EgressRefused, type EgressGuard } from './egress.ts';

export const CALLBACK_ACTIONS = ['APPROVE', 'REJECT', 'RETRY', 'IGNORE'] as const;
export type CallbackAction = (typeof CALLBACK_ACTIONS)[number];
/** Replies larger than this are refused (a handler answers with one short JWS). */
export const MAX_REPLY_BYTES = 64 * 1024;
export const MIN_RSA_BITS = 2048;
export const USER_AGENT = 'cosigner-callback-dispatcher/0.1';

/** A failed attempt: `reason` is one line for the audit record and the final FAILED reason. */
export class AttemptError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AttemptError';
    this.code = code;
  }
}

/** The callback config could not be turned into something we can call: fail closed. */
export class CallbackConfigError extends Error {
  readonly code = 'ERR_CALLBACK_CONFIG';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CallbackConfigError';
  }
}

export interface PreparedCallback {
  baseUrl: URL;
  mode: 'JWT' | 'TLS';
  handlerKey?: KeyObject;
  /** DER of the pinned certificate (TLS mode). */
  pinnedDer?: Buffer;
}

export interface CallbackReply {
  action: CallbackAction;
  rejectionReason: string;
  /** The reply as received (JWS in JWT mode, JSON text in TLS mode). */
  raw: string;
  status: number;
}

const prepared = new Map<string, PreparedCallback>();

/** Parses the API user's callback config once (cached by content); throws CallbackConfigError. */
export function prepareCallback(cb: CallbackConfig): PreparedCallback {
  const cacheKey = JSON.stringify(ApiUser.toJSON({ apiUserId: '', workspaceId: '', state: 'ACTIVE', pairedAtMs: 0, revision: 0, autoApprove: false, callback: cb }));
  const hit = prepared.get(cacheKey);
  if (hit) return hit;
  let baseUrl: URL;
  try {
    baseUrl = new URL(cb.url);
  } catch (e) {
    throw new CallbackConfigError('callback url is not a URL', { cause: e });
  }
  if (baseUrl.protocol !== 'http:' && baseUrl.protocol !== 'https:') throw new CallbackConfigError('callback url must be http(s)');
  let out: PreparedCallback;
  if (cb.mode === 'TLS') {
    if (baseUrl.protocol !== 'https:') throw new CallbackConfigError('TLS pinning mode needs an https url');
    try {
      out = { baseUrl, mode: 'TLS', pinnedDer: new X509Certificate(cb.certPem).raw };
    } catch (e) {
      throw new CallbackConfigError('pinned certificate does not parse', { cause: e });
    }
  } else {
    let key: KeyObject;
    try {
      key = createPublicKey(cb.publicKeyPem);
    } catch (e) {
      throw new CallbackConfigError('handler public key does not parse', { cause: e });
    }
    if (key.asymmetricKeyType !== 'rsa' || (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) {
      throw new CallbackConfigError(`handler key must be RSA >= ${MIN_RSA_BITS} bits`);
    }
    out = { baseUrl, mode: 'JWT', handlerKey: key };
  }
  if (prepared.size > 10_000) prepared.clear();
  prepared.set(cacheKey, out);
  return out;
}

/** The endpoint for a request kind: `<base>/v2/tx_sign_request` etc. (base path kept). */
export function endpoint(base: URL, path: string): URL {
  const u = new URL(base.toString());
  u.pathname = `${u.pathname.replace(/\/+$/, '')}${path}`;
  return u;
}

const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 256 });

/**
 * Connection-level failures (refused, reset, DNS, TLS handshake, timeout) all become this one
 * error: its text is the same whatever happened, so the audit record and the FAILED reason an
 * admin-token holder can read do not tell an open port from a closed or a filtered one. The
 * detail stays in the `cause` (logged by the dispatcher, not published).
 */
export function unreachable(cause?: unknown): AttemptError {
  if (cause instanceof AttemptError && (cause.code === 'ERR_CALLBACK_UNREACHABLE' || cause.code === 'ERR_CALLBACK_DESTINATION')) return cause;
  if (cause instanceof EgressRefused) return new AttemptError(cause.code, cause.message, { cause });
  return new AttemptError('ERR_CALLBACK_UNREACHABLE', 'no answer from the handler (unreachable, connection failed or timed out)', cause === undefined ? undefined : { cause });
}

function portOf(url: URL): number {
  return Number(url.port || (url.protocol === 'https:' ? 443 : 80));
}

/** A literal-IP host gets no lookup from node: it is checked here, before anything is dialled. */
function checkLiteral(url: URL, guard: EgressGuard | undefined): void {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (guard && net.isIP(host)) guard.check(host, portOf(url));
}

/** Second line of defence: the address the socket actually connected to. */
function checkSocket(s: net.Socket, url: URL, guard: EgressGuard | undefined): boolean {
  if (!guard) return true;
  const ip = s.remoteAddress;
  return ip !== undefined && guard.allows(ip, portOf(url));
}

/** Connects and checks the peer presents exactly the pinned certificate before anything is sent. */
function pinnedSocket(url: URL, pinnedDer: Buffer, timeoutMs: number, guard: EgressGuard | undefined): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    try {
      checkLiteral(url, guard);
    } catch (e) {
      reject(unreachable(e));
      return;
    }
    const s = tls.connect({
      host: url.hostname.replace(/^\[|\]$/g, ''), port: portOf(url), servername: /^[\d.]+$|:/.test(url.hostname) ? undefined : url.hostname,
      // The pin replaces CA validation: only this exact certificate is accepted.
      rejectUnauthorized: false,
      ...(guard ? { lookup: guard.lookupFor(portOf(url)) } : {}),
    });
    const t = setTimeout(() => { s.destroy(); reject(unreachable()); }, timeoutMs);
    s.once('connect', () => {
      if (!checkSocket(s, url, guard)) { clearTimeout(t); s.destroy(); reject(unreachable(new EgressRefused())); }
    });
    s.once('secureConnect', () => {
      clearTimeout(t);
      const peer = s.getPeerCertificate();
      if (!peer?.raw || !Buffer.from(peer.raw).equals(pinnedDer)) {
        s.destroy();
        reject(new AttemptError('ERR_CALLBACK_PIN', 'handler certificate does not match the pinned one'));
        return;
      }
      resolve(s);
    });
    s.once('error', (e) => { clearTimeout(t); reject(unreachable(e)); });
  });
}

/**
 * The POST in an HTTP CLIENT span (OpenTelemetry HTTP conventions: method, server address and
 * port, scheme, response status; not the URL's path or query, which an operator may have put a
 * credential in), whose context the handler receives as `traceparent`.
 */
function post(url: URL, body: string, contentType: string, timeoutMs: number, pinnedDer: Buffer | undefined, userAgent: string, guard: EgressGuard | undefined): Promise<{ status: number; text: string }> {
  return withSpan('POST', async (span) => {
    const r = await postOnce(url, body, contentType, timeoutMs, pinnedDer, userAgent, guard, traceparentOf());
    span.setAttribute('http.response.status_code', r.status);
    return r;
  }, {
    kind: SpanKind.CLIENT,
    attributes: {
      'http.request.method': 'POST', 'url.scheme': url.protocol.replace(':', ''), 'server.address': url.hostname,
      'server.port': Number(portOf(url)),
    },
  });
}

async function postOnce(url: URL, body: string, contentType: string, timeoutMs: number, pinnedDer: Buffer | undefined, userAgent: string, guard: EgressGuard | undefined, traceparent: string): Promise<{ status: number; text: string }> {
  const started = Date.now();
  const socket = pinnedDer ? await pinnedSocket(url, pinnedDer, timeoutMs, guard) : undefined;
  const remaining = Math.max(1, timeoutMs - (Date.now() - started));
  if (!socket) {
    try {
      checkLiteral(url, guard);
    } catch (e) {
      throw unreachable(e);
    }
  }
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, {
      method: 'POST',
      headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body), accept: '*/*', 'user-agent': userAgent, ...(traceparent ? { traceparent } : {}) },
      // With no agent and a createConnection, the request uses our already verified socket.
      ...(socket ? { createConnection: () => socket } : { agent: url.protocol === 'https:' ? httpsAgent : httpAgent }),
      // Every name is resolved through the guard: the address checked is the address dialled.
      ...(guard && !socket ? { lookup: guard.lookupFor(portOf(url)) } : {}),
    }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_REPLY_BYTES) {
          req.destroy(new AttemptError('ERR_CALLBACK_REPLY', 'reply too large'));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => { clearTimeout(timer); resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }); });
      res.on('error', (e) => { clearTimeout(timer); reject(e instanceof AttemptError ? e : unreachable(e)); });
    });
    req.on('socket', (s: net.Socket) => {
      const verify = () => { if (!checkSocket(s, url, guard)) req.destroy(new EgressRefused()); };
      if (s.connecting) s.once('connect', verify);
      else verify();
    });
    const timer = setTimeout(() => req.destroy(unreachable()), remaining);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e instanceof AttemptError && e.code !== 'ERR_CALLBACK_UNREACHABLE' ? e : unreachable(e));
    });
    req.end(body);
  });
}

function parseReply(claims: unknown, requestId: string, kind: 'JWT' | 'TLS'): { action: CallbackAction; rejectionReason: string } {
  if (!claims || typeof claims !== 'object' || Array.isArray(claims)) throw new AttemptError('ERR_CALLBACK_REPLY', `${kind} reply is not an object`);
  const c = claims as Record<string, unknown>;
  if (c.requestId !== requestId) throw new AttemptError('ERR_CALLBACK_REQUEST_ID', 'reply names another requestId');
  if (typeof c.action !== 'string' || !(CALLBACK_ACTIONS as readonly string[]).includes(c.action)) throw new AttemptError('ERR_CALLBACK_ACTION', 'reply has an unknown action');
  const rr = c.rejectionReason;
  return { action: c.action as CallbackAction, rejectionReason: typeof rr === 'string' ? rr.slice(0, 1024) : '' };
}

/**
 * One attempt: POST and verify. Throws AttemptError for every way it can fail (non-200,
 * connection, timeout, bad signature, wrong requestId, unknown action).
 */
export async function askOnce(cb: PreparedCallback, path: string, payload: CallbackPayload, signingKey: KeyObject, timeoutMs: number, signedRequest?: string, userAgent = USER_AGENT, guard?: EgressGuard): Promise<CallbackReply> {
  const url = endpoint(cb.baseUrl, path);
  if (cb.mode === 'TLS') {
    const res = await post(url, JSON.stringify(payload), 'application/json', timeoutMs, cb.pinnedDer, userAgent, guard);
    if (res.status !== 200) throw new AttemptError('ERR_CALLBACK_STATUS', 'handler did not answer HTTP 200', { cause: new Error(`HTTP ${res.status}`) });
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.text.trim());
    } catch {
      throw new AttemptError('ERR_CALLBACK_REPLY', 'reply is not JSON');
    }
    return { ...parseReply(parsed, payload.requestId, 'TLS'), raw: res.text.trim(), status: res.status };
  }
  const jwt = signedRequest ?? (await signRequest(payload, signingKey));
  const res = await post(url, jwt, 'text/plain', timeoutMs, undefined, userAgent, guard);
  if (res.status !== 200) throw new AttemptError('ERR_CALLBACK_STATUS', 'handler did not answer HTTP 200', { cause: new Error(`HTTP ${res.status}`) });
  const raw = res.text.trim();
  const claims = verifyRs256(raw, cb.handlerKey!);
  return { ...parseReply(claims, payload.requestId, 'JWT'), raw, status: res.status };
}

/** The request JWT: `{"typ":"JWT","alg":"RS256"}`, the payload as claims, no `iat` (a RETRY is identical). */
export async function signRequest(payload: CallbackPayload, signingKey: KeyObject): Promise<string> {
  // node:crypto directly (RFC 7515 §7.1 compact serialization, RFC 7518 §3.3 RS256): jose's
  // WebCrypto path cost several times more CPU per request on the hot path.
  const input = `${b64url(JSON.stringify(RS256_HEADER))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${cryptoSign('sha256', Buffer.from(input), signingKey).toString('base64url')}`;
}

const RS256_HEADER = { typ: 'JWT', alg: 'RS256' };
const b64url = (s: string): string => Buffer.from(s, 'utf8').toString('base64url');
const B64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Verifies a compact JWS signed RS256 (RFC 7515 §5.2): the header must name RS256 (no `crit`,
 * nothing else accepted), the signature must verify with the handler key; returns the claims.
 */
export function verifyRs256(jws: string, key: KeyObject): unknown {
  const bad = (why: string, cause?: unknown) => new AttemptError('ERR_CALLBACK_SIGNATURE', `reply signature does not verify with the handler key (${why})`, cause === undefined ? undefined : { cause });
  const parts = jws.split('.');
  if (parts.length !== 3 || !parts.every((p) => B64URL.test(p)) || parts[2] === '') throw bad('not a compact JWS');
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw bad('header is not JSON', e);
  }
  if (!header || header.alg !== 'RS256' || header.crit !== undefined || header.b64 !== undefined) throw bad('algorithm must be RS256');
  const ok = cryptoVerify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), key, Buffer.from(parts[2]!, 'base64url'));
  if (!ok) throw bad('signature mismatch');
  try {
    return JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  } catch (e) {
    throw bad('payload is not JSON', e);
  }
}
