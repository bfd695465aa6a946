/**
 * `cosigner workspace transfer` and the shared wait logic for workspace-originated requests: the
 * workspace simulator's CreateTransfer builds the EIP-1559 transaction and submits it to intake;
 * with --wait we follow the workspace's record until it is terminal (or --timeout-s passes).
 */
import { parseEther } from 'viem';
import { WorkspaceServiceClient, type Transaction } from '@cosigner/proto';
import { CliError, int, str, type Command, type CommandIO } from '../command.ts';
import { loadCliConfig } from '../config.ts';
import { makeClient, unary } from '../grpc.ts';

export const DEFAULT_WAIT_TIMEOUT_S = 120;
const POLL_MS = 250;

/** Terminal for the requester: a transfer ends SIGNED (APPROVED is a step on the way), a config change APPROVED. */
export function isDone(t: Pick<Transaction, 'kind' | 'status'>): boolean {
  if (t.status === 'APPROVED') return t.kind === 'CONFIG_CHANGE';
  return ['SIGNED', 'REJECTED', 'IGNORED', 'FAILED'].includes(t.status);
}

export function isSuccess(t: Pick<Transaction, 'kind' | 'status'>): boolean {
  return t.status === 'SIGNED' || t.status === 'IGNORED' || (t.status === 'APPROVED' && t.kind === 'CONFIG_CHANGE');
}

export function txDoc(t: Transaction): Record<string, unknown> {
  const doc: Record<string, unknown> = { requestId: t.requestId, status: t.status, reason: t.reason, traceId: t.traceId };
  if (t.signedTx) doc.signedTx = t.signedTx;
  if (t.from) doc.from = t.from;
  return doc;
}

function human(t: Transaction): string {
  return [`request ${t.requestId}: ${t.status}${t.reason ? ` (${t.reason})` : ''}`, ...(t.signedTx ? [`from ${t.from}`, `signed ${t.signedTx}`] : [])].join('\n');
}

/** Runs `create` against the workspace, then optionally waits; prints the result; returns the exit code. */
export async function originate(io: CommandIO, create: (c: WorkspaceServiceClient, token: string) => Promise<Transaction>): Promise<number> {
  const cfg = loadCliConfig();
  const c = makeClient(WorkspaceServiceClient, cfg.workspaceUrl);
  try {
    let t = await create(c, cfg.adminToken);
    if (io.values.wait === true) {
      const deadline = Date.now() + int(io, 'timeout-s', DEFAULT_WAIT_TIMEOUT_S) * 1000;
      let interrupted = false;
      void io.interrupted.then(() => { interrupted = true; });
      while (!isDone(t) && Date.now() < deadline && !interrupted) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        t = await unary<object, Transaction>(c, 'getTransaction', { requestId: t.requestId }, { token: cfg.adminToken });
      }
      io.result(txDoc(t), human(t));
      if (!isDone(t)) {
        io.info(`still ${t.status} after the timeout`);
        return 3;
      }
      return isSuccess(t) ? 0 : 1;
    }
    io.result(txDoc(t), human(t));
    return 0;
  } finally {
    c.close();
  }
}

function parsePath(s: string | undefined): number[] {
  if (s === undefined) return [];
  if (!/^\d+(\/\d+)*$/.test(s)) throw new CliError('ERR_USAGE', '--path must look like 44/60/0/0/0', 2);
  return s.split('/').map(Number);
}

const transfer: Command = {
  name: ['workspace', 'transfer'],
  summary: 'Originate an ETH transfer in the workspace (EIP-1559, signed by the co-signer after the callback approves)',
  usage: '--api-user ID --key ID [--path 44/60/0/0/0] --to ADDRESS --amount-eth 0.01 [--chain-id N] [--nonce N] [--note TEXT] [--request-id ID] [--wait] [--timeout-s 120] [--json]',
  options: {
    'api-user': { type: 'string' }, key: { type: 'string' }, path: { type: 'string' }, to: { type: 'string' }, 'amount-eth': { type: 'string' },
    'chain-id': { type: 'string' }, nonce: { type: 'string' }, note: { type: 'string' }, 'request-id': { type: 'string' },
    wait: { type: 'boolean' }, 'timeout-s': { type: 'string' },
  },
  async run(io) {
    const apiUserId = str(io, 'api-user', true);
    const keyId = str(io, 'key', true);
    const to = str(io, 'to', true);
    const amount = str(io, 'amount-eth', true);
    let amountWei: bigint;
    try {
      amountWei = parseEther(amount);
    } catch {
      throw new CliError('ERR_USAGE', '--amount-eth must be a decimal amount of ETH', 2);
    }
    if (amountWei <= 0n) throw new CliError('ERR_USAGE', '--amount-eth must be positive', 2);
    return originate(io, (c, token) => unary<object, Transaction>(c, 'createTransfer', {
      apiUserId, keyId, path: parsePath(str(io, 'path')), to, amountWei: amountWei.toString(),
      chainId: int(io, 'chain-id', 0), nonce: int(io, 'nonce', 0), note: str(io, 'note') ?? '', externalTxId: '', expiresInS: 0,
      requestId: str(io, 'request-id') ?? '', algorithm: 'ECDSA_SECP256K1',
    }, { token }));
  },
};

export default transfer;
