/**
 * An example callback handler, written the way a handler author would: plain node:http(s) and
 * jose. It
 *  1. verifies the co-signer's RS256 JWT with the co-signer's public key (`cosigner
 *     print-public-key`),
 *  2. for ETH, recomputes keccak256 of every raw transaction and compares it with the payload it
 *     is asked to approve (and checks the transaction's destination and amount against the
 *     business fields it shows),
 *  3. applies the rules of its config file (allow-listed destinations, per-asset amount limits,
 *     which config changes to approve or ignore),
 *  4. answers with a JWT signed by its own RSA-2048 key, labelled text/html (as handlers built on
 *     common frameworks do; the co-signer reads the body as text whatever its type).
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as jose from 'jose';
import { keccak256, parseEther, parseTransaction, type Hex } from 'viem';

export interface HandlerRules {
  /** Destination addresses allowed (any case); empty or absent: any destination. */
  allowedDestinations?: string[];
  /** Maximum amount per asset in whole units, as decimal strings: {"ETH": "1.5"}. */
  maxAmount?: Record<string, string>;
  /** Config change types to approve; others are rejected unless listed in `ignoreConfigChanges`. */
  approveConfigChanges?: string[];
  ignoreConfigChanges?: string[];
  /**
   * Answer RETRY the first time a transaction's request id is seen, and decide by the rules above
   * when the co-signer asks again (shows the co-signer's bounded re-ask; used by tests and chaos).
   */
  retryFirst?: boolean;
}

export interface HandlerConfig {
  port: number;
  host?: string;
  /** PEM of the co-signer's callback public key. */
  cosignerPublicKeyFile: string;
  /** PKCS#8 PEM of this handler's RSA-2048 private key. */
  privateKeyFile: string;
  /** Serve HTTPS with this certificate (TLS-pinning users pin it). */
  tls?: { certFile: string; keyFile: string };
  rules: HandlerRules;
  /** Artificial think time before answering (benchmarks: a slow handler). */
  delayMs?: number;
}

export interface Decision {
  action: 'APPROVE' | 'REJECT' | 'RETRY' | 'IGNORE';
  rejectionReason?: string;
}

type TxPayload = {
  requestId: string;
  asset?: string;
  amountStr?: string;
  destAddress?: string;
  destinations?: Array<{ displayDstAddress?: string; amountNativeStr?: string }>;
  rawTx?: Array<{ rawTx: string; payload: string }>;
};

function reject(reason: string): Decision {
  return { action: 'REJECT', rejectionReason: reason };
}

/** Amount comparison in the asset's smallest unit would need decimals per asset; 18 covers ETH. */
function toUnits(s: string): bigint {
  return parseEther(s);
}

export function decideTransaction(p: TxPayload, rules: HandlerRules): Decision {
  const asset = (p.asset ?? '').toUpperCase();
  const dests = [p.destAddress, ...(p.destinations ?? []).map((d) => d.displayDstAddress)].filter((a): a is string => !!a).map((a) => a.toLowerCase());
  if (asset === 'ETH') {
    for (const [i, e] of (p.rawTx ?? []).entries()) {
      const raw = `0x${e.rawTx}` as Hex;
      let digest: string;
      try {
        digest = keccak256(raw).slice(2);
      } catch {
        return reject(`rawTx ${i} is not hex`);
      }
      // Never approve a digest we did not compute ourselves from what we were shown.
      if (digest !== e.payload.toLowerCase()) return reject(`payload ${i} is not keccak256(rawTx)`);
      let tx;
      try {
        tx = parseTransaction(raw);
      } catch {
        return reject(`rawTx ${i} does not parse`);
      }
      if (!tx.to || !dests.every((d) => d === tx.to!.toLowerCase())) return reject(`rawTx ${i} pays another address than shown`);
      if (p.amountStr && tx.value !== toUnits(p.amountStr)) return reject(`rawTx ${i} moves another amount than shown`);
    }
    if ((p.rawTx ?? []).length === 0) return reject('no transaction to check');
  }
  const allowed = (rules.allowedDestinations ?? []).map((a) => a.toLowerCase());
  if (allowed.length > 0 && (dests.length === 0 || dests.some((d) => !allowed.includes(d)))) return reject('destination is not allow-listed');
  const limit = rules.maxAmount?.[asset];
  if (limit !== undefined) {
    try {
      if (toUnits(p.amountStr ?? '0') > toUnits(limit)) return reject(`amount exceeds the ${asset} limit of ${limit}`);
    } catch {
      return reject('amount is not a number');
    }
  }
  return { action: 'APPROVE' };
}

export function decideConfigChange(p: { type?: string }, rules: HandlerRules): Decision {
  const t = p.type ?? '';
  if ((rules.approveConfigChanges ?? []).includes(t)) return { action: 'APPROVE' };
  if ((rules.ignoreConfigChanges ?? []).includes(t)) return { action: 'IGNORE' };
  return reject(`config change ${t} is not allowed`);
}

export interface RunningHandler {
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface HandlerKeys {
  cosignerPublicKey: KeyObject;
  privateKey: KeyObject;
}

export function loadKeys(cfg: Pick<HandlerConfig, 'cosignerPublicKeyFile' | 'privateKeyFile'>): HandlerKeys {
  return {
    cosignerPublicKey: createPublicKey(readFileSync(cfg.cosignerPublicKeyFile, 'utf8')),
    privateKey: createPrivateKey(readFileSync(cfg.privateKeyFile, 'utf8')),
  };
}

const MAX_BODY = 1024 * 1024;

export async function startHandler(cfg: HandlerConfig, keys: HandlerKeys = loadKeys(cfg)): Promise<RunningHandler> {
  /** Request ids already answered RETRY once (`rules.retryFirst`). */
  const asked = new Set<string>();
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      void handle(req.url ?? '', Buffer.concat(chunks).toString('utf8')).then(
        ({ status, body }) => res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8' }).end(body),
        () => res.writeHead(500).end('internal error'),
      );
    });
  };

  const handle = async (url: string, body: string): Promise<{ status: number; body: string }> => {
    if (url !== '/v2/tx_sign_request' && url !== '/v2/config_change_sign_request') return { status: 404, body: 'not found' };
    let payload: jose.JWTPayload;
    try {
      payload = (await jose.jwtVerify(body.trim(), keys.cosignerPublicKey, { algorithms: ['RS256'] })).payload;
    } catch {
      return { status: 401, body: 'invalid token' };
    }
    const requestId = String(payload.requestId ?? '');
    if (cfg.delayMs) await new Promise((r) => setTimeout(r, cfg.delayMs));
    let d: Decision;
    if (url === '/v2/tx_sign_request' && cfg.rules.retryFirst === true && !asked.has(requestId)) {
      asked.add(requestId);
      d = { action: 'RETRY' };
    } else {
      d = url === '/v2/tx_sign_request' ? decideTransaction(payload as TxPayload, cfg.rules) : decideConfigChange(payload as { type?: string }, cfg.rules);
    }
    const reply = await new jose.SignJWT({ action: d.action, requestId, rejectionReason: d.rejectionReason ?? null })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
      .setIssuedAt()
      .sign(keys.privateKey);
    return { status: 200, body: reply };
  };

  const server = cfg.tls
    ? https.createServer({ cert: readFileSync(cfg.tls.certFile), key: readFileSync(cfg.tls.keyFile) }, onRequest)
    : http.createServer(onRequest);
  await new Promise<void>((r) => server.listen(cfg.port, cfg.host ?? '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${cfg.tls ? 'https' : 'http'}://${cfg.host ?? '127.0.0.1'}:${port}`,
    port,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
