/**
 * Building an ETH transfer the way a custody platform does: a real unsigned EIP-1559 transaction
 * (EIP-2718 type 2: `0x02 || rlp([chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gas, to,
 * value, data, accessList])`), its keccak256 digest (what the MPC parties sign), the callback
 * payload's business fields, and, once signed, the assembled transaction and its sender.
 */
import {
  formatEther, getAddress, isAddress, keccak256, parseTransaction, recoverTransactionAddress, serializeTransaction,
  type Hex, type TransactionSerializableEIP1559,
} from 'viem';
import { TransactionSignRequest, type Algorithm, type EntrySignature, type TransactionDetails } from '@cosigner/proto';
import { invalid } from './errors.ts';

export const DEFAULT_CHAIN_ID = 11155111; // Sepolia
export const DEFAULT_PATH = [44, 60, 0, 0, 0];
/** A plain ETH transfer costs exactly 21000 gas (Yellow Paper G_transaction). */
export const TRANSFER_GAS = 21_000n;
export const DEFAULT_MAX_FEE_PER_GAS = 30_000_000_000n; // 30 gwei
export const DEFAULT_MAX_PRIORITY_FEE_PER_GAS = 1_500_000_000n; // 1.5 gwei
/** Party ids of the signing set, as the callback payload's `players`. */
export const PLAYERS = ['customer', 'cloud-1', 'cloud-2'];

export interface TransferInput {
  requestId: string;
  workspaceId: string;
  apiUserId: string;
  keyId: string;
  path: number[];
  to: string;
  amountWei: bigint;
  chainId: number;
  nonce: number;
  note: string;
  externalTxId: string;
  expiresAtMs: number;
  /** ECDSA_SECP256K1 (default): an ETH transfer; another: a RAW request signing the same digest. */
  algorithm?: Algorithm;
}

export interface BuiltTransfer {
  tx: TransactionSerializableEIP1559;
  rawTx: Hex;
  digest: Hex;
  request: TransactionSignRequest;
  bytes: Uint8Array;
}

const hexBytes = (h: Hex): Uint8Array => Buffer.from(h.slice(2), 'hex');

export function parseTransferFields(to: string, amountWei: string): { to: `0x${string}`; value: bigint } {
  if (!isAddress(to, { strict: false })) throw invalid(`"to" is not an Ethereum address`, 'ERR_INVALID_ADDRESS');
  if (!/^\d{1,78}$/.test(amountWei)) throw invalid('amount_wei must be a decimal string', 'ERR_INVALID_AMOUNT');
  const value = BigInt(amountWei);
  if (value <= 0n) throw invalid('amount_wei must be positive', 'ERR_INVALID_AMOUNT');
  return { to: getAddress(to), value };
}

export function unsignedTransfer(i: { to: `0x${string}`; value: bigint; chainId: number; nonce: number }): TransactionSerializableEIP1559 {
  return {
    type: 'eip1559',
    chainId: i.chainId,
    nonce: i.nonce,
    to: i.to,
    value: i.value,
    gas: TRANSFER_GAS,
    maxFeePerGas: DEFAULT_MAX_FEE_PER_GAS,
    maxPriorityFeePerGas: DEFAULT_MAX_PRIORITY_FEE_PER_GAS,
  };
}

/** The whole TransactionSignRequest for a transfer, and its exact bytes (what the JWT binds). */
export function buildTransfer(i: TransferInput): BuiltTransfer {
  const { to, value } = parseTransferFields(i.to, i.amountWei.toString());
  const tx = unsignedTransfer({ to, value, chainId: i.chainId, nonce: i.nonce });
  const rawTx = serializeTransaction(tx);
  const digest = keccak256(rawTx);
  const amount = formatEther(value);
  const raw = i.algorithm !== undefined && i.algorithm !== 'ALGORITHM_UNSPECIFIED' && i.algorithm !== 'ECDSA_SECP256K1';
  const details: TransactionDetails = {
    txId: i.requestId,
    operation: raw ? 'RAW' : 'TRANSFER',
    sourceType: 'VAULT',
    sourceId: '0',
    destType: 'ONE_TIME_ADDRESS',
    destId: '',
    // A RAW request names no chain asset: handlers check ETH transactions by their raw bytes, which it has not.
    asset: raw ? 'RAW' : 'ETH',
    amount,
    requestedAmount: amount,
    fee: formatEther(TRANSFER_GAS * DEFAULT_MAX_FEE_PER_GAS),
    destAddressType: 'ONE_TIME',
    destAddress: to.toLowerCase(),
    destinations: [{
      amountNative: amount,
      amountUsd: '0',
      dstAddressType: 'ONE_TIME',
      dstId: '',
      dstWalletId: '',
      dstName: '',
      dstSubType: '',
      dstType: 'ONE_TIME_ADDRESS',
      displayDstAddress: to,
      action: 'ALLOW',
    }],
    note: i.note,
    externalTxId: i.externalTxId,
    extraParameters: {},
    chainId: i.chainId,
  };
  const request: TransactionSignRequest = {
    requestId: i.requestId,
    workspaceId: i.workspaceId,
    apiUserId: i.apiUserId,
    expiresAtMs: i.expiresAtMs,
    details,
    entries: [{
      keyId: i.keyId,
      path: i.path,
      algorithm: raw ? i.algorithm! : 'ECDSA_SECP256K1',
      // A RAW entry carries no transaction (request.proto PayloadEntry): only what is signed.
      rawTx: raw ? Buffer.alloc(0) : Buffer.from(hexBytes(rawTx)),
      payload: Buffer.from(hexBytes(digest)),
    }],
    players: [...PLAYERS],
  };
  return { tx, rawTx, digest, request, bytes: encodeSignRequest(request) };
}

export function encodeSignRequest(r: TransactionSignRequest): Uint8Array {
  return TransactionSignRequest.encode(r).finish();
}

/**
 * The signed transaction from the unsigned one and an MPC signature (r, s, recovery id as
 * yParity, EIP-1559), and the sender address recovered from it.
 */
export async function assembleSigned(rawTx: Hex, sig: Pick<EntrySignature, 'r' | 's' | 'recoveryId'>): Promise<{ signedTx: Hex; from: string }> {
  const tx = parseTransaction(rawTx) as TransactionSerializableEIP1559;
  if (sig.r.length !== 32 || sig.s.length !== 32 || sig.recoveryId > 1) throw new Error('malformed signature');
  const signedTx = serializeTransaction(tx, {
    r: `0x${Buffer.from(sig.r).toString('hex')}`,
    s: `0x${Buffer.from(sig.s).toString('hex')}`,
    yParity: sig.recoveryId,
  });
  const from = await recoverTransactionAddress({ serializedTransaction: signedTx as Parameters<typeof recoverTransactionAddress>[0]['serializedTransaction'] });
  return { signedTx, from };
}
