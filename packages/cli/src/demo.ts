/**
 * The demo transfer: a workspace, an API user paired with this co-signer, the example callback
 * handler (examples/callback-handler, in this process, on loopback) approving for that API user, a
 * secp256k1 key made by DKG among the three parties, and a real EIP-1559 transfer approved by the
 * handler and signed end to end. Every step goes through the public gRPC contracts, as an
 * operator's scripts would; each step's duration is reported.
 */
import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import {
  KeyServiceClient,
  PairingServiceClient,
  WorkspaceServiceClient,
  type ApiUser,
  type CosignerInfo,
  type GetPublicKeyResponse,
  type KeyInfo,
  type PairingToken,
  type Transaction,
  type Workspace,
  type WorkspaceApiUser,
} from '@cosigner/proto';
import { startHandler, type RunningHandler } from '@cosigner/example-callback-handler';
import { makeClient, unary } from './grpc.ts';
import type { CliConfig } from './config.ts';

/** Where the demo sends 0.01 ETH (a burn address; the transaction is only signed, never broadcast). */
export const DEMO_DESTINATION = '0x000000000000000000000000000000000000dEaD';
export const DEMO_PATH = [44, 60, 0, 0, 0];
const TERMINAL = new Set(['SIGNED', 'REJECTED', 'IGNORED', 'FAILED']);

export interface DemoResult {
  workspaceId: string;
  apiUserId: string;
  keyId: string;
  address: string;
  requestId: string;
  status: string;
  reason: string;
  signedTx: string;
  from: string;
  traceId: string;
  /** The callback handler that approved (empty when the demo ran without one). */
  handlerUrl: string;
  /** Milliseconds per step, in order: workspace, apiUser, pairing, callback, key, transfer, signed, total. */
  timings: Record<string, number>;
}

export interface DemoOptions {
  /** How long to wait for the transfer to reach a terminal state. */
  timeoutMs?: number;
  /**
   * Run the example callback handler and point the API user at it (default true). Without it the
   * API user is approved automatically, which only works where pairing sets auto-approve.
   */
  handler?: boolean;
}

export async function runDemo(cfg: CliConfig, log: (line: string) => void, opts: DemoOptions | number = {}): Promise<DemoResult> {
  const o: DemoOptions = typeof opts === 'number' ? { timeoutMs: opts } : opts;
  const timeoutMs = o.timeoutMs ?? 180_000;
  const token = cfg.adminToken;
  const ws = makeClient(WorkspaceServiceClient, cfg.workspaceUrl);
  const pairing = makeClient(PairingServiceClient, cfg.pairingUrl);
  const keys = makeClient(KeyServiceClient, cfg.keysUrl);
  const timings: Record<string, number> = {};
  const t0 = performance.now();
  let last = t0;
  const step = (name: string): void => {
    const now = performance.now();
    timings[name] = Math.round(now - last);
    last = now;
  };
  let handler: RunningHandler | undefined;
  try {
    const workspace = await unary<object, Workspace>(ws, 'createWorkspace', { name: 'demo' }, { token });
    log(`demo: workspace ${workspace.workspaceId}`);
    step('workspace');
    const user = await unary<object, WorkspaceApiUser>(ws, 'createApiUser', { workspaceId: workspace.workspaceId, name: 'demo-api-user' }, { token });
    step('apiUser');
    const pt = await unary<object, PairingToken>(ws, 'issuePairingToken', { apiUserId: user.apiUserId }, { token });
    // With the example handler the handler decides; without it the demo pairs with auto-approve, explicitly.
    const paired = await unary<object, ApiUser>(pairing, 'pair', { token: pt.token, autoApprove: o.handler === false }, { token });
    log(`demo: API user ${paired.apiUserId} paired (${paired.state})`);
    step('pairing');
    if (o.handler !== false) {
      // The handler verifies the co-signer's JWTs with the co-signer's callback public key and
      // answers with its own RSA key, whose public half the co-signer pins for this API user.
      const info = await unary<object, CosignerInfo>(pairing, 'getCosignerInfo', {}, { token });
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      handler = await startHandler(
        { port: 0, host: '127.0.0.1', cosignerPublicKeyFile: '', privateKeyFile: '', rules: { allowedDestinations: [DEMO_DESTINATION], maxAmount: { ETH: '1' } } },
        { cosignerPublicKey: createPublicKey(info.callbackPublicKeyPem), privateKey },
      );
      const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
      await unary<object, ApiUser>(pairing, 'setCallback', { apiUserId: paired.apiUserId, url: handler.url, publicKeyPem }, { token });
      log(`demo: callback handler ${handler.url} approves for ${paired.apiUserId} (destination ${DEMO_DESTINATION}, at most 1 ETH)`);
    }
    step('callback');
    const key = await unary<object, KeyInfo>(keys, 'createKey', { workspaceId: workspace.workspaceId, algorithm: 'ECDSA_SECP256K1', threshold: 0, keyId: '' }, { token, deadlineMs: 300_000 });
    log(`demo: key ${key.keyId} created by DKG among ${key.parties.join(', ')}`);
    const pub = await unary<object, GetPublicKeyResponse>(keys, 'getPublicKey', { keyId: key.keyId, path: DEMO_PATH }, { token });
    log(`demo: address ${pub.address} (path ${DEMO_PATH.join('/')})`);
    step('key');
    const tx = await unary<object, Transaction>(
      ws,
      'createTransfer',
      { apiUserId: paired.apiUserId, keyId: key.keyId, path: DEMO_PATH, to: DEMO_DESTINATION, amountWei: (10n ** 16n).toString(), chainId: 0, nonce: 0, note: 'cosigner demo', externalTxId: '', expiresInS: 600, requestId: '', algorithm: 'ECDSA_SECP256K1' },
      { token },
    );
    log(`demo: transfer ${tx.requestId} submitted (0.01 ETH to ${DEMO_DESTINATION})`);
    step('transfer');
    const until = Date.now() + timeoutMs;
    let cur = tx;
    while (!TERMINAL.has(cur.status)) {
      if (Date.now() > until) throw new Error(`demo: transfer still ${cur.status} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
      cur = await unary<object, Transaction>(ws, 'getTransaction', { requestId: tx.requestId }, { token });
    }
    step('signed');
    timings.total = Math.round(performance.now() - t0);
    log(`demo: transfer ${cur.status}${cur.reason ? ` (${cur.reason})` : ''}`);
    if (cur.status === 'SIGNED' && cur.from.toLowerCase() !== pub.address.toLowerCase())
      throw new Error(`demo: signed by ${cur.from}, expected ${pub.address}`);
    return {
      workspaceId: workspace.workspaceId,
      apiUserId: paired.apiUserId,
      keyId: key.keyId,
      address: pub.address,
      requestId: cur.requestId,
      status: cur.status,
      reason: cur.reason,
      signedTx: cur.signedTx,
      from: cur.from,
      traceId: cur.traceId,
      handlerUrl: handler?.url ?? '',
      timings,
    };
  } finally {
    await handler?.close();
    ws.close();
    pairing.close();
    keys.close();
  }
}

/** The human rendering of a demo result (the `--json` document is the result itself). */
export function demoLines(res: DemoResult): string {
  return [
    `status    ${res.status}${res.reason ? ` (${res.reason})` : ''}`,
    `request   ${res.requestId}`,
    `from      ${res.from}`,
    `signedTx  ${res.signedTx}`,
    `trace     ${res.traceId}`,
    `timings   ${Object.entries(res.timings).map(([k, v]) => `${k} ${v} ms`).join(', ')}`,
  ].join('\n');
}
