/**
 * A scriptable callback handler for tests: a real HTTP server speaking the callback protocol
 * (verifies the co-signer's RS256 JWT, answers with its own RS256 JWT labelled text/html), whose
 * answer per request id is set by the test.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as jose from 'jose';

export interface Behaviour {
  action?: string;
  /** Echo another request id. */
  requestId?: string;
  rejectionReason?: string | null;
  delayMs?: number;
  status?: number;
  /** Sign the reply with a key the co-signer does not know. */
  badSignature?: boolean;
  /** Per ask: the n-th ask (0-based) uses `sequence[n]` (the last one repeats). */
  sequence?: Behaviour[];
}

export interface Seen {
  path: string;
  contentType: string;
  body: string;
  payload: Record<string, unknown>;
  at: number;
  userAgent: string;
}

export interface TestHandler {
  url: string;
  /** Resolves when request `id` has been asked `n` times. */
  asked(id: string, n: number, timeoutMs?: number): Promise<Seen[]>;
  publicKeyPem: string;
  seen: Map<string, Seen[]>;
  set(requestId: string, b: Behaviour): void;
  close(): Promise<void>;
}

export async function startTestHandler(cosignerPublicPem: string, o: { defaultDelayMs?: number } = {}): Promise<TestHandler> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rogue = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const cosignerKey = await jose.importSPKI(cosignerPublicPem, 'RS256');
  const behaviours = new Map<string, Behaviour>();
  const seen = new Map<string, Seen[]>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let payload: Record<string, unknown>;
        try {
          payload = (await jose.jwtVerify(body, cosignerKey, { algorithms: ['RS256'] })).payload as Record<string, unknown>;
        } catch {
          res.writeHead(401).end('bad jwt');
          return;
        }
        const id = String(payload.requestId);
        const list = seen.get(id) ?? [];
        list.push({ path: req.url ?? '', contentType: req.headers['content-type'] ?? '', body, payload, at: Date.now(), userAgent: req.headers['user-agent'] ?? '' });
        seen.set(id, list);
        let b = behaviours.get(id) ?? {};
        if (b.sequence) b = b.sequence[Math.min(list.length - 1, b.sequence.length - 1)] ?? {};
        const delay = b.delayMs ?? o.defaultDelayMs ?? 0;
        if (delay > 0) await new Promise((r) => setTimeout(r, delay).unref());
        if (b.status && b.status !== 200) {
          res.writeHead(b.status).end('nope');
          return;
        }
        const reply: Record<string, unknown> = { action: b.action ?? 'APPROVE', requestId: b.requestId ?? id, iat: Math.floor(Date.now() / 1000) };
        if (b.rejectionReason !== undefined) reply.rejectionReason = b.rejectionReason;
        const jws = await new jose.SignJWT(reply).setProtectedHeader({ alg: 'RS256', typ: 'JWT' }).sign((b.badSignature ? rogue : privateKey) as KeyObject);
        if (!res.destroyed) res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(`${jws}\n`);
      })().catch(() => { if (!res.headersSent) res.writeHead(500).end(); });
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    seen,
    set: (id, b) => { behaviours.set(id, b); },
    asked: async (id, n, timeoutMs = 20_000) => {
      const deadline = Date.now() + timeoutMs;
      while ((seen.get(id)?.length ?? 0) < n) {
        if (Date.now() > deadline) throw new Error(`request ${id} asked ${seen.get(id)?.length ?? 0} times, wanted ${n}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return seen.get(id)!;
    },
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
