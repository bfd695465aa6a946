/**
 * The callback payloads, field for field as callback-protocol.md ("Transaction sign request
 * payload", "Config change request payload") and the handlers written for the public product
 * expect them. Built only from the request bytes, so a RETRY re-sends the identical payload.
 */
import { getAddress, isAddress } from 'viem';
import { ConfigChangeRequest, TransactionSignRequest, type RequestKind } from '@cosigner/proto';

export type CallbackPayload = Record<string, unknown> & { requestId: string };

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function num(s: string): number {
  const n = Number(s);
  return Number.isFinite(n) ? n : 0;
}

/**
 * Decimals of the assets whose amount format we know. The public product sends `amountStr` and
 * `fee` with exactly the asset's decimals (its ETH example: "0.010000000000000000", fee
 * "0.000597803762241000") and `requestedAmountStr` as requested ("0.01").
 */
export const ASSET_DECIMALS: Readonly<Record<string, number>> = { ETH: 18 };

/**
 * A decimal amount string (intake admits only `^(0|[1-9]\d*)(\.\d+)?$` with at most 18
 * decimals) written with exactly `decimals` decimals; unchanged when the asset's decimals are not
 * known or the string has more decimals than that (never rounded).
 */
export function fixedDecimals(amount: string, decimals: number | undefined): string {
  if (decimals === undefined || !/^\d+(\.\d+)?$/.test(amount)) return amount;
  const [int, frac = ''] = amount.split('.');
  if (frac.length > decimals) return amount;
  return decimals === 0 ? int! : `${int}.${frac.padEnd(decimals, '0')}`;
}

/**
 * `destType` / `dstType` take only the values the public product's callback documentation lists:
 * VAULT, EXCHANGE, UNMANAGED. A one-time address (ours: ONE_TIME_ADDRESS) is a destination the
 * workspace does not manage, so it is UNMANAGED there (its `destAddressType` stays ONE_TIME); the
 * API's peer-type names map to their short forms; anything else is UNMANAGED.
 */
export function callbackDestType(t: string): string {
  switch (t.toUpperCase()) {
    case 'VAULT': case 'VAULT_ACCOUNT': return 'VAULT';
    case 'EXCHANGE': case 'EXCHANGE_ACCOUNT': return 'EXCHANGE';
    default: return t === '' ? '' : 'UNMANAGED';
  }
}

/** ETH addresses as the public product sends them: EIP-55 mixed-case checksum. Others unchanged. */
export function displayAddress(asset: string, address: string): string {
  if (asset.toUpperCase() === 'ETH' && isAddress(address, { strict: false })) return getAddress(address);
  return address;
}

export function transactionPayload(r: TransactionSignRequest): CallbackPayload {
  const d = r.details;
  const amount = d?.amount ?? '';
  const requested = d?.requestedAmount || amount;
  const decimals = ASSET_DECIMALS[(d?.asset ?? '').toUpperCase()];
  return {
    txId: d?.txId || r.requestId,
    requestId: r.requestId,
    operation: d?.operation ?? '',
    sourceType: d?.sourceType ?? '',
    sourceId: d?.sourceId ?? '',
    destType: callbackDestType(d?.destType ?? ''),
    destId: d?.destId ?? '',
    asset: d?.asset ?? '',
    amount: num(amount),
    amountStr: fixedDecimals(amount, decimals),
    requestedAmount: num(requested),
    requestedAmountStr: requested,
    fee: fixedDecimals(d?.fee ?? '', decimals),
    destAddressType: d?.destAddressType ?? '',
    destAddress: displayAddress(d?.asset ?? '', d?.destAddress ?? ''),
    destinations: (d?.destinations ?? []).map((x) => ({
      amountNative: num(x.amountNative),
      amountNativeStr: x.amountNative,
      amountUSD: num(x.amountUsd),
      dstAddressType: x.dstAddressType,
      dstId: x.dstId,
      dstWalletId: x.dstWalletId,
      dstName: x.dstName,
      dstSubType: x.dstSubType,
      dstType: callbackDestType(x.dstType),
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
