/**
 * The demo transfer: a workspace, an API user paired with this co-signer, a secp256k1 key made
 * by DKG among the three parties, and a real EIP-1559 transfer approved and signed end to end.
 * Every step goes through the public gRPC contracts, as an operator's scripts would.
 */
import {
  KeyServiceClient,
  PairingServiceClient,
  WorkspaceServiceClient,
  type ApiUser,
  type GetPublicKeyResponse,
  type KeyInfo,
  type PairingToken,
  type Transaction,
  type Workspace,
  type WorkspaceApiUser,
} from '@cosigner/proto';
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
}

export async function runDemo(cfg: CliConfig, log: (line: string) => void, timeoutMs = 180_000): Promise<DemoResult> {
  const token = cfg.adminToken;
  const ws = makeClient(WorkspaceServiceClient, cfg.workspaceUrl);
  const pairing = makeClient(PairingServiceClient, cfg.pairingUrl);
  const keys = makeClient(KeyServiceClient, cfg.keysUrl);
  try {
    const workspace = await unary<object, Workspace>(ws, 'createWorkspace', { name: 'demo' }, { token });
    log(`demo: workspace ${workspace.workspaceId}`);
    const user = await unary<object, WorkspaceApiUser>(ws, 'createApiUser', { workspaceId: workspace.workspaceId, name: 'demo-api-user' }, { token });
    const pt = await unary<object, PairingToken>(ws, 'issuePairingToken', { apiUserId: user.apiUserId }, { token });
    const paired = await unary<object, ApiUser>(pairing, 'pair', { token: pt.token }, { token });
    log(`demo: API user ${paired.apiUserId} paired (${paired.state})`);
    const key = await unary<object, KeyInfo>(keys, 'createKey', { workspaceId: workspace.workspaceId, algorithm: 'ECDSA_SECP256K1', threshold: 0, keyId: '' }, { token, deadlineMs: 300_000 });
    log(`demo: key ${key.keyId} created by DKG among ${key.parties.join(', ')}`);
    const pub = await unary<object, GetPublicKeyResponse>(keys, 'getPublicKey', { keyId: key.keyId, path: DEMO_PATH }, { token });
    log(`demo: address ${pub.address} (path ${DEMO_PATH.join('/')})`);
    const tx = await unary<object, Transaction>(
      ws,
      'createTransfer',
      { apiUserId: paired.apiUserId, keyId: key.keyId, path: DEMO_PATH, to: DEMO_DESTINATION, amountWei: (10n ** 16n).toString(), chainId: 0, nonce: 0, note: 'cosigner demo', externalTxId: '', expiresInS: 600, requestId: '' },
      { token },
    );
    log(`demo: transfer ${tx.requestId} submitted (0.01 ETH to ${DEMO_DESTINATION})`);
    const until = Date.now() + timeoutMs;
    let cur = tx;
    while (!TERMINAL.has(cur.status)) {
      if (Date.now() > until) throw new Error(`demo: transfer still ${cur.status} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
      cur = await unary<object, Transaction>(ws, 'getTransaction', { requestId: tx.requestId }, { token });
    }
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
    };
  } finally {
    ws.close();
    pairing.close();
    keys.close();
  }
}
