/**
 * The callback payloads, field for field as callback-protocol.md ("Transaction sign request
 * payload", "Config change request payload") and the handlers written for the public product
 * expect them. Built only from the request bytes, so a RETRY re-sends the identical payload.
 */
import { ConfigChangeRequest, TransactionSignRequest, type RequestKind } from '@cosigner/proto';

export type CallbackPayload = Record<string, unknown> & { requestId: string };

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function num(s: string): number {
  const n = Number(s);
  return Number.isFinite(n) ? n : 0;
}

export function transactionPayload(r: TransactionSignRequest): CallbackPayload {
  const d = r.details;
  const amount = d?.amount ?? '';
  const requested = d?.requestedAmount || amount;
  return {
    txId: d?.txId || r.requestId,
    requestId: r.requestId,
    operation: d?.operation ?? '',
    sourceType: d?.sourceType ?? '',
    sourceId: d?.sourceId ?? '',
    destType: d?.destType ?? '',
    destId: d?.destId ?? '',
    asset: d?.asset ?? '',
    amount: num(amount),
    amountStr: amount,
    requestedAmount: num(requested),
    requestedAmountStr: requested,
    fee: d?.fee ?? '',
    destAddressType: d?.destAddressType ?? '',
    destAddress: d?.destAddress ?? '',
    destinations: (d?.destinations ?? []).map((x) => ({
      amountNative: num(x.amountNative),
      amountNativeStr: x.amountNative,
      amountUSD: num(x.amountUsd),
      dstAddressType: x.dstAddressType,
      dstId: x.dstId,
      dstWalletId: x.dstWalletId,
      dstName: x.dstName,
      dstSubType: x.dstSubType,
      dstType: x.dstType,
      displayDstAddress: x.displayDstAddress,
      action: x.action,
      actionInfo: { capturedRuleNum: 0, rulesSnapshotId: 0, byGlobalPolicy: false, byRule: true },
    })),
    rawTx: r.entries.map((e) => ({
      keyDerivationPath: `[ ${e.path.join(', ')} ]`,
      rawTx: hex(e.rawTx),
      payload: hex(e.payload),
    })),
    players: [...r.players],
    signerId: r.apiUserId,
    note: d?.note ?? '',
    externalTxId: d?.externalTxId ?? '',
    extraParameters: { ...(d?.extraParameters ?? {}) },
  };
}

export function configChangePayload(r: ConfigChangeRequest): CallbackPayload {
  let extraInfo: unknown = {};
  try {
    extraInfo = JSON.parse(r.extraInfoJson || '{}');
  } catch {
    extraInfo = {};
  }
  return { requestId: r.requestId, type: r.type, extraInfo };
}

export interface DecodedRequest {
  kind: RequestKind;
  payload: CallbackPayload;
  /** The digests to sign, in entry order (empty for a config change). */
  digests: Buffer[];
  /** `/v2/tx_sign_request` or `/v2/config_change_sign_request`. */
  path: string;
}

export function decodeRequest(kind: RequestKind, bytes: Uint8Array): DecodedRequest {
  if (kind === 'CONFIG_CHANGE') {
    return { kind, payload: configChangePayload(ConfigChangeRequest.decode(bytes)), digests: [], path: '/v2/config_change_sign_request' };
  }
  const r = TransactionSignRequest.decode(bytes);
  return { kind, payload: transactionPayload(r), digests: r.entries.map((e) => Buffer.from(e.payload)), path: '/v2/tx_sign_request' };
}
